# SPDX-License-Identifier: LGPL-2.1-or-later
"""One view model per view: what a command shows, selected, sorted and grouped once.

The text renderer (:mod:`wqinspect.views.tables`) and the JSON renderer
(:mod:`wqinspect.views.data`) both consume these; neither selects nor sorts
on its own.  A view model holds snapshot objects and the values derived from
them, never formatted text.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import filterfalse
from operator import attrgetter

from ..snapshot import Pool, Pwq, Snapshot, Where, Work, Worker, Workqueue, jiffies_to_msecs
from .render import Options


def _compile(pattern: str | None):
    return re.compile(pattern) if pattern else None


def matches(wq, regex) -> bool:
    """``regex`` searched in the name and the system_*wq variable."""
    return regex is None or bool(regex.search(wq.name) or (wq.system_var and regex.search(wq.system_var)))


_ORDER = {w: w.order for w in Where}
OFF_POOL = frozenset(w for w in Where if not w.in_pool)
#: Items waiting in a pool's lists, on no worker.
QUEUED = frozenset((Where.WORKLIST, Where.INACTIVE))
#: Items on a worker: each has its own row (what the worker runs or holds).
_HELD = frozenset((Where.RUNNING, Where.SCHEDULED))


def work_key(w: Work):
    """Display order of work items: what runs first first, by pool, workqueue and list position."""
    where = w.where
    pool = -1 if where in OFF_POOL or w.pool_id is None else w.pool_id
    return (_ORDER[where], pool, w.wq_name or "", w.position)


def groupable(a: Work, b: Work) -> bool:
    """Whether ``b`` folds into the row of ``a``, as the kernel's dump folds ``100*fn`` (show_pwq())."""
    return (a.where == b.where and a.where not in _HELD and a.barrier is None and b.barrier is None
            and a.delayed is None and b.delayed is None and a.func == b.func and a.pwq == b.pwq and a.wq == b.wq
            and a.color == b.color and a.pool_id == b.pool_id and a.rcu_cpu == b.rcu_cpu
            and a.flag_names == b.flag_names)


def groups(works, fold: bool = True) -> Iterator[tuple[int, Work]]:
    """(count, first item) for each run of consecutive items that fold together (count 1 each if not ``fold``)."""
    if not fold:
        for w in works:
            yield 1, w
        return
    first, n = None, 0
    for w in works:
        if first is not None and groupable(first, w):
            n += 1
            continue
        if first is not None:
            yield n, first
        first, n = w, 1
    if first is not None:
        yield n, first


@dataclass
class View:
    """Base: the snapshot (for the envelope and the header), the options, the JSON key of the items."""

    snap: Snapshot
    opts: Options
    name = ""

    def detail(self, w: Work) -> str:
        """What a work item waits for or who runs it."""
        return work_detail(self.snap, w)

    def expires_in(self, w: Work) -> float | None:
        """Seconds until a delayed item's timer fires (negative: overdue)."""
        if w.delayed is None:
            return None
        ago = self.snap.jiffies_ago(w.delayed.expires)
        return None if ago is None else -ago


@dataclass
class WorkqueuesView(View):
    pattern: str | None = None
    name = "workqueues"

    def __post_init__(self):
        regex = _compile(self.pattern)
        self.rows: list[Workqueue] = sorted((w for w in self.snap.workqueues if matches(w, regex)),
                                            key=lambda w: (w.name, w.system_var or ""))
        self.totals = {id(w): w.totals() for w in self.rows}


@dataclass
class PoolsView(View):
    name = "pools"

    def __post_init__(self):
        cpu = self.opts.cpu
        self.rows: list[Pool] = sorted((p for p in self.snap.pools if cpu is None or p.cpu == cpu),
                                       key=lambda p: p.id)

    def progress_ago(self, p: Pool) -> float | None:
        return self.snap.jiffies_ago(p.progress_ts)


@dataclass
class WorkersView(View):
    name = "workers"

    def __post_init__(self):
        cpu = self.opts.cpu
        keep = None if cpu is None else {p.id for p in self.snap.pools if p.cpu == cpu}
        self.rows: list[Worker] = sorted(
            (w for w in self.snap.workers if keep is None or w.pool_id in keep),
            key=lambda w: (w.pool_id if w.pool_id is not None else 1 << 30, w.id))

    def running_for(self, w: Worker) -> float | None:
        return self.snap.jiffies_ago(w.current_start)


def on_cpu(snap: Snapshot, w: Work, cpu: int) -> bool:
    """Whether ``w`` is in a pool of ``cpu``, on its timer wheel or its RCU callback list."""
    if w.in_pool is not None:
        pool = snap.pool(w.in_pool)
        return pool is not None and pool.cpu == cpu
    if w.delayed is not None:
        return cpu in (w.delayed.timer_cpu, w.delayed.target_cpu)
    return w.rcu_cpu == cpu


@dataclass
class WorksView(View):
    wq_name: str | None = None
    pool_id: int | None = None
    name = "works"

    def __post_init__(self):
        snap, cpu = self.snap, self.opts.cpu
        out = []
        for w in snap.works:
            if self.wq_name is not None:
                wq = snap.workqueue(w.wq)
                if wq is None or not wq.named(self.wq_name):
                    continue
            if self.pool_id is not None and w.in_pool != self.pool_id:
                continue
            if cpu is not None and not on_cpu(snap, w, cpu):
                continue
            out.append(w)
        out.sort(key=work_key)
        self.selected = len(out)
        limit = self.opts.limit
        self.rows: list[Work] = out if limit is None else out[:limit]

    @property
    def fold(self) -> bool:
        """Fold runs of alike items on a terminal, unless --all."""
        return self.opts.terminal and not self.opts.all

    def groups(self) -> Iterator[tuple[int, Work]]:
        return groups(self.rows, self.fold)



@dataclass
class PwqPart:
    pwq: Pwq
    pool: Pool | None
    #: Workers running or holding its items, each with those items (running first).
    holders: list[tuple[int, Worker | None, list[Work]]]
    #: Its items on no worker (worklist, inactive), in display order.
    queued: list[Work]
    #: Every item of the pwq, in display order.
    works: list[Work]


@dataclass
class WqPart:
    wq: Workqueue
    totals: dict
    pwqs: list[PwqPart]
    #: Items not in a pool yet (on a timer, waiting for RCU).
    pending: list[Work]


@dataclass
class ShowView(View):
    wqs: list = field(default_factory=list)
    name = "show"

    def __post_init__(self):
        snap = self.snap
        self.parts = []
        for wq in self.wqs:
            mine = snap.works_of(wq)
            pwqs = []
            for p in wq.pwqs:
                items = sorted((w for w in snap.ix.works_by_pwq.get(p.address, []) if Where(w.where).in_pool),
                               key=work_key)
                holders, seen = [], set()
                for w in items:
                    if w.where in (Where.RUNNING, Where.SCHEDULED) and w.worker not in seen:
                        seen.add(w.worker)
                        held = sorted(snap.ix.works_by_worker.get(w.worker, []),
                                      key=lambda x: (x.where != Where.RUNNING, x.position))
                        holders.append((w.worker, snap.worker(w.worker), held))
                queued = [w for w in items if w.where not in (Where.RUNNING, Where.SCHEDULED)]
                pwqs.append(PwqPart(p, snap.pool(p.pool_id), holders, queued, items))
            pending = [w for w in mine if not Where(w.where).in_pool]
            self.parts.append(WqPart(wq, wq.totals(), pwqs, pending))


@dataclass
class CheckView(View):
    report: object = None
    show_all: bool = False
    name = "check"

    def __post_init__(self):
        r = self.report
        self.rows = r.results if self.show_all else list(filterfalse(attrgetter("ok"), r.results))
        self.summary = r.summary()


@dataclass
class FindingsView(View):
    found: list = field(default_factory=list)
    name = "findings"

    def __post_init__(self):
        self.rows = list(self.found)
        self.critical = sum(1 for f in self.rows if f.severity == "critical")


@dataclass
class MonitorView:
    """One sample of the monitor: its rows (already filtered, sorted and cut by wqinspect.monitor)."""

    sample: object
    rows: list
    opts: Options
    interval: float | None = None
    #: The target the sample was read from (a snapshot's Target, or the opened target's).
    target: object = None
    name = "monitor"


@dataclass
class TopologyView(View):
    diffs: list = field(default_factory=list)
    name = "topology"

    def __post_init__(self):
        snap = self.snap
        self.pools = sorted(snap.pools, key=lambda p: p.id)
        self.cpu_pools = {id(wq): cpu_pools(wq) for wq in snap.workqueues}
        self.dfl_pools = {id(wq): dfl_pool(wq) for wq in snap.workqueues}
        self.rescuers = [wq for wq in snap.workqueues if wq.rescuer_pid is not None]
        self.node_active = [wq for wq in snap.workqueues if wq.node_nr_active]
        self.node_slots = sorted({n.index for wq in self.node_active for n in wq.node_nr_active})
        self.node_pools = [wq for wq in snap.workqueues if wq.node_pools]
        self.pool_nodes = sorted({n for wq in self.node_pools for n, _ in wq.node_pools})


# -- derived values (plain data: the renderers format them) -----------------------------------------------------------


def cpu_pools(wq: Workqueue) -> dict[int, int]:
    """Each CPU's pool for this workqueue (where work queued on that CPU goes)."""
    return {cpu: p.pool_id for p in wq.pwqs for cpu in p.cpus}


def dfl_pool(wq: Workqueue) -> int | None:
    return next((p.pool_id for p in wq.pwqs if p.address == wq.dfl_pwq), None)


def strict(wq: Workqueue) -> bool:
    """An unbound workqueue with strict affinity (wq_dump.py's ``unbound,S``)."""
    return wq.kind == "unbound" and bool(wq.affn_strict)


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}s"
    return f"{value:.1f}s"


def worker_label(w: Worker | None) -> str:
    if w is None:
        return "-"
    if w.task is None:
        return f"BH pseudo-worker of pool {w.pool_id}"
    return f"{w.name} ({w.task.pid})"


def work_detail(snap: Snapshot, w: Work) -> str:
    if w.barrier is None and w.delayed is None and (w.where == Where.INACTIVE or w.where == Where.WORKLIST):
        return ""  # (most items: a short way out)
    if w.barrier is not None:
        waiter = w.barrier.waiter
        who = f"BAR({waiter.pid} {waiter.comm})" if waiter else "BAR(?)"
        if w.where == Where.RUNNING:
            return f"{who} running: completes the flush it waits on"
        if w.barrier.target is None:
            return f"{who} flushing an item that has finished or was not found"
        target = snap.ix.works.get(w.barrier.target)
        if target is not None and target.barrier is not None:
            target = next((x for x in snap.works if x.address == w.barrier.target and x.barrier is None), None)
        return f"{who} flushing {target.func if target else hex(w.barrier.target)}"
    if w.where in (Where.RUNNING, Where.SCHEDULED):
        return f"{'run' if w.where == Where.RUNNING else 'held'} by {worker_label(snap.worker(w.worker))}"
    if w.where == Where.RCU:
        return f"waits for an RCU grace period (callback on cpu {w.rcu_cpu})"
    if w.delayed is not None:
        when = snap.jiffies_ago(w.delayed.expires)
        target = "unbound" if w.delayed.target_cpu is None else f"cpu {w.delayed.target_cpu}"
        due = ("due time unknown (no HZ)" if when is None
               else f"fires in {seconds(-when)}" if when <= 0 else f"overdue {seconds(when)}")
        return f"{due} → {target} (timer on cpu {w.delayed.timer_cpu})"
    return ""


# -- constructors the CLI calls ----------------------------------------------------------------------------------------


def workqueues(snap, opts, pattern=None) -> WorkqueuesView:
    return WorkqueuesView(snap, opts, pattern)


def pools(snap, opts) -> PoolsView:
    return PoolsView(snap, opts)


def workers(snap, opts) -> WorkersView:
    return WorkersView(snap, opts)


def works(snap, opts, wq_name=None, pool_id=None) -> WorksView:
    return WorksView(snap, opts, wq_name, pool_id)


def show(snap, opts, wqs) -> ShowView:
    return ShowView(snap, opts, wqs)


def check(report, opts, show_all=False) -> CheckView:
    return CheckView(report.snapshot, opts, report, show_all)


def findings(snap, opts, found) -> FindingsView:
    return FindingsView(snap, opts, found)


def topology(snap, opts, diffs) -> TopologyView:
    return TopologyView(snap, opts, diffs)


# -- the kernel's own dump ---------------------------------------------------------------------------------------------


@dataclass
class DumpView(View):
    """The state as the kernel prints it: show_one_workqueue() and show_one_worker_pool() (sysrq-t, the watchdog).

    The format follows kernel/workqueue.c of the kernel at hand, told from the snapshot's fields:
    ``active=N/M`` while the limit lives in the pwq (pwq->max_active, up to v6.8), ``active=N`` after;
    BH pools (v6.9+) say ``bh`` or ``bh-hi`` where others say ``nice=N``.  Runs of one function fold as
    ``N*fn`` (pr_cont_work_flush(), v6.3+).  Busy workers are listed in the snapshot's busy_hash order.
    """

    name = "dump"

    def __post_init__(self):
        self.lines = list(dump_lines(self.snap))


class _Cont:
    """pr_cont_work() and pr_cont_work_flush(): consecutive items with one function fold into ``N*fn`` (on a
    kernel whose dump folds them, ``fold``)."""

    def __init__(self, fold: bool = True):
        self.out: list[str] = []
        self.ctr, self.func, self.name, self.comma = 0, None, "", False
        self.fold = fold

    def flush(self, comma: bool, func=None, name: str = "") -> None:
        if self.ctr:
            if func is not None and func == self.func and self.fold:
                self.ctr += 1
                return
            sep = "," if self.comma else ""
            self.out.append(f"{sep} {self.name}" if self.ctr == 1 else f"{sep} {self.ctr}*{self.name}")
            self.ctr = 0
        if func is None:
            return
        self.comma, self.func, self.name, self.ctr = comma, func, name, 1

    def work(self, comma: bool, w: Work) -> None:
        if w.barrier is not None:
            self.flush(comma)
            pid = w.barrier.waiter.pid if w.barrier.waiter else -1
            self.out.append(f"{',' if comma else ''} BAR({pid})")
        else:
            if not comma:
                self.flush(comma)
            self.flush(comma, w.func.address, str(w.func))

    def text(self) -> str:
        return "".join(self.out)


def _worker_id(snap: Snapshot, w: Worker) -> str:
    pool = snap.pool(w.pool_id)
    if w.task is None or (pool is not None and pool.kind.bh):
        return f"bh{'-hi' if pool is not None and pool.kind.highpri else ''}"
    return f"{w.task.pid}{'(RESCUER)' if w.rescue_wq is not None else ''}"


def _linked(w: Work) -> bool:
    return "LINKED" in w.flag_names


def dump_lines(snap: Snapshot) -> Iterator[str]:
    ix = snap.ix
    lay = snap.kernel.features
    fold = lay.dump_folds
    # The list's label followed its rename (commit f97a4a1a3f87, v5.15; some 5.10 stable kernels have it).
    inactive = "delayed" if lay.pwq_inactive_list == "delayed_works" else "inactive"
    yield "Showing busy workqueues and worker pools:"
    for wq in snap.workqueues:
        busy = [p for p in wq.pwqs if p.nr_active or p.nr_inactive]
        if not busy:
            continue
        yield f"workqueue {wq.name}: flags={wq.flags:#x}"
        for p in busy:
            pool = snap.pool(p.pool_id)
            limit = f"/{p.max_active}" if p.max_active is not None else ""
            yield (f"  pwq {p.pool_id}:{pool.printed() if pool else ''} active={p.nr_active}{limit} "
                   f"refcnt={p.refcnt}{' MAYDAY' if p.on_mayday else ''}")
            workers = [snap.worker(a) for a in (pool.busy if pool else [])]
            workers = [w for w in workers if w is not None and w.current_pwq == p.address]
            if workers:
                c = _Cont(fold)
                for i, w in enumerate(workers):
                    # v6.9 (commit 4cb1ef64609f, with pr_cont_worker_id()) prints " ," before the next worker where
                    # older kernels print ", "; v7.0 adds how long the item has run (worker->current_start).
                    sep = (" ," if i else " ") if lay.bh_pools else ("," if i else "") + " "
                    line = f"{sep}{_worker_id(snap, w)}:{w.current_func or '?'}"
                    if lay.worker_current_start and w.current_start is not None and snap.kernel.hz:
                        ran = jiffies_to_msecs(snap.kernel.jiffies - w.current_start, snap.kernel.hz) // 1000
                        line += f" for {ran}s"
                    c.out.append(line)
                    held = sorted((x for x in ix.works_by_worker.get(w.address, []) if x.where == Where.SCHEDULED),
                                  key=lambda x: x.position)
                    for x in held:
                        c.work(False, x)
                    c.flush(i > 0)
                yield "    in-flight:" + c.text()
            pending = [w for w in ix.worklist.get(p.pool_id, []) if w.pwq == p.address]
            for label, items in (("pending", pending), (inactive, sorted(
                    (w for w in ix.works_by_pwq.get(p.address, []) if w.where == Where.INACTIVE),
                    key=lambda w: w.position))):
                if not items:
                    continue
                c, comma = _Cont(fold), False
                for w in items:
                    c.work(comma, w)
                    comma = not _linked(w)
                c.flush(comma)
                yield f"    {label}:" + c.text()
    for pool in sorted(snap.pools, key=lambda p: p.id):
        if pool.nr_workers == pool.nr_idle:
            continue
        hung = 0
        if ix.worklist.get(pool.id) and snap.kernel.hz:
            hung = jiffies_to_msecs(snap.kernel.jiffies - pool.progress_ts, snap.kernel.hz) // 1000
        line = f"pool {pool.id}:{pool.printed()} hung={hung}s workers={pool.nr_workers}"
        manager = snap.worker(pool.manager)
        if manager is not None:
            line += f" manager: {_worker_id(snap, manager)}"
        for i, a in enumerate(pool.idle):
            w = snap.worker(a)
            line += f" {'idle: ' if i == 0 else ''}{_worker_id(snap, w) if w else '?'}"
        yield line


def dump(snap, opts) -> DumpView:
    return DumpView(snap, opts)
