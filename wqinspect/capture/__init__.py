# SPDX-License-Identifier: LGPL-2.1-or-later
"""Read a kernel's workqueue state into a :class:`~wqinspect.snapshot.Snapshot`.

This is the only place that turns kernel memory into snapshot data, by object
family around a small shared base (:mod:`.base`: warnings, symbolization, tasks,
work items): :mod:`.workqueues` (workqueues, pwqs, flushers, node_nr_active,
maydays), :mod:`.pools` (pools, workers, busy_hash, worklists, scheduled lists),
:mod:`.timers` (delayed and RCU works), :mod:`.system` (kernel, modules, topology,
watchdog), :mod:`.deep` (kernel log, stacks), :mod:`.counters` (the monitor).
Nothing is written to the target.
"""

import datetime

from drgn import Program

from .. import __version__
from ..snapshot import Mode, Snapshot, Target, link_works
from ..kernel.structs import page_reads
from ..snapshot.io import no_gc_pauses
from .base import READ_ERRORS, Reader
from .counters import sample_counters

__all__ = ["READ_ERRORS", "Reader", "capture", "sample_counters"]


def capture(prog: Program, target: Target, deep: bool = False) -> Snapshot:
    """Read everything wqinspect shows from ``prog`` (whose debug info is loaded).

    ``deep`` also reads what diagnostics use: workqueue messages of the kernel
    log and the stacks of busy workers and of tasks waiting for work.
    """
    with no_gc_pauses(), page_reads(prog, live=target.live):
        return _capture(prog, target, deep)


def _capture(prog: Program, target: Target, deep: bool) -> Snapshot:
    # Imported here: the monitor's counters (sample_counters) need none of them, nor the drgn helpers they import.
    from ..kernel import workqueue as kwq
    from . import deep as deep_reads
    from . import system, timers
    from .crash import read_crash
    from .pools import read_pools
    from .workqueues import read_workqueues

    r = Reader(prog)
    snap = Snapshot(kernel=system.kernel_info(r), target=target)
    snap.target.captured_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    snap.target.wqinspect_version = __version__
    snap.modules, snap.kernel_image, snap.last_unloaded_module = system.read_modules(r)
    sysvars = {}
    with r.guard("system workqueues"):
        sysvars = kwq.system_workqueues(prog)
    snap.pools, snap.workers, snap.works = read_pools(r)
    wqs, rescuers, works = read_workqueues(r, sysvars)
    snap.workqueues = wqs
    snap.workers += rescuers
    snap.works += works
    delayed, broken = timers.delayed_works(r)
    snap.works += delayed + timers.rcu_works(r)
    snap.broken_timers = broken
    link_works(snap, r.pwq_owner)
    snap.topology = system.topology(r, snap.kernel.nr_cpu_ids, snap.kernel.nr_node_ids)
    if target.mode == Mode.KCORE:
        # The running kernel's sysfs is this host's /sys: keep what it says, to compare with memory.
        from ..sysfs import read_sysfs

        snap.sysfs = read_sysfs()
    snap.watchdog = system.watchdog(r)
    snap.cpu_intensive = system.cpu_intensive(r)
    snap.uptime = system.uptime(r)
    if deep:
        snap.log = deep_reads.log(r)
        snap.stacks = deep_reads.stacks(r, snap)
        snap.crash = read_crash(r)  # None unless the kernel panicked
    snap.warnings = r.warnings
    return snap
