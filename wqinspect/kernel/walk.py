# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bounded, cycle-checked walks of kernel lists.

A list in a vmcore may be corrupt and a list in a live kernel may change under
the reader, so every walk here stops at a node seen before, at a NULL pointer
and after ``limit`` nodes, and says so with :class:`WalkError` (after yielding
what it could read).  Reading memory may also raise :class:`drgn.FaultError`;
callers turn both into warnings.
"""

from typing import Iterator

from drgn import Object, Program, cast, offsetof

#: The most nodes a single list walk visits.
LIMIT = 10_000_000


class WalkError(Exception):
    """A list could not be walked to its end."""


def _nodes(prog: Program, head: int, end: int, what: str, limit: int) -> Iterator[int]:
    """Follow first pointers from ``head`` until ``end``: the head itself (circular lists) or NULL."""
    read = prog.read_word
    seen = set()
    node = read(head)
    while node != end:
        if node == 0:
            raise WalkError(f"{what} at {head:#x} has a NULL next pointer")
        if node in seen:
            raise WalkError(f"{what} at {head:#x} loops back to {node:#x}")
        if len(seen) >= limit:
            raise WalkError(f"{what} at {head:#x} has more than {limit} entries")
        seen.add(node)
        yield node
        node = read(node)


def list_node_addresses(prog: Program, head: int, limit: int = LIMIT) -> Iterator[int]:
    """
    Iterate over the nodes of a ``struct list_head`` list, head excluded.

    :param head: address of the ``struct list_head`` head
    :return: addresses of the ``struct list_head`` nodes
    """
    return _nodes(prog, head, head, "list", limit)


def hlist_node_addresses(prog: Program, head: int, limit: int = LIMIT) -> Iterator[int]:
    """
    Iterate over the nodes of a ``struct hlist_head`` list.

    :param head: address of the ``struct hlist_head``
    :return: addresses of the ``struct hlist_node`` nodes
    """
    return _nodes(prog, head, 0, "hlist", limit)


def list_for_each_entry_bounded(type: str, head: Object, member: str, limit: int = LIMIT) -> Iterator[Object]:
    """
    Like drgn's ``list_for_each_entry()``, bounded and cycle-checked.

    :param type: entry type, e.g. ``"struct worker"``
    :param head: ``struct list_head *``
    :param member: name of the ``struct list_head`` member in ``type``
    :return: Iterator of ``type *`` objects
    """
    prog = head.prog_
    ptype = prog.pointer_type(prog.type(type))
    off = offsetof(ptype.type, member)
    for node in list_node_addresses(prog, head.value_(), limit):
        yield Object(prog, ptype, node - off)


def hlist_for_each_entry_bounded(type: str, head: Object, member: str, limit: int = LIMIT) -> Iterator[Object]:
    """
    Like drgn's ``hlist_for_each_entry()``, bounded and cycle-checked.

    :param head: ``struct hlist_head *``
    :return: Iterator of ``type *`` objects
    """
    prog = head.prog_
    ptype = prog.pointer_type(prog.type(type))
    off = offsetof(ptype.type, member)
    for node in hlist_node_addresses(prog, head.value_(), limit):
        yield Object(prog, ptype, node - off)


def container_of_address(prog: Program, address: int, type: str, member: str) -> Object:
    """``container_of()`` on a plain address: a ``type *`` object."""
    ptype = prog.pointer_type(prog.type(type))
    return cast(ptype, address - offsetof(ptype.type, member))
