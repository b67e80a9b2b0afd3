# SPDX-License-Identifier: LGPL-2.1-or-later
"""Where things live in the kernel's address space."""

import re

from drgn import Architecture, Program


def module_area(prog: Program) -> tuple[int, int] | None:
    """
    ``[MODULES_VADDR, MODULES_END)``: where module memory is mapped, so that an
    address there that no loaded module covers is memory of an unloaded module.
    Known for x86_64 only (arch/x86/include/asm/pgtable_64_types.h:
    MODULES_VADDR = __START_KERNEL_map + KERNEL_IMAGE_SIZE, MODULES_END =
    0xffffffffff000000); KERNEL_IMAGE_SIZE comes from VMCOREINFO.
    """
    if prog.platform is None or prog.platform.arch != Architecture.X86_64:
        return None
    size = 1 << 30
    try:
        m = re.search(r"^NUMBER\(KERNEL_IMAGE_SIZE\)=(\d+)", prog["VMCOREINFO"].string_().decode(), re.M)
        if m:
            size = int(m.group(1))
    except (KeyError, LookupError):
        pass
    return 0xffffffff80000000 + size, 0xffffffffff000000
