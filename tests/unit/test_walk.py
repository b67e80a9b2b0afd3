# SPDX-License-Identifier: LGPL-2.1-or-later
"""The list walkers stop at cycles, NULL links and their bound, after yielding what they read."""

import struct

import drgn
import pytest

from wqinspect.kernel.structs import bits_set
from wqinspect.kernel.walk import WalkError, hlist_node_addresses, linked_records, list_node_addresses, xarray_entries
from wqinspect.kernel.work import work_offsets

BASE = 0x10000


def program(words: dict[int, int], reads: list | None = None) -> drgn.Program:
    """A program whose memory is the given 8-byte words (address -> value), zero elsewhere (``reads``: gets
    the (address, size) of each read of the memory)."""
    size = 0x1000
    buf = bytearray(size)
    for addr, value in words.items():
        struct.pack_into("<Q", buf, addr - BASE, value)
    prog = drgn.Program(drgn.Platform(drgn.Architecture.X86_64, drgn.PlatformFlags.IS_64_BIT |
                                      drgn.PlatformFlags.IS_LITTLE_ENDIAN))

    def read(address, count, offset, physical):
        if reads is not None:
            reads.append((address, count))
        return bytes(buf[offset:offset + count])

    prog.add_memory_segment(BASE, size, read)
    return prog


def test_list_walk_returns_nodes_in_order():
    head, a, b = BASE, BASE + 0x100, BASE + 0x200
    prog = program({head: a, a: b, b: head})
    assert list(list_node_addresses(prog, head)) == [a, b]


def test_empty_list():
    prog = program({BASE: BASE, BASE + 8: BASE})
    assert list(list_node_addresses(prog, BASE)) == []


def test_empty_list_is_believed_only_when_prev_agrees():
    """A head whose next points to itself but whose prev does not is damaged, not empty (issue 14.3)."""
    prog = program({BASE: BASE, BASE + 8: BASE + 0x100})
    with pytest.raises(WalkError, match="damaged"):
        list(list_node_addresses(prog, BASE))
    # ... also when the caller read the head's words in bulk already.
    with pytest.raises(WalkError, match="damaged"):
        list(list_node_addresses(prog, BASE, first=BASE, last=BASE + 0x100))
    assert list(list_node_addresses(prog, BASE, first=BASE, last=BASE)) == []


def _work_program(words: dict[int, int]) -> drgn.Program:
    prog = program(words)
    vp = prog.pointer_type(prog.void_type())
    entry_t = prog.struct_type("list_head", 16, [drgn.TypeMember(vp, "next", 0), drgn.TypeMember(vp, "prev", 64)])
    ulong = prog.int_type("unsigned long", 8, False)
    _types(prog, {"struct work_struct": prog.struct_type("work_struct", 32, [
        drgn.TypeMember(ulong, "data", 0), drgn.TypeMember(entry_t, "entry", 64), drgn.TypeMember(vp, "func", 192)])})
    return prog


def _work_items(prog, head):
    """(address, data, func) of the items on the work list at ``head``, as Reader.work_items() walks it."""
    o = work_offsets(prog)
    return [(a, data, func) for a, (data, _, func) in
            linked_records(prog, head, prog.read_word(head), o.entry, 0, o.size, o.unpack, 1)]


def test_work_list_reads_items_and_checks_the_head():
    head, a, b = BASE, BASE + 0x100, BASE + 0x200
    prog = _work_program({head: a + 8, head + 8: b + 8, a + 8: b + 8, a: 0x15, a + 24: 0xf1, b + 8: head, b: 0x25,
                          b + 24: 0xf2})
    assert _work_items(prog, head) == [(a, 0x15, 0xf1), (b, 0x25, 0xf2)]
    with pytest.raises(WalkError, match="damaged"):
        list(list_node_addresses(_work_program({head: head, head + 8: a + 8}), head))
    cycle = _work_program({head: a + 8, a + 8: b + 8, b + 8: a + 8})
    with pytest.raises(WalkError, match="loops back"):
        _work_items(cycle, head)


def _types(prog: drgn.Program, types: dict) -> None:
    def finder(prog, kinds, name, filename):
        return types.get(("struct " if drgn.TypeKind.STRUCT in kinds else "") + name)

    prog.register_type_finder("test", finder, enable_index=0)


def _xarray_program(words: dict[int, int]) -> drgn.Program:
    prog = program(words)
    u8 = prog.int_type("unsigned char", 1, False)
    vp = prog.pointer_type(prog.void_type())
    _types(prog, {
        "struct xa_node": prog.struct_type("xa_node", 0x28 + 64 * 8, [
            drgn.TypeMember(u8, "shift", 0), drgn.TypeMember(prog.array_type(vp, 64), "slots", 0x28 * 8)]),
        "struct xarray": prog.struct_type("xarray", 16, [drgn.TypeMember(vp, "xa_head", 64)]),
    })
    return prog


def test_xarray_walk_in_index_order():
    xa, root, leaf = BASE, BASE + 0x100, BASE + 0x400
    # root (shift 6): slot 0 -> leaf node (shift 0) with entries at 0 and 5; slot 1 -> an entry at index 64.
    prog = _xarray_program({xa + 8: root + 2, root: 6, root + 0x28: leaf + 2, root + 0x28 + 8: 0xa000,
                            leaf: 0, leaf + 0x28: 0xb000, leaf + 0x28 + 5 * 8: 0xc000})
    assert list(xarray_entries(prog, xa)) == [(0, 0xb000), (5, 0xc000), (64, 0xa000)]


def test_xarray_single_entry_and_empty():
    assert list(xarray_entries(_xarray_program({BASE + 8: 0xb000}), BASE)) == [(0, 0xb000)]
    assert list(xarray_entries(_xarray_program({}), BASE)) == []


def test_xarray_cycle_and_bad_shift_are_errors():
    """A damaged worker_pool_idr must not make the walk run forever (issue 14.3)."""
    xa, root = BASE, BASE + 0x100
    cycle = _xarray_program({xa + 8: root + 2, root: 6, root + 0x28: root + 2})
    with pytest.raises(WalkError):
        list(xarray_entries(cycle, xa))
    bad = _xarray_program({xa + 8: root + 2, root: 7})
    with pytest.raises(WalkError, match="shift"):
        list(xarray_entries(bad, xa))


def test_bits_set():
    assert bits_set([0b1011, 1], 128) == [0, 1, 3, 64]
    assert bits_set([0b1011, 1], 2) == [0, 1]


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


def test_linked_records_read_each_object_once_and_go_on_past_an_unreadable_one():
    """linked_records(): each object's record gives its next link; during a capture records are decoded in
    place from one read of their page; an object that cannot be read whole is passed to on_fault and its
    link alone goes on (without on_fault its fault ends the walk); a cycle ends it too."""
    from wqinspect.kernel.structs import page_reads
    from wqinspect.kernel.walk import linked_records

    head, a, b, c = BASE, BASE + 0x100, BASE + 0xff0, BASE + 0x200
    # a -> b, whose record runs past the readable memory (its link alone is readable) -> c -> head
    words = {head: a + 8, a: 1, a + 8: b + 8, a + 16: 2, b + 8: c + 8, c: 3, c + 8: head, c + 16: 4}
    reads = []
    prog = program(words, reads)
    rec = struct.Struct("<QQQ").unpack_from  # (a value, the next link, a value), the link at offset 8
    faults = []

    def walk(p=prog, **kw):
        return list(linked_records(p, head, a + 8, 8, 0, 24, rec, 1, **kw))

    plain = walk(on_fault=lambda obj, e: faults.append((obj, type(e))))
    assert plain == [(a, (1, b + 8, 2)), (c, (3, head, 4))]
    assert faults == [(b, drgn.FaultError)]
    assert (a, 24) in reads and (c, 24) in reads  # each object read alone, once
    reads.clear()
    with page_reads(prog) as pages:
        assert walk(on_fault=lambda obj, e: None) == plain
        assert list(pages.pages) == [BASE]
    # a and c from one read of their page; b, across the page's end, read alone (drgn reads the 16 bytes the
    # memory has, then faults), then its link
    assert [r for r in reads if r[1] > 8] == [(BASE, 4096), (b, 16)]
    with pytest.raises(drgn.FaultError):
        walk()
    with pytest.raises(WalkError, match="loops back"):
        walk(program({**words, c + 8: a + 8}), on_fault=lambda obj, e: None)
