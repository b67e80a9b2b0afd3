# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bounded, cycle-checked walks of kernel lists.

A list in a vmcore may be corrupt and a list in a live kernel may change under
the reader, so every walk here stops at a node seen before, at a NULL pointer
and after ``limit`` nodes, and says so with :class:`WalkError` (after yielding
what it could read).  Reading memory may also raise :class:`drgn.FaultError`;
callers turn both into warnings.
"""

import struct
from typing import Any, Callable, Iterator

from drgn import FaultError, Program, offsetof

from .structs import PAGE, byte_order, reader, running_pages, words

#: The most nodes a single list walk visits.
LIMIT = 10_000_000
#: Offset of ``prev`` in ``struct list_head``.
_PREV = 8
#: XA_ZERO_ENTRY (xa_mk_internal(257)).
_XA_ZERO_ENTRY = 257 << 2 | 2


class WalkError(Exception):
    """A list could not be walked to its end."""


def linked_records(prog: Program, head: int, first: int, node_off: int, lo: int, span: int, decode, next_at,
                   limit: int = LIMIT, on_fault: Callable[[int, Exception], None] | None = None,
                   end: int | None = None, what: str = "list") -> Iterator[tuple[int, Any]]:
    """
    The objects on a ``list_head`` list whose records carry their own link: each object is read once,
    ``decode(buf, offset)`` of its ``span`` bytes from offset ``lo``, and ``record[next_at]`` is the next
    node.  This is the walk of the 100,000 items of a list, of the pwqs of 2,000 workqueues and of
    every task, so during a capture (:func:`~wqinspect.kernel.structs.page_reads`) an object is
    decoded in place from its page, the page held while the list stays in it (the items of an array,
    the pwqs of a slab page); else, or across pages, it is read on its own.

    This is the one bounded, cycle-checked walk under every list reader here: it stops at a node seen
    before, at a NULL link and after ``limit`` nodes with :class:`WalkError`, after yielding what it
    read (``first``: ``head->next``, read by the caller, who also decides an empty or damaged head).
    A list of bare nodes is walked as records of one word, the next link.

    :param node_off: offset of the ``list_head`` node in the object
    :param on_fault: given, an object that cannot be read is passed to it with the fault, and the walk
        goes on through its link alone; else the fault ends the walk
    :param end: the link that ends the list: the head of a circular list (the default) or 0 (hlist)
    :param what: the kind of list, for the errors
    :return: (object address, its record)
    """
    pages = running_pages(prog)
    read = reader(prog)
    buf, at, fit = b"", 0, -1  # the page held, its address, and the last offset a record fits at in it
    seen: set[int] = set()
    add = seen.add
    node = first
    end = head if end is None else end
    while node != end:
        if node == 0 or node in seen or len(seen) >= limit:
            raise bad_node(node, seen, head, what, limit)
        add(node)
        obj = node - node_off
        a = obj + lo
        off = a - at
        if 0 <= off <= fit:
            fields = decode(buf, off)
        elif pages is not None and (off := a & (PAGE - 1)) <= PAGE - span and (page := pages.page(a - off)):
            buf, at, fit = page, a - off, PAGE - span
            fields = decode(buf, off)
        else:
            try:
                fields = decode(read(a, span), 0)
            except (FaultError, ValueError, OverflowError) as e:
                if on_fault is None:
                    raise
                on_fault(obj, e)
                node = prog.read_word(node)
                continue
        yield obj, fields
        node = fields[next_at]


def bad_node(node: int, seen: set, head: int, what: str, limit: int) -> WalkError:
    """Why a walk cannot go on to ``node`` (NULL, already seen, or past ``limit``): the error every list walk
    raises."""
    if node == 0:
        return WalkError(f"{what} at {head:#x} has a NULL next pointer")
    if node in seen:
        return WalkError(f"{what} at {head:#x} loops back to {node:#x}")
    return WalkError(f"{what} at {head:#x} has more than {limit} entries")


def _nodes(prog: Program, head: int, end: int, what: str, limit: int, first: int | None = None) -> Iterator[int]:
    """Follow first pointers from ``head`` until ``end``: the head itself (circular lists) or NULL."""
    if first is None:
        first = prog.read_word(head)
    unpack = _word(prog)
    return (node for node, _ in linked_records(prog, head, first, 0, 0, 8, unpack, 0, limit, end=end, what=what))


def _word(prog: Program):
    """``unpack(buf, offset)``: the native word at ``buf[offset:]``, as a 1-tuple (a bare node's record)."""
    try:
        return prog.cache["wqinspect_word"]
    except KeyError:
        u = prog.cache["wqinspect_word"] = struct.Struct(byte_order(prog) + "Q").unpack_from
        return u


def list_node_addresses(prog: Program, head: int, limit: int = LIMIT, first: int | None = None,
                        last: int | None = None) -> Iterator[int]:
    """
    Iterate over the nodes of a ``struct list_head`` list, head excluded.

    An empty list (``head->next == head``) is believed only when ``head->prev``
    agrees; otherwise the head is damaged and :class:`WalkError` says so.

    :param head: address of the ``struct list_head`` head
    :param first: ``head->next`` if the caller has read it already (and ``last``: ``head->prev``)
    :return: addresses of the ``struct list_head`` nodes
    """
    if first is None:
        first = prog.read_word(head)
    if first == head:
        if last is None:
            last = prog.read_word(head + _PREV)
        if last != head:
            raise WalkError(f"list at {head:#x} is damaged: its next pointer says empty, "
                            f"its prev pointer {last:#x} does not")
        return
    yield from _nodes(prog, head, head, "list", limit, first)


def hlist_node_addresses(prog: Program, head: int, limit: int = LIMIT, first: int | None = None) -> Iterator[int]:
    """
    Iterate over the nodes of a ``struct hlist_head`` list.

    :param head: address of the ``struct hlist_head``
    :param first: ``head->first`` if the caller has read it already
    :return: addresses of the ``struct hlist_node`` nodes
    """
    return _nodes(prog, head, 0, "hlist", limit, first)


def xarray_entries(prog: Program, xa: int, limit: int = 1 << 20) -> Iterator[tuple[int, int]]:
    """
    The entries of the ``struct xarray`` at ``xa`` (an IDR's ``idr_rt``), in index order:
    (index, entry), zero and retry entries skipped as drgn's ``xa_for_each()`` does.
    Bounded: a node seen twice (a cycle), a node with a shift out of range or
    more than ``limit`` entries end the walk with :class:`WalkError`.
    """
    node_t = prog.type("struct xa_node")
    shift_off = offsetof(node_t, "shift")
    slots_off = offsetof(node_t, "slots")
    nslots = node_t.member("slots").type.length
    chunk_shift = nslots.bit_length() - 1
    head = prog.read_word(xa + offsetof(prog.type("struct xarray"), "xa_head"))

    def is_node(e: int) -> bool:
        return e & 3 == 2 and e > 4096

    if not is_node(head):
        if head and head != _XA_ZERO_ENTRY and not (head & 3 == 2 and head < 4096):
            yield 0, head
        return
    seen: set[int] = set()
    count = 0

    def walk(node: int, index: int, parent_shift: int | None) -> Iterator[tuple[int, int]]:
        nonlocal count
        if node in seen:
            raise WalkError(f"xarray at {xa:#x}: node {node:#x} is reached twice")
        seen.add(node)
        shift = prog.read_u8(node + shift_off)
        if shift % chunk_shift or shift >= 64 or (parent_shift is not None and shift != parent_shift - chunk_shift):
            raise WalkError(f"xarray at {xa:#x}: node {node:#x} has an impossible shift {shift}")
        for i, e in enumerate(words(prog, node + slots_off, nslots)):
            if not e:
                continue
            at = index + (i << shift)
            if is_node(e):
                yield from walk(e - 2, at, shift)
            elif e & 3 == 2 and e < 4096:
                continue  # sibling, retry or zero entry
            else:
                count += 1
                if count > limit:
                    raise WalkError(f"xarray at {xa:#x} has more than {limit} entries")
                yield at, e

    yield from walk(head - 2, 0, None)
