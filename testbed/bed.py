# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prepare a kernel for the test bed and boot it with the scenario modules."""

from dataclasses import dataclass
from pathlib import Path

from . import initramfs, kbuild, kernels
from .guest import Guest
from .kernels import Kernel
from .paths import BUILD
from .timing import TIMINGS

#: Where the test modules sit inside the guest.
GUEST_MODDIR = "/test"


@dataclass(frozen=True)
class Prepared:
    kernel: Kernel
    modules: dict[str, Path]
    initrd: Path

    def debug_files(self) -> list[Path]:
        """vmlinux and the test modules: what ``-s`` is given in the tests."""
        return [self.kernel.vmlinux, *self.modules.values()]


def prepare(suite: str) -> Prepared:
    kernel = kernels.ensure(suite)
    with TIMINGS.step("build modules", kernel.release):
        mods = kbuild.build_modules(kernel)
    with TIMINGS.step("initramfs", kernel.release):
        load = initramfs.module_files(kernel, initramfs.GUEST_MODULES)
        out = BUILD / "initramfs" / f"{kernel.release}.cpio.gz"
        out.parent.mkdir(parents=True, exist_ok=True)
        initramfs.build(out, load, {f"{GUEST_MODDIR}/{p.name}": p for p in mods.values()}, kernel.busybox)
    return Prepared(kernel, mods, out)


def boot(p: Prepared, **kw) -> Guest:
    with TIMINGS.step("boot", p.kernel.release):
        return Guest(p.kernel.release.split("-")[0], p.kernel.vmlinuz, p.initrd, arch=p.kernel.arch, **kw).start()


def insmod(guest: Guest, module: str, **params) -> str:
    args = " ".join(f"{k}={v}" for k, v in params.items())
    _, out = guest.sh(f"insmod {GUEST_MODDIR}/{module}.ko {args}")
    return out
