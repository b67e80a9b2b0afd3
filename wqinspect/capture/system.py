# SPDX-License-Identifier: LGPL-2.1-or-later
"""Kernel-wide facts: the kernel itself, its modules, CPU topology, the watchdog and hog detection."""

import contextlib

from drgn import Object, offsetof
from drgn.helpers.linux.module import module_address_regions

from ..kernel import memory as kmem
from ..kernel import topology as ktopo
from ..kernel import watchdog as kwd
from ..kernel.layout import symbol_address
from ..kernel.structs import record
from ..kernel.walk import list_node_addresses
from ..snapshot import CpuIntensive, HogEntry, KernelInfo, Module, Scope, Topology, Watchdog
from .base import READ_ERRORS, Reader

#: The most modules read from the ``modules`` list.
MODULES_LIMIT = 65536


def kernel_info(r: Reader) -> KernelInfo:
    prog, c = r.prog, r.cpus
    uts = {"release": "", "version": "", "machine": ""}
    with r.guard("init_uts_ns"):
        uts = record(prog, "struct new_utsname", {"release": "release", "version": "version",
                                                  "machine": "machine"}).read(prog["init_uts_ns"].name.address_)
    hz = r.lay.hz
    if hz is None:
        try:
            hz = round(1e9 / prog["tick_nsec"].value_())
        except (KeyError, LookupError, ZeroDivisionError) + READ_ERRORS:
            r.warn("kernel", "HZ could not be determined: durations are not shown")
    jiffies = 0
    with r.guard("jiffies"):
        jiffies = prog["jiffies"].value_()
    area = None
    with r.guard("module area"):
        area = kmem.module_area(prog)
    return KernelInfo(release=uts["release"], version=uts["version"], machine=uts["machine"], hz=hz,
                      jiffies=jiffies, nr_cpu_ids=c.nr_cpu_ids, possible_cpus=list(c.possible),
                      online_cpus=list(c.online), nr_node_ids=c.nr_node_ids, module_area=area, features=r.lay)


class _NoModules(Exception):
    """The kernel has no loadable modules (Layout.modules)."""


def read_modules(r: Reader) -> tuple[list[Module], tuple[int, int] | None, str | None]:
    """The loaded modules (a bounded walk of the ``modules`` list), the kernel image, the last module unloaded."""
    prog = r.prog
    mods = []
    with r.guard("modules"), contextlib.suppress(_NoModules):
        if not r.lay.modules:
            raise _NoModules  # a kernel built without CONFIG_MODULES: nothing to list
        off = offsetof(prog.type("struct module"), "list")
        ptr = prog.pointer_type(prog.type("struct module"))
        for node in r.collect("modules", list_node_addresses(prog, prog["modules"].address_, MODULES_LIMIT)):
            with r.guard(f"module {node - off:#x}"):
                mod = Object(prog, ptr, node - off)
                regions = [(start, start + size) for start, size in module_address_regions(mod) if size]
                mods.append(Module(mod.name.string_().decode(errors="replace"), regions))
    r.modules = mods
    image = None
    start, end = symbol_address(prog, "_text"), symbol_address(prog, "_end")
    if start is not None and end is not None and end <= start:
        # arm64: _end is an absolute symbol, not moved by KASLR; the loaded image's range is drgn's.
        try:
            start, end = min(prog.main_module().address_ranges)
        except (LookupError, ValueError, AttributeError):
            end = None
    if start is not None and end is not None:
        image = (start, end)
    r.image = image
    last = None
    with r.guard("last_unloaded_module"), contextlib.suppress(_NoModules):
        if not r.lay.modules:
            raise _NoModules
        obj = prog["last_unloaded_module"]
        name = obj.name if r.lay.last_unloaded_module_struct else obj
        last = name.string_().decode(errors="replace") or None
    return mods, image, last


def topology(r: Reader, nr_cpu_ids: int, nr_nodes: int) -> Topology:
    topo = Topology()
    with r.guard("topology"):
        topo.unbound_cpus = ktopo.unbound_cpus(r.prog)
        dfl = ktopo.default_affinity_scope(r.prog)
        for index, name, pt in ktopo.for_each_affinity_scope(r.prog):
            nr, pods, nodes, cpu_pod = ktopo.pod_type(pt, nr_cpu_ids)
            topo.scopes.append(Scope(index, name, index == dfl, nr, pods, nodes, cpu_pod))
        topo.node_cpus = ktopo.node_cpus(r.prog, nr_nodes)
    return topo


def watchdog(r: Reader) -> Watchdog:
    thresh = kwd.watchdog_thresh(r.prog)
    if thresh is not None and thresh >= 1 << 63:
        r.warn("workqueue watchdog", f"wq_watchdog_thresh {thresh:#x} is not a number of seconds (damaged?)")
        thresh = None
    wd = Watchdog(thresh=thresh)
    if wd.thresh is not None:
        with r.guard("workqueue watchdog"):
            wd.touched, per_cpu_touched = kwd.watchdog_touched(r.prog)
            wd.touched_cpu = sorted(per_cpu_touched.items())
    return wd


def cpu_intensive(r: Reader) -> CpuIntensive:
    prog = r.prog
    ci = CpuIntensive(thresh_us=kwd.cpu_intensive_thresh_us(prog))
    if ci.thresh_us is not None:
        with r.guard("cpu intensive detection"):
            ci.warning_thresh = prog["wq_cpu_intensive_warning_thresh"].value_() \
                if r.lay.cpu_intensive_warning_thresh else None
    if r.lay.cpu_intensive_report:
        ci.report = True
        for func, count in r.collect("hog table", kwd.for_each_hog(prog)):
            ci.hogs.append(HogEntry(r.func(func), count))
    return ci


def uptime(r: Reader) -> float | None:
    from drgn.helpers.linux.timekeeping import ktime_get_coarse_boottime_ns

    try:
        return ktime_get_coarse_boottime_ns(r.prog).value_() / 1e9
    except (LookupError,) + READ_ERRORS as e:
        r.warn("uptime", f"{type(e).__name__}: {e}")
        return None
