# SPDX-License-Identifier: LGPL-2.1-or-later
"""wqinspect's own kdump reader (used where libkdumpfile refuses a file), on synthetic dumps."""

import random
import struct
import zlib

import pytest

from wqinspect.kdump import FLAT_HEADER_SIZE, Kdump, KdumpError

BLOCK = 4096
PAGES = {2: b"A" * BLOCK, 3: bytes(range(256)) * 16, 4: b"\0" * BLOCK, 10: b"xyz!" * 1024}
COMPRESSED = {2, 4}
INFO = b"OSRELEASE=7.3-cloud-amd64\nPAGESIZE=4096\n"


def kdump_image(pages=PAGES) -> bytes:
    """header, sub header, 2 bitmap blocks, page descriptors, VMCOREINFO, page data: one block each."""
    header = bytearray(BLOCK)
    header[:8] = b"KDUMP   "
    struct.pack_into("<i", header, 8, 6)
    for i, field in enumerate([b"Linux", b"", b"7.3-cloud-amd64", b"", b"x86_64", b""]):
        header[12 + 65 * i:12 + 65 * i + len(field)] = field
    struct.pack_into("<iiII", header, 428, BLOCK, 1, 2, 16)
    sub = bytearray(BLOCK)
    struct.pack_into("<qQ", sub, 32, 5 * BLOCK, len(INFO))
    struct.pack_into("<Q", sub, 96, 16)
    bitmap = bytearray(2 * BLOCK)
    for pfn in pages:
        bitmap[pfn // 8] |= 1 << pfn % 8
        bitmap[BLOCK + pfn // 8] |= 1 << pfn % 8
    descs, data = bytearray(BLOCK), bytearray()
    for i, pfn in enumerate(sorted(pages)):
        body = zlib.compress(pages[pfn]) if pfn in COMPRESSED else pages[pfn]
        struct.pack_into("<qIIQ", descs, 24 * i, 6 * BLOCK + len(data), len(body), 1 if pfn in COMPRESSED else 0, 0)
        data += body
    return bytes(header + sub + bitmap + descs + INFO.ljust(BLOCK, b"\0") + data)


def flattened(image: bytes, chunk: int = 1000) -> bytes:
    """makedumpfile -F's stream of the same file, its records in a shuffled order."""
    records = [(off, image[off:off + chunk]) for off in range(0, len(image), chunk)]
    random.Random(1).shuffle(records)
    out = bytearray(b"makedumpfile\0".ljust(16, b"\0") + struct.pack(">qq", 1, 1)).ljust(FLAT_HEADER_SIZE, b"\0")
    for off, body in records:
        out += struct.pack(">qq", off, len(body)) + body
    return bytes(out + struct.pack(">qq", -1, -1))


@pytest.mark.parametrize("flat", [False, True], ids=["plain", "flattened"])
def test_pages_and_vmcoreinfo(tmp_path, flat):
    path = tmp_path / "dump"
    path.write_bytes(flattened(kdump_image()) if flat else kdump_image())
    k = Kdump(str(path))
    assert k.flattened == flat
    assert (k.release, k.machine, k.vmcoreinfo) == ("7.3-cloud-amd64", "x86_64", INFO)
    assert k.runs == [(2, 3, 0), (10, 1, 3)]
    for index, pfn in enumerate(sorted(PAGES)):
        assert k._page(index) == PAGES[pfn]


def test_truncated_and_foreign_files_are_refused(tmp_path):
    image = kdump_image()
    path = tmp_path / "dump"
    path.write_bytes(image[:5 * BLOCK])  # ends before the VMCOREINFO
    with pytest.raises(KdumpError, match="truncated"):
        Kdump(str(path))
    path.write_bytes(flattened(image)[:-5000])
    with pytest.raises(KdumpError, match="truncated"):
        Kdump(str(path))
    path.write_bytes(b"\x7fELF" + image[4:])
    with pytest.raises(KdumpError, match="no KDUMP signature"):
        Kdump(str(path))


@pytest.mark.parametrize("shuffle", [False, True], ids=["headers-first", "headers-anywhere"])
def test_head_only_parse_reads_the_headers_without_indexing_the_stream(tmp_path, shuffle):
    """Choosing between libkdumpfile and this reader needs the headers and VMCOREINFO only: a flattened
    stream is indexed no further than its first records when they hold them, and to its end when not."""
    from wqinspect import kdump

    image = kdump_image()
    records = [(off, image[off:off + 400]) for off in range(0, len(image), 400)]
    assert len(records) > kdump._Flat.HEAD_RECORDS
    if shuffle:
        random.Random(2).shuffle(records)
    out = bytearray(b"makedumpfile\0".ljust(16, b"\0") + struct.pack(">qq", 1, 1)).ljust(FLAT_HEADER_SIZE, b"\0")
    for off, body in records:
        out += struct.pack(">qq", off, len(body)) + body
    path = tmp_path / "dump"
    path.write_bytes(bytes(out + struct.pack(">qq", -1, -1)))
    k = kdump.parse(str(path), head_only=True)
    assert (k.release, k.machine, k.vmcoreinfo) == ("7.3-cloud-amd64", "x86_64", INFO)
    assert len(k.src.records) == (len(records) if shuffle else kdump._Flat.HEAD_RECORDS)
    assert kdump.libkdumpfile_reason(str(path), None).startswith("its release '7.3-cloud-amd64' has no sublevel")
    full = kdump.parse(str(path))
    assert full.runs == [(2, 3, 0), (10, 1, 3)] and len(full.src.records) == len(records)
