# SPDX-License-Identifier: LGPL-2.1-or-later
"""The monitor's counters: cheap enough to read every second (no list of work items is walked on
kernels with pwq->stats[])."""

import time

from drgn import Program, ProgramFlags

from ..kernel import stats as kstats
from ..kernel import workqueue as kwq
from ..kernel.layout import layout
from ..kernel.structs import page_reads
from ..snapshot import CountersSample, WqCounters
from .base import Reader


def sample_counters(prog: Program) -> CountersSample:
    """Read the monitor's counters of every workqueue."""
    lay = layout(prog)
    r = Reader(prog)
    system = {}
    with r.guard("system workqueues"):
        system = kwq.system_workqueues(prog)
    has = kstats.has_stats(prog)
    reclaim = lay.wq_flag("WQ_MEM_RECLAIM")
    t = time.time()
    # A list that changes under a live read (a workqueue destroyed, an inactive item activated
    # or cancelled) costs that workqueue's row or the rest of the list for this interval, with a
    # warning; the next interval reads again.
    rows = []
    # (The pwqs of several workqueues share a slab page; a live kernel's pages are read again for each.)
    with page_reads(prog, live=bool(prog.flags & ProgramFlags.IS_LIVE)) as pages:
        for wq in r.collect("workqueues list", kwq.workqueue_addresses(prog)):
            pages.fresh()
            with r.guard(f"workqueue {wq:#x}"):
                c = kstats.workqueue_counters(prog, wq, count_inactive=not has)
                rows.append(WqCounters(c.address, c.name, system.get(c.address), lay.wq_kind(c.flags),
                                       bool(c.flags & reclaim), c.stats, c.nr_active, c.in_flight, c.inactive))
    release, jiffies = "", 0
    with r.guard("kernel"):
        release = prog["init_uts_ns"].name.release.string_().decode(errors="replace")
        jiffies = prog["jiffies"].value_()
    return CountersSample(release, t, jiffies, lay.hz, has, rows, r.warnings)
