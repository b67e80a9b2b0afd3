# SPDX-License-Identifier: LGPL-2.1-or-later
"""A busybox initramfs: the guest init, the kernel modules it loads, extra files.

The cpio archive (newc format) is written here, so no cpio tool is needed.
"""

import gzip
import io
import lzma
import re
import stat
import subprocess
from pathlib import Path

from . import TestbedError
from .kernels import Kernel

INIT = Path(__file__).with_name("guest-init.sh")
BUSYBOX = Path("/bin/busybox")

#: Modules the guest needs when the kernel has them as modules: vmcoreinfo
#: (qemu_fw_cfg), the agent's port (virtio_console), the shared host root
#: (virtiofs) and the PCI transport of both.
GUEST_MODULES = ("qemu_fw_cfg", "virtio_pci", "virtio_console", "virtiofs")


class Cpio:
    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1
        self.dirs: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        namez = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(namez), 0))
        self.ino += 1
        self.buf.write(hdr.encode() + namez)
        self.buf.write(b"\0" * (-(110 + len(namez)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def mkdir(self, name: str) -> None:
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        name = name.strip("/")
        if "/" in name:
            self.mkdir(name.rsplit("/", 1)[0])
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name.strip("/"), stat.S_IFLNK | 0o777, target.encode())

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def _is_static(path: Path) -> bool:
    """True if the ELF file has no program interpreter (PT_INTERP)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff = int.from_bytes(data[0x20:0x28], "little")
    phentsize = int.from_bytes(data[0x36:0x38], "little")
    phnum = int.from_bytes(data[0x38:0x3a], "little")
    return all(int.from_bytes(data[phoff + i * phentsize:phoff + i * phentsize + 4], "little") != 3
               for i in range(phnum))


def module_files(kernel: Kernel, names: tuple[str, ...]) -> list[Path]:
    """The .ko files (dependencies first) that load ``names``; built-in ones need none."""
    files: list[Path] = []
    for name in names:
        p = subprocess.run(["modprobe", "-d", str(kernel.modules_root), "-S", kernel.release,
                            "--show-depends", name], capture_output=True, text=True)
        if p.returncode != 0:
            raise TestbedError(f"{kernel.describe()} has no module {name}: {p.stderr.strip()}")
        for line in p.stdout.splitlines():
            m = re.match(r"insmod (\S+)", line)
            if m and Path(m.group(1)) not in files:
                files.append(Path(m.group(1)))
    return files


def _ko_bytes(path: Path) -> tuple[str, bytes]:
    data = path.read_bytes()
    if path.suffix == ".xz":
        return path.name[:-3], lzma.decompress(data)
    if path.suffix == ".zst":
        out = subprocess.run(["zstd", "-qdc", str(path)], capture_output=True, check=True).stdout
        return path.name[:-4], out
    if path.suffix == ".gz":
        return path.name[:-3], gzip.decompress(data)
    return path.name, data


def build(out: Path, load: list[Path], extra: dict[str, Path] | None = None, busybox: Path = BUSYBOX) -> Path:
    """Write a gzipped initramfs to ``out``.

    ``load`` are module files the init loads at boot, in order; ``extra`` maps
    paths inside the guest to host files (test modules, scripts).
    """
    if not busybox.exists() or not _is_static(busybox):
        raise TestbedError(f"{busybox} is missing or not static: install the busybox-static package")
    c = Cpio()
    for d in ("bin", "dev", "proc", "sys", "tmp", "host", "modules"):
        c.mkdir(d)
    c.file("bin/busybox", busybox.read_bytes(), 0o755)
    c.symlink("bin/sh", "busybox")
    c.file("init", INIT.read_bytes(), 0o755)
    order = []
    for ko in load:
        name, data = _ko_bytes(ko)
        c.file(f"modules/{name}", data)
        order.append(name)
    c.file("modules/load", "".join(n + "\n" for n in order).encode())
    for dest, src in (extra or {}).items():
        name, data = _ko_bytes(src) if ".ko" in src.name else (src.name, src.read_bytes())
        c.file(dest, data, 0o755 if src.stat().st_mode & 0o111 else 0o644)
    out.write_bytes(gzip.compress(c.finish(), compresslevel=1))
    return out
