# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bulk reads decode each member at its debug-info offset, as drgn would read it member by member."""

import struct

import drgn
import pytest

from wqinspect.kernel.structs import Record, member_offset

BASE = 0x10000


def _program(buf: bytes) -> drgn.Program:
    prog = drgn.Program(drgn.Platform(drgn.Architecture.X86_64, drgn.PlatformFlags.IS_64_BIT |
                                      drgn.PlatformFlags.IS_LITTLE_ENDIAN))
    data = bytes(buf) + bytes(0x1000 - len(buf))
    prog.add_memory_segment(BASE, len(data), lambda address, count, offset, physical: data[offset:offset + count])
    i32 = prog.int_type("int", 4, True)
    u64 = prog.int_type("unsigned long", 8, False)
    char = prog.int_type("char", 1, True)
    atomic = prog.struct_type("atomic_t", 4, [drgn.TypeMember(i32, "counter", 0)])
    pool = prog.struct_type("pool", 64, [
        drgn.TypeMember(i32, "id", 0), drgn.TypeMember(atomic, "nr_running", 32),
        drgn.TypeMember(prog.pointer_type(prog.void_type()), "attrs", 64),
        drgn.TypeMember(prog.array_type(char, 8), "name", 128), drgn.TypeMember(prog.array_type(i32, 3), "counts", 192),
        drgn.TypeMember(prog.bool_type("_Bool", 1), "stall", 288), drgn.TypeMember(u64, "ts", 320),
    ])

    def finder(prog, kinds, name, filename):
        return pool if name == "pool" and drgn.TypeKind.STRUCT in kinds else None

    prog.register_type_finder("test", finder, enable_index=0)
    return prog


def _bytes() -> bytes:
    buf = bytearray(64)
    struct.pack_into("<i", buf, 0, -3)
    struct.pack_into("<i", buf, 4, 7)
    struct.pack_into("<Q", buf, 8, 0xffff888000001000)
    buf[16:24] = b"ab\xffc\0zz\0"
    struct.pack_into("<3i", buf, 24, 1, -2, 3)
    buf[36] = 1
    struct.pack_into("<Q", buf, 40, (1 << 64) - 5)
    return bytes(buf)


def test_record_decodes_like_member_reads():
    prog = _program(_bytes())
    rec = Record(prog, "struct pool", {"id": "id", "nr_running": "nr_running", "attrs": "attrs", "name": "name",
                                       "counts": "counts", "stall": "stall", "ts": "ts", "gone": "no_such_member"})
    got = rec.read(BASE)
    obj = drgn.Object(prog, "struct pool", address=BASE)
    assert got["id"] == obj.id.value_() == -3
    assert got["nr_running"] == obj.nr_running.counter.value_() == 7  # atomic_t read as its counter
    assert got["attrs"] == obj.attrs.value_()
    assert got["name"] == obj.name.string_().decode(errors="replace") == "ab\ufffdc"
    assert got["counts"] == list(obj.counts.value_()) == [1, -2, 3]
    assert got["stall"] is True
    assert got["ts"] == obj.ts.value_() == (1 << 64) - 5
    assert got["gone"] is None  # a member this kernel does not have
    assert rec.offset("name") == 16


def test_record_reads_only_the_span_of_its_members():
    prog = _program(_bytes())
    rec = Record(prog, "struct pool", {"name": "name", "stall": "stall"})
    assert (rec.lo, rec.span) == (16, 21)
    assert rec.read(BASE) == {"name": "ab\ufffdc", "stall": True}


def test_first_existing_alternative_is_used():
    prog = _program(_bytes())
    rec = Record(prog, "struct pool", {"ts": ("last_progress_ts", "ts")})
    assert rec.read(BASE)["ts"] == (1 << 64) - 5
    assert member_offset(prog, "struct pool", "ts") == 40
    assert member_offset(prog, "struct pool", "nope") is None


def test_unreadable_struct_is_a_fault():
    prog = _program(_bytes())
    rec = Record(prog, "struct pool", {"id": "id"})
    with pytest.raises(drgn.FaultError):
        rec.read(0x1000)
