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


def _elf64(strtab: bytes, little: bool = True) -> bytes:
    """A 64-bit ELF file with a null section, a symbol table and its string table (sh_link 2)."""
    e = "<" if little else ">"
    shoff = 64 + len(strtab)
    head = b"\x7fELF\x02" + (b"\x01" if little else b"\x02") + b"\x01" + b"\0" * 9
    head += struct.pack(e + "HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 3, 0)
    null = b"\0" * 64
    symtab = struct.pack(e + "IIQQQQIIQQ", 0, 2, 0, 0, 0, 0, 2, 0, 8, 24)
    strs = struct.pack(e + "IIQQQQIIQQ", 0, 3, 0, 0, 64, len(strtab), 0, 0, 1, 0)
    return head + strtab + null + symtab + strs


@pytest.mark.parametrize("little", [True, False])
def test_symtab_names_include_the_suffixes_the_linker_shares(tmp_path, little):
    """vmlinux's string table stores "system_wq" only as the tail of "__kstrtab_system_wq": the system
    workqueues' variables are found there, and only names that match in full."""
    from wqinspect.kernel.workqueue import _SYSTEM_WQ, symtab_names

    path = tmp_path / "vmlinux"
    path.write_bytes(_elf64(b"\0__kstrtab_system_wq\0system_bh_wq\0not_system_wq_x\0system_dfl_long_wq\0", little))
    assert symtab_names(str(path), _SYSTEM_WQ) == ["system_bh_wq", "system_dfl_long_wq", "system_wq"]
    path.write_bytes(b"not an ELF file")
    assert symtab_names(str(path), _SYSTEM_WQ) is None


class _Memory:
    """Pages 0x1000 and 0x2000 of bytes that tell their address; reads elsewhere fault.  Counts reads."""

    def __init__(self):
        self.cache, self.reads = {}, []

    def read(self, address: int, size: int) -> bytes:
        self.reads.append((address, size))
        if not (0x1000 <= address and address + size <= 0x3000):
            raise drgn.FaultError("could not read memory", address)
        return bytes((address + i) & 0xFF for i in range(size))


def test_page_reads_serve_a_page_once_and_fall_back_where_they_cannot():
    from wqinspect.kernel.structs import PageReads, page_reads, reader

    mem = _Memory()
    with page_reads(mem) as pages:
        read = reader(mem)
        assert read == pages.read
        assert read(0x1010, 8) == bytes(range(0x10, 0x18)) and read(0x1ff0, 16) == bytes(range(0xF0, 0x100))
        assert mem.reads == [(0x1000, 4096)]  # one page read for both
        assert read(0x1ffc, 8) == bytes([0xFC, 0xFD, 0xFE, 0xFF, 0, 1, 2, 3])  # across two pages: read as asked
        with pytest.raises(drgn.FaultError):
            read(0x3008, 8)  # an unreadable page: the object's own read, and its own fault
        assert mem.reads[-2:] == [(0x3000, 4096), (0x3008, 8)]
    assert reader(mem) == mem.read and "wqinspect_page_reads" not in mem.cache  # gone after the capture
    small = PageReads(mem, limit=1)
    small.read(0x1000, 8), small.read(0x2000, 8)
    assert list(small.pages) == [0x2000]
