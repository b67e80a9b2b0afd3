# SPDX-License-Identifier: LGPL-2.1-or-later
"""Where things live in the kernel's address space."""

import re

from drgn import Architecture, FaultError, Program


def module_area(prog: Program) -> tuple[int, int] | None:
    """
    ``[MODULES_VADDR, MODULES_END)``: where module memory is mapped, so that an
    address there that no loaded module covers is memory of an unloaded module.

    - arm64 since commit 3e35d303ab7d ("arm64: module: rework module VA range
      selection", in v6.5): modules go into a 128 MiB window at module_direct_base,
      else a 2 GiB one at module_plt_base, both chosen at boot (KASLR) around the
      kernel image: read from those variables;
    - else from VMCOREINFO where the architecture puts the range there (arm64
      since commit 2369f171d5c5, "arm64: crash_core: Export MODULES, VMALLOC, and
      VMEMMAP ranges", in v5.18; riscv);
    - on x86_64 from arch/x86/include/asm/pgtable_64_types.h: MODULES_VADDR =
      __START_KERNEL_map + KERNEL_IMAGE_SIZE (KERNEL_IMAGE_SIZE in VMCOREINFO),
      MODULES_END = 0xffffffffff000000.
    None elsewhere.
    """
    windows = []
    for name, size in (("module_plt_base", 1 << 31), ("module_direct_base", 1 << 27)):
        try:
            base = prog[name].value_()
        except (KeyError, LookupError, FaultError):
            continue
        if base:
            windows.append((base, base + size))
    if windows:
        return min(a for a, _ in windows), max(b for _, b in windows)
    try:
        info = prog["VMCOREINFO"].string_().decode(errors="replace")
    except (KeyError, LookupError):
        info = ""
    numbers = dict(re.findall(r"^NUMBER\((MODULES_VADDR|MODULES_END|KERNEL_IMAGE_SIZE)\)=(\S+)", info, re.M))
    if "MODULES_VADDR" in numbers and "MODULES_END" in numbers:
        try:
            return int(numbers["MODULES_VADDR"], 0), int(numbers["MODULES_END"], 0)
        except ValueError:
            pass
    if prog.platform is None or prog.platform.arch != Architecture.X86_64:
        return None
    size = int(numbers.get("KERNEL_IMAGE_SIZE", 1 << 30))
    return 0xffffffff80000000 + size, 0xffffffffff000000
