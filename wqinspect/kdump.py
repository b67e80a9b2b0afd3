# SPDX-License-Identifier: LGPL-2.1-or-later
"""Read a kdump-compressed vmcore without libkdumpfile, as drgn physical memory.

drgn opens kdump-compressed files (makedumpfile's, and QEMU's ``dump-guest-memory``
``kdump-*`` formats, plain or "flattened") with libkdumpfile.  libkdumpfile derives
``linux.version_code`` from the release string and refuses a release without a
sublevel (``7.3-cloud-amd64``, as Debian names its release candidates): "Invalid
kernel version".  The file itself is fine, so wqinspect falls back to this reader:
it parses the diskdump format, gives drgn every dumped page frame as a physical
memory segment (pages are decompressed on demand) and the file's VMCOREINFO, and
drgn walks the page tables itself (``Program.set_linux_kernel_custom``).

Format (makedumpfile's diskdump_mod.h): a header block (``KDUMP   ``), the
``kdump_sub_header`` block(s) (VMCOREINFO offset and size), two bitmaps of page
frames (present, dumped), then one ``page_desc`` (offset, size, flags) per dumped
frame, in frame order.  The "flattened" variant (makedumpfile -F, QEMU before
8.2) is a stream of (offset, size) big-endian records that rebuild that file; it
is indexed, not rewritten.
"""

import bisect
import os
import re
import struct
import zlib
from collections import OrderedDict

import drgn

KDUMP_SIGNATURE = b"KDUMP   "
FLAT_SIGNATURE = b"makedumpfile\0"
FLAT_HEADER_SIZE = 4096
#: page_desc.flags
COMPRESSED_ZLIB, COMPRESSED_LZO, COMPRESSED_SNAPPY, COMPRESSED_ZSTD = 0x1, 0x2, 0x4, 0x20
#: utsname.machine -> drgn architecture
ARCHES = {"x86_64": drgn.Architecture.X86_64, "aarch64": drgn.Architecture.AARCH64,
          "arm64": drgn.Architecture.AARCH64, "ppc64le": drgn.Architecture.PPC64,
          "s390x": drgn.Architecture.S390X}
#: ELF e_machine -> drgn architecture (of a vmlinux: QEMU's kdump header names no architecture but x86_64)
ELF_MACHINES = {62: drgn.Architecture.X86_64, 183: drgn.Architecture.AARCH64, 21: drgn.Architecture.PPC64,
                22: drgn.Architecture.S390X}
#: Decompressed pages kept (4 KiB each: 16 MiB).
CACHE_PAGES = 4096


def elf_platform(path: str) -> drgn.Platform | None:
    """The platform of a 64-bit ELF file (a vmlinux), or None if it is not one."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[4] != 2:
        return None
    little = head[5] == 1
    arch = ELF_MACHINES.get(int.from_bytes(head[18:20], "little" if little else "big"))
    if arch is None:
        return None
    flags = drgn.PlatformFlags.IS_64_BIT | (drgn.PlatformFlags.IS_LITTLE_ENDIAN if little else 0)
    return drgn.Platform(arch, flags)


_parsed: dict[tuple, "Kdump"] = {}


def parse(path: str, head_only: bool = False) -> "Kdump":
    """:class:`Kdump` of ``path``, parsed once per file version (header_platform, libkdumpfile_reason and
    open_program all need it).  ``head_only``: the headers and VMCOREINFO only, which is all that deciding
    between libkdumpfile and this reader needs (a flattened stream is then not indexed to its end)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise KdumpError(f"cannot read {path}: {e.strerror}") from None
    key = (path, st.st_mtime_ns, st.st_size)
    for k in ((*key, False), (*key, True)) if head_only else ((*key, False),):
        if k in _parsed:
            return _parsed[k]
    _parsed.clear()
    try:
        k = Kdump(path, head_only)
    except NotIndexed:
        if not head_only:
            raise
        k, head_only = Kdump(path), False  # the headers were not among the first records
    _parsed[(*key, head_only)] = k
    return k


def header_platform(path: str) -> drgn.Platform | None:
    """The platform a kdump file's header or VMCOREINFO names, or None (also if it is no kdump file)."""
    try:
        k = parse(path, head_only=True)
    except (KdumpError, OSError, ValueError, struct.error):
        return None
    arch = ARCHES.get(k.machine)
    if arch is not None:
        return drgn.Platform(arch, drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN)
    return vmcoreinfo_platform(k.vmcoreinfo)


def symbols_platform(paths) -> drgn.Platform | None:
    """The platform of the first vmlinux among ``paths`` (modules are ELF relocatables: e_type 1, not 2 or 3)."""
    for path in paths:
        try:
            with open(path, "rb") as f:
                head = f.read(18)
        except OSError:
            continue
        if head[:4] == b"\x7fELF" and int.from_bytes(head[16:18], "little" if head[5] == 1 else "big")  in (2, 3):
            return elf_platform(path)
    return None


def vmcoreinfo_platform(info: bytes) -> drgn.Platform | None:
    """The platform told by an architecture's own VMCOREINFO entries (arch_crash_save_vmcoreinfo())."""
    flags = drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN
    if b"NUMBER(kimage_voffset)=" in info:
        return drgn.Platform(drgn.Architecture.AARCH64, flags)
    if b"SYMBOL(init_top_pgt)=" in info or b"NUMBER(phys_base)=" in info:
        return drgn.Platform(drgn.Architecture.X86_64, flags)
    return None


class KdumpError(Exception):
    """The file is not a kdump-compressed vmcore this reader can use (one line, for the user)."""


class NotIndexed(KdumpError):
    """No record of the flattened stream holds the bytes read (a head-only parse may not have indexed them)."""


class _Flat:
    """The file that a flattened stream rebuilds: (offset, size) records, looked up by offset."""

    #: The records a head-only parse indexes: makedumpfile and QEMU write the headers and VMCOREINFO first.
    HEAD_RECORDS = 64

    def __init__(self, f, size: int, head_only: bool = False):
        self.f = f
        starts, records = [], []
        pos = FLAT_HEADER_SIZE
        while pos + 16 <= size and not (head_only and len(records) >= self.HEAD_RECORDS):
            f.seek(pos)
            offset, length = struct.unpack(">qq", f.read(16))
            if offset < 0:
                break
            if length < 0 or pos + 16 + length > size:
                raise KdumpError(f"flattened record at {pos} runs past the end of the file (truncated?)")
            starts.append(offset)
            records.append((offset, length, pos + 16))
            pos += 16 + length
        order = sorted(range(len(records)), key=lambda i: (starts[i], i))
        self.records = [records[i] for i in order]
        self.starts = [r[0] for r in self.records]

    def pread(self, offset: int, length: int) -> bytes:
        out = bytearray(length)
        filled = 0
        i = max(bisect.bisect_right(self.starts, offset) - 1, 0)
        # Records are few thousand at most and rarely overlap; later records win where they do.
        while i < len(self.records) and self.records[i][0] < offset + length:
            start, size, at = self.records[i]
            lo, hi = max(start, offset), min(start + size, offset + length)
            if lo < hi:
                self.f.seek(at + lo - start)
                out[lo - offset:hi - offset] = self.f.read(hi - lo)
                filled += hi - lo
            i += 1
        if filled < length:
            raise NotIndexed(f"the flattened stream has no data at {offset:#x} (truncated?)")
        return bytes(out)


class _Plain:
    def __init__(self, f):
        self.f = f

    def pread(self, offset: int, length: int) -> bytes:
        data = os.pread(self.f.fileno(), length, offset)
        if len(data) != length:
            raise KdumpError(f"the file ends before offset {offset + length:#x} (truncated?)")
        return data


class Kdump:
    """The parsed headers and page index of one kdump-compressed file."""

    def __init__(self, path: str, head_only: bool = False):
        self.path = path
        try:
            self.f = open(path, "rb")
        except OSError as e:
            raise KdumpError(f"cannot read {path}: {e.strerror}") from None
        size = os.fstat(self.f.fileno()).st_size
        head = self.f.read(16)
        self.flattened = head.startswith(FLAT_SIGNATURE)
        self.src = _Flat(self.f, size, head_only) if self.flattened else _Plain(self.f)
        h = self.src.pread(0, 464)
        if h[:8] != KDUMP_SIGNATURE:
            raise KdumpError(f"{path} is not a kdump-compressed vmcore (no KDUMP signature)")
        self.header_version = struct.unpack_from("<i", h, 8)[0]
        uts = [h[12 + 65 * i:12 + 65 * (i + 1)].split(b"\0")[0].decode(errors="replace") for i in range(6)]
        self.release, self.machine = uts[2], uts[4]
        (self.block_size, sub_blocks, self.bitmap_blocks, max_mapnr) = struct.unpack_from("<iiII", h, 428)
        if self.block_size not in (4096, 16384, 65536) or self.header_version < 3:
            raise KdumpError(f"{path}: unsupported kdump header (version {self.header_version}, "
                             f"block size {self.block_size})")
        sub = self.src.pread(self.block_size, 104)
        off_info, size_info = struct.unpack_from("<qQ", sub, 32)
        if self.header_version >= 6:
            max_mapnr = struct.unpack_from("<Q", sub, 96)[0]
        self.max_mapnr = max_mapnr
        if not size_info:
            raise KdumpError(f"{path} carries no VMCOREINFO")
        self.vmcoreinfo = self.src.pread(off_info, size_info)
        self.runs: list[tuple[int, int, int]] = []
        if head_only:
            return
        bitmap_at = self.block_size * (1 + sub_blocks)
        half = self.bitmap_blocks * self.block_size // 2
        dumped = self.src.pread(bitmap_at + half, half)
        self.desc_at = bitmap_at + self.bitmap_blocks * self.block_size
        #: Runs of dumped frames: (first pfn, count, index of the first one's page_desc).
        index = 0
        pfn = 0
        limit = min(self.max_mapnr, len(dumped) * 8)
        as_int = int.from_bytes(dumped, "little")
        while pfn < limit:
            # Skip to the next set bit, then to the next clear one: a run of dumped frames.
            rest = as_int >> pfn
            if not rest:
                break
            pfn += (rest & -rest).bit_length() - 1
            if pfn >= limit:
                break
            inverted = ~(as_int >> pfn)
            count = min((inverted & -inverted).bit_length() - 1, limit - pfn)
            self.runs.append((pfn, count, index))
            index += count
            pfn += count
        self._cache: OrderedDict[int, bytes] = OrderedDict()

    def check_compression(self) -> None:
        """KdumpError if the pages use a compression this reader cannot undo (judged by the first page)."""
        if not self.runs:
            return
        flags = struct.unpack("<I", self.src.pread(self.desc_at + 12, 4))[0]
        for bit, name in ((COMPRESSED_LZO, "lzo"), (COMPRESSED_SNAPPY, "snappy"), (COMPRESSED_ZSTD, "zstd")):
            if flags & bit:
                raise KdumpError(f"its pages are {name}-compressed; without libkdumpfile only zlib and "
                                 "uncompressed pages are read (take the dump with makedumpfile -c, or as ELF)")

    def _page(self, desc_index: int) -> bytes:
        page = self._cache.get(desc_index)
        if page is not None:
            self._cache.move_to_end(desc_index)
            return page
        offset, size, flags = struct.unpack("<qII", self.src.pread(self.desc_at + 24 * desc_index, 16))
        data = self.src.pread(offset, size)
        if flags & COMPRESSED_ZLIB:
            try:
                page = zlib.decompress(data)
            except zlib.error as e:
                raise drgn.FaultError(f"corrupt zlib page in {self.path}: {e}", 0) from None
        elif flags & (COMPRESSED_LZO | COMPRESSED_SNAPPY | COMPRESSED_ZSTD):
            raise drgn.FaultError("page compressed with lzo, snappy or zstd: only zlib is read without "
                                  "libkdumpfile (re-save the dump with makedumpfile -c)", 0)
        else:
            page = data
        if len(page) != self.block_size:
            raise drgn.FaultError(f"page of {len(page)} bytes in {self.path}", 0)
        self._cache[desc_index] = page
        if len(self._cache) > CACHE_PAGES:
            self._cache.popitem(last=False)
        return page

    def program(self, vmcoreinfo: bytes | None = None, platform: drgn.Platform | None = None) -> drgn.Program:
        """A drgn program over this file's memory (physical segments, page tables walked by drgn).

        ``platform`` is used where the header names no architecture (QEMU writes "Unknown" but for x86_64).
        """
        arch = ARCHES.get(self.machine)
        if arch is not None:
            platform = drgn.Platform(arch, drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN)
        platform = platform or vmcoreinfo_platform(vmcoreinfo or self.vmcoreinfo)
        if platform is None:
            raise KdumpError(f"{self.path} names no architecture ({self.machine!r}): give the vmlinux with -s")
        self.check_compression()
        prog = drgn.Program(platform)
        page = self.block_size
        for first, count, index in self.runs:
            def read(address: int, count_: int, offset: int, physical: bool, first=first, index=index) -> bytes:
                out = bytearray()
                while count_ > 0:
                    n, within = divmod(offset, page)
                    chunk = min(page - within, count_)
                    out += self._page(index + n)[within:within + chunk]
                    offset += chunk
                    count_ -= chunk
                return bytes(out)

            prog.add_memory_segment(first * page, count * page, read, physical=True)
        prog.set_linux_kernel_custom(vmcoreinfo or self.vmcoreinfo, False)
        return prog


def libkdumpfile_reason(path: str, platform: drgn.Platform | None) -> str | None:
    """Why libkdumpfile cannot read this kdump file although it is good, or None (let it try).

    - a release without a sublevel ("7.3-cloud-amd64", Debian's release candidates): libkdumpfile
      opens the file, then fails on the first read: "Cannot get linux.version_code: Invalid kernel
      version" (it parses the release as "major.minor.sublevel");
    - QEMU's kdump of a guest other than x86_64 (its header names the machine "Unknown"):
      libkdumpfile opens it with the vmlinux's architecture but cannot translate an address.
    """
    try:
        k = parse(path, head_only=True)
    except (KdumpError, OSError, ValueError, struct.error):
        return None
    m = re.search(rb"^OSRELEASE=(.*)$", k.vmcoreinfo, re.M)
    release = m.group(1).decode(errors="replace") if m else k.release
    if release and not re.match(r"\d+\.\d+\.\d+", release):
        return f"its release {release!r} has no sublevel, so libkdumpfile cannot derive the kernel version"
    platform = platform or vmcoreinfo_platform(k.vmcoreinfo)
    if k.machine not in ARCHES and platform is not None and platform.arch != drgn.Architecture.X86_64:
        return (f"its header names no architecture ({k.machine!r}), and libkdumpfile cannot translate the "
                f"addresses of a {platform.arch.name.lower()} kernel in it")
    return None


def open_program(path: str, vmcoreinfo: bytes | None = None, platform: drgn.Platform | None = None) -> drgn.Program:
    """Open ``path`` with this reader; KdumpError (one line) if it cannot."""
    try:
        return parse(path).program(vmcoreinfo, platform)
    except KdumpError:
        raise
    except (OSError, ValueError, struct.error) as e:
        raise KdumpError(f"{path} cannot be read as a kdump-compressed vmcore: {e}") from None
