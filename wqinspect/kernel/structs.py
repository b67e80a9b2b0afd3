# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bulk reads of kernel structs, decoded at offsets found in the debug info.

Reading an object member by member through drgn costs one memory read and one
Python object per member; a pool, a pwq, a worker or a workqueue is read here
with one ``prog.read()`` of its bytes instead, and unpacked with one
:class:`struct.Struct` built once per program from the members' offsets, sizes
and signedness.  A member this kernel does not have reads as None, so that the
callers ask :func:`wqinspect.kernel.layout.layout` what exists, not the type.
"""

import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from drgn import FaultError, Object, PlatformFlags, Program, Type, TypeKind, sizeof

_INT = {1: "b", 2: "h", 4: "i", 8: "q"}


def byte_order(prog: Program) -> str:
    """The :mod:`struct` byte order prefix of the program's platform: "<" or ">" (little-endian without one)."""
    return ">" if prog.platform and not prog.platform.flags & PlatformFlags.IS_LITTLE_ENDIAN else "<"


def _underlying(t: Type) -> Type:
    t = t.unqualified()
    while t.kind == TypeKind.TYPEDEF:
        t = t.type.unqualified()
    return t


def _scalar(t: Type) -> tuple[str, str]:
    """(struct format character, kind) of an integer-like type; kind is "int", "bool" or "ptr".

    Single-member structs (``atomic_t``, ``atomic_long_t``, ``refcount_t``) are read as their member.
    """
    t = _underlying(t)
    while t.kind in (TypeKind.STRUCT, TypeKind.UNION) and len(t.members) == 1:
        t = _underlying(t.members[0].type)
    if t.kind == TypeKind.ENUM:
        t = _underlying(t.type)
    if t.kind == TypeKind.POINTER:
        return ("Q" if t.size == 8 else "I"), "ptr"
    if t.kind == TypeKind.BOOL:
        return "B", "bool"
    if t.kind == TypeKind.INT:
        c = _INT[t.size]
        return (c if t.is_signed else c.upper()), "int"
    raise TypeError(f"cannot read {t} as a number")


class Record:
    """Chosen members of one struct type, read with one bulk read and one unpack.

    ``members`` maps a name to a member designator (``"nr_running"``, ``"attrs"``,
    ``"wait.head"``) or to a tuple of designators of which the first this kernel
    has is used.  :meth:`read` returns a dict of the names: ints (or bools),
    lists for arrays of integers, str for ``char`` arrays (up to the first NUL),
    None for members the kernel does not have.
    """

    def __init__(self, prog: Program, type_name: str, members: dict[str, str | tuple[str, ...]]):
        self.prog = prog
        self.type = prog.type(type_name)
        self.size = sizeof(self.type)
        proto = Object(prog, self.type, address=0)
        self.offsets: dict[str, int] = {}
        fields = []  # (offset, size, fmt, name, post)
        self.missing: list[str] = []
        for name, paths in members.items():
            for path in (paths,) if isinstance(paths, str) else paths:
                try:
                    sub = proto.subobject_(path)
                except (LookupError, AttributeError):
                    continue
                break
            else:
                self.missing.append(name)
                continue
            off, t = sub.address_, _underlying(sub.type_)
            self.offsets[name] = off
            if t.kind == TypeKind.ARRAY:
                elem = _underlying(t.type)
                n = t.length or 0
                if elem.kind == TypeKind.INT and elem.size == 1 and elem.name in ("char", "signed char",
                                                                                  "unsigned char"):
                    fields.append((off, n, f"{n}s", name, "str"))
                    continue
                c, _ = _scalar(elem)
                fields.append((off, n * elem.size, f"{n}{c}", name, ("list", n)))
                continue
            c, kind = _scalar(t)
            fields.append((off, struct.calcsize("<" + c), c, name, kind))
        fields.sort()
        #: Only the bytes from the first member read to the end of the last one are read.
        self.lo = fields[0][0] if fields else 0
        self.span = max((off + size for off, size, *_ in fields), default=0) - self.lo
        fmt, pos, self._post = byte_order(prog), self.lo, []
        for off, size, c, name, post in fields:
            if off < pos:
                raise TypeError(f"{type_name}: member {name} overlaps another one")
            fmt += f"{off - pos}x" if off > pos else ""
            fmt += c
            pos = off + size
            self._post.append((name, post))
        self._struct = struct.Struct(fmt)
        if self.lo + self._struct.size > self.size:
            raise TypeError(f"{type_name}: members beyond its size")
        self.decode = self._decoder(type_name)

    def _decoder(self, type_name: str):
        """``decode(buf, offset=0)``: the bytes of the struct at ``buf[offset - self.lo:]`` (``buf`` starts at
        the first member read; see :meth:`read`) as a dict of the names.  Made once per record as one
        expression over the unpacked values (100,000 objects are decoded per capture)."""
        items, i = [f"{name!r}: None" for name in self.missing], 0
        for name, post in self._post:
            if post == "int" or post == "ptr":
                items.append(f"{name!r}: v[{i}]")
                i += 1
            elif post == "bool":
                items.append(f"{name!r}: bool(v[{i}])")
                i += 1
            elif post == "str":
                items.append(f"{name!r}: v[{i}].split(b'\\0', 1)[0].decode(errors='replace')")
                i += 1
            else:
                n = post[1]
                items.append(f"{name!r}: list(v[{i}:{i + n}])")
                i += n
        code = f"def decode(buf, offset=0):\n    v = unpack(buf, offset)\n    return {{{', '.join(items)}}}\n"
        env = {"unpack": self._struct.unpack_from}
        exec(compile(code, f"<record {type_name}>", "exec"), env)  # the names are the callers' identifiers
        return env["decode"]

    def read(self, address: int) -> dict[str, Any]:
        """Read the struct at ``address`` (one memory read, or a slice of its page during a capture:
        :func:`page_reads`) and decode it."""
        pages = running_pages(self.prog)
        if pages is not None:
            return self.decode(pages.read(address + self.lo, self.span))
        return self.decode(self.prog.read(address + self.lo, self.span))

    def offset(self, name: str) -> int:
        """Offset of member ``name`` (KeyError if the kernel has none)."""
        return self.offsets[name]


def record(prog: Program, type_name: str, members: dict[str, str | tuple[str, ...]]) -> Record:
    """The :class:`Record` for ``type_name`` and ``members``, made once per program."""
    key = ("wqinspect_record", type_name, tuple(members.items()))
    try:
        return prog.cache[key]
    except KeyError:
        r = prog.cache[key] = Record(prog, type_name, members)
        return r


def member_offset(prog: Program, type_name: str, path: str) -> int | None:
    """Offset of member ``path`` in ``type_name`` (cached), None if the kernel has none."""
    key = ("wqinspect_offset", type_name, path)
    try:
        return prog.cache[key]
    except KeyError:
        pass
    try:
        off = Object(prog, prog.type(type_name), address=0).subobject_(path).address_
    except (LookupError, AttributeError):
        off = None
    prog.cache[key] = off
    return off


#: Reads inside one page of this size are served by one read of the page (PageReads).
PAGE = 4096
_PAGE_READS = "wqinspect_page_reads"


class PageReads:
    """While a capture runs (:func:`page_reads`), a read inside one page costs one read of the whole
    page, shared by every object in it: the work items of one array, the pwqs of one slab page, a
    task's fields.  Over QMP each read is a request to QEMU; from a vmcore a slice of a page read
    before still costs less than a read.  A page that cannot be read whole is read object by object,
    as without pages, so that a fault says what it always said.  The pages are dropped when the
    capture ends (a live kernel changes between captures) and when there are ``limit`` of them (4 MiB)."""

    __slots__ = ("prog", "pages", "limit", "live")

    def __init__(self, prog: Program, limit: int = 1024, live: bool = False):
        self.prog, self.pages, self.limit, self.live = prog, {}, limit, live

    def fresh(self) -> None:
        """Before the next object of a live kernel (a pool, a workqueue): forget the pages, so that one
        object's lists are not followed through pages read while another object was walked."""
        if self.live:
            self.pages.clear()

    def page(self, page: int) -> bytes:
        """The bytes of the page at ``page`` (a multiple of PAGE), read once; b"" if it cannot be read whole."""
        buf = self.pages.get(page)
        if buf is None:
            if len(self.pages) >= self.limit:
                self.pages.clear()
            try:
                buf = self.prog.read(page, PAGE)
            except (FaultError, ValueError, OverflowError):
                buf = b""
            self.pages[page] = buf
        return buf

    def read(self, address: int, size: int) -> bytes:
        page = address & -PAGE
        off = address - page
        if off + size > PAGE:
            return self.prog.read(address, size)
        buf = self.pages.get(page)
        if buf is None:
            buf = self.page(page)
        if not buf:
            return self.prog.read(address, size)
        return buf[off:off + size]


@contextmanager
def page_reads(prog: Program, live: bool = False) -> Iterator[PageReads]:
    """Serve the reads of :class:`Record` and :func:`reader` from whole pages until the block ends
    (``live``: a running kernel, whose pages are kept for one object at a time: :meth:`PageReads.fresh`)."""
    pages = prog.cache[_PAGE_READS] = PageReads(prog, live=live)
    try:
        yield pages
    finally:
        prog.cache.pop(_PAGE_READS, None)


def running_pages(prog: Program) -> PageReads | None:
    """The :class:`PageReads` of the running capture, None outside one."""
    return prog.cache.get(_PAGE_READS)


def fresh_pages(prog: Program) -> None:
    """:meth:`PageReads.fresh` of the running capture, if any."""
    pages = running_pages(prog)
    if pages is not None:
        pages.fresh()


def reader(prog: Program):
    """``read(address, size)``: the page reads of a running capture (:func:`page_reads`), else ``prog.read``."""
    pages = running_pages(prog)
    return prog.read if pages is None else pages.read


def words(prog: Program, address: int, count: int) -> list[int]:
    """``count`` native words at ``address``, with one memory read."""
    if count <= 0:
        return []
    return list(struct.unpack(f"{byte_order(prog)}{count}Q", prog.read(address, 8 * count)))


def bits_set(ws: Iterable[int], limit: int) -> list[int]:
    """Indices of the bits set in a bitmap given as 64-bit words, below ``limit``."""
    out = []
    for i, w in enumerate(ws):
        base = i * 64
        while w:
            low = w & -w
            bit = base + low.bit_length() - 1
            if bit >= limit:
                return out
            out.append(bit)
            w ^= low
    return out
