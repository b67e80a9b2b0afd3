# SPDX-License-Identifier: LGPL-2.1-or-later
"""The list walkers stop at cycles, NULL links and their bound, after yielding what they read."""

import struct

import drgn
import pytest

from wqinspect.kernel.walk import WalkError, hlist_node_addresses, list_node_addresses

BASE = 0x10000


def program(words: dict[int, int]) -> drgn.Program:
    """A program whose memory is the given 8-byte words (address -> value), zero elsewhere."""
    size = 0x1000
    buf = bytearray(size)
    for addr, value in words.items():
        struct.pack_into("<Q", buf, addr - BASE, value)
    prog = drgn.Program(drgn.Platform(drgn.Architecture.X86_64, drgn.PlatformFlags.IS_64_BIT |
                                      drgn.PlatformFlags.IS_LITTLE_ENDIAN))
    prog.add_memory_segment(BASE, size, lambda address, count, offset, physical: bytes(buf[offset:offset + count]))
    return prog


def test_list_walk_returns_nodes_in_order():
    head, a, b = BASE, BASE + 0x100, BASE + 0x200
    prog = program({head: a, a: b, b: head})
    assert list(list_node_addresses(prog, head)) == [a, b]


def test_empty_list():
    prog = program({BASE: BASE})
    assert list(list_node_addresses(prog, BASE)) == []


def test_list_cycle_is_detected_after_the_nodes_before_it():
    head, a, b = BASE, BASE + 0x100, BASE + 0x200
    prog = program({head: a, a: b, b: a})  # b points back to a, never to the head
    got = []
    with pytest.raises(WalkError, match="loops back"):
        for n in list_node_addresses(prog, head):
            got.append(n)
    assert got == [a, b]


def test_list_null_link():
    head, a = BASE, BASE + 0x100
    prog = program({head: a, a: 0})
    with pytest.raises(WalkError, match="NULL"):
        list(list_node_addresses(prog, head))


def test_list_bound():
    head = BASE
    nodes = [BASE + 0x10 * i for i in range(1, 20)]
    words = {head: nodes[0], nodes[-1]: head}
    words.update({n: m for n, m in zip(nodes, nodes[1:])})
    prog = program(words)
    assert len(list(list_node_addresses(prog, head))) == 19
    with pytest.raises(WalkError, match="more than 5"):
        list(list_node_addresses(prog, head, limit=5))


def test_list_fault_propagates():
    prog = program({BASE: 0xdead0000})
    with pytest.raises(drgn.FaultError):
        list(list_node_addresses(prog, BASE))


def test_hlist_walk_and_cycle():
    head, a, b = BASE, BASE + 0x100, BASE + 0x200
    assert list(hlist_node_addresses(program({head: a, a: b, b: 0}), head)) == [a, b]
    with pytest.raises(WalkError, match="loops back"):
        list(hlist_node_addresses(program({head: a, a: b, b: a}), head))
