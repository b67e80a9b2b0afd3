# SPDX-License-Identifier: LGPL-2.1-or-later
"""What this kernel's workqueue code looks like, found from its debug info.

Every difference between kernel versions that the readers care about is
detected here, once per program, by the presence of a member, a symbol or an
enumerator, never from a version number (distributions backport: Debian's
6.12 has 6.17's ``WQ_PERCPU`` and 7.0's ``mayday_cursor``).  Each field names
the upstream commit that introduced the difference.  Readers ask
:func:`layout` instead of probing types themselves.
"""

import dataclasses
import re
from dataclasses import dataclass

from drgn import Program, Type


def has_member(type: Type, member: str) -> bool:
    try:
        return type.has_member(member)
    except (TypeError, ValueError):
        return False


def enum_value(prog: Program, name: str) -> int | None:
    """The value of enumerator ``name``, or None if this kernel has none."""
    try:
        return prog.constant(name).value_()
    except (KeyError, LookupError):
        return None


def symbol_address(prog: Program, name: str) -> int | None:
    try:
        return prog.symbol(name).address
    except LookupError:
        return None


def _flag_enumerators(prog: Program, anchor: str, prefix: str, exclude: str) -> tuple[tuple[str, int], ...]:
    """Single-bit enumerators named ``prefix...`` in the enum that defines ``anchor``.

    In older kernels the flags share an anonymous enum with limits such as
    ``WQ_MAX_ACTIVE`` (512, a single bit too), hence ``exclude``.
    """
    try:
        enum = prog.constant(anchor).type_
    except (KeyError, LookupError):
        return ()
    return tuple(
        (e.name, e.value) for e in enum.enumerators or ()
        if re.match(prefix, e.name) and not re.search(exclude, e.name)
        and e.value > 0 and e.value & (e.value - 1) == 0
    )


@dataclass(frozen=True)
class Layout:
    # -- struct workqueue_struct
    #: "cpu_pwq": a per-cpu pointer to each CPU's pwq, for every kind of workqueue;
    #: "cpu_pwqs": per-cpu embedded pwqs of per-cpu workqueues only, unbound ones
    #: use numa_pwq_tbl[]. Commits 687a9aa56f81 ("workqueue: Make per-cpu
    #: pool_workqueues allocated and released like unbound ones") and 636b927eba5b
    #: ("workqueue: Make unbound workqueues to use per-cpu pool_workqueues") (in v6.6).
    wq_cpu_pwq: str
    #: wq->max_active/min_active (per workqueue) instead of pwq->max_active.
    #: Commit a045a272d887 ("workqueue: Move pwq->max_active to wq->max_active") (in v6.9).
    wq_max_active: bool
    #: wq->node_nr_active[]: unbound concurrency counted per NUMA node.
    #: Commit 91ccc6e7233b ("workqueue: Introduce struct wq_node_nr_active") (in v6.9).
    wq_node_nr_active: bool
    #: "attrs" (allocated for every workqueue) or "unbound_attrs" (unbound only).
    #: Commit 464e454e1cb4 ("workqueue: rename wq->unbound_attrs to wq->attrs"),
    #: queued for v7.3.
    wq_attrs: str
    # -- struct pool_workqueue
    #: pwq->plugged: ordered workqueues hold back a new pwq until the old one drains.
    #: Commit 4c065dbce1e8 ("workqueue: Enable unbound cpumask update on ordered
    #: workqueues") (in v6.9).
    pwq_plugged: bool
    #: PWQ_STAT_* names, in index order, or () before commit 725e8ec59c56
    #: ("workqueue: Add pwq->stats[] and a monitoring script") (in v6.5).
    pwq_stats: tuple[str, ...]
    #: pwq->mayday_cursor: the rescuer's place on the pool's worklist, not a work item.
    #: Commit e5a30c303b07 ("workqueue: Process rescuer work items one-by-one using a
    #: cursor") (in v7.0, backported to 6.12.y).
    pwq_mayday_cursor: bool
    # -- struct worker_pool
    #: "last_progress_ts" or "watchdog_ts": jiffies of the pool's last progress.
    #: Commit 6037160e52d7 ("workqueue: Rename pool->watchdog_ts to
    #: pool->last_progress_ts") (in v7.0).
    pool_progress_ts: str
    #: pool->cpu_stall, set by the watchdog. Commit cd2440d66fec ("workqueue: Print
    #: backtraces from CPUs with hung CPU bound workqueues") (in v6.4).
    pool_cpu_stall: bool
    #: per-cpu bh_worker_pools and POOL_BH. Commit 4cb1ef64609f ("workqueue:
    #: Implement BH workqueues to eventually replace tasklets") (in v6.9).
    bh_pools: bool
    # -- struct worker
    #: worker->current_at (task CPU time at start or last wakeup), commit 616db8779b1e
    #: ("workqueue: Automatically mark CPU-hogging work items CPU_INTENSIVE") (in v6.5).
    worker_current_at: bool
    #: worker->current_start (jiffies when the current item started). Commit
    #: e8e14ac7cfe4 ("workqueue: Show in-flight work item duration in stall
    #: diagnostics") (in v7.0).
    worker_current_start: bool
    #: format_worker_id(): /proc/PID/comm of a kworker is built from the worker,
    #: not task->comm. Commit 2a1b02bcba78 ("workqueue: Refactor worker ID
    #: formatting and make wq_worker_comm() use full ID string") (in v6.10).
    worker_full_id: bool
    # -- work->data (include/linux/workqueue.h)
    work_pending_bit: int
    work_inactive_bit: int
    work_pwq_bit: int
    work_linked_bit: int
    work_color_shift: int
    work_color_bits: int
    #: Bits below this hold flags and color; the pwq pointer is above.  Before
    #: v6.9 the boundary was WORK_STRUCT_FLAG_BITS; since commit e9a8e01f9b13
    #: ("workqueue: Clean up enum work_bits and related constants") (in v6.9)
    #: FLAG_BITS counts flag bits only and WORK_STRUCT_PWQ_SHIFT is the boundary.
    #: Commit afa4bb778e48 ("workqueue: clean up WORK_* constant types, clarify
    #: masking") (in v6.4) made the masks #defines, absent from DWARF, so the
    #: mask is computed here from the shift.
    work_pwq_shift: int
    work_offq_pool_shift: int
    work_offq_pool_bits: int
    #: Off-queue flag bits by name: CANCELING up to v6.9, BH since commit
    #: 456a78eef267 ("workqueue: Remember whether a work item was on a BH
    #: workqueue") (in v6.10).
    work_offq_flags: tuple[tuple[str, int], ...]
    #: Disable depth of a work item: (shift, bits), or None before commit
    #: 86898fa6b8cd ("workqueue: Implement disable/enable for (delayed) work
    #: items") (in v6.10).
    work_offq_disable: tuple[int, int] | None
    nr_colors: int
    # -- flags, by enumerator name
    wq_flags: tuple[tuple[str, int], ...]
    pool_flags: tuple[tuple[str, int], ...]
    worker_flags: tuple[tuple[str, int], ...]
    # -- functions recognised on lists
    wq_barrier_func: int | None
    mayday_cursor_func: int | None
    delayed_work_timer_fn: int | None
    #: HZ, from the enumerator CREATE_COOLDOWN (= HZ) in kernel/workqueue.c.
    hz: int | None
    # -- limits, from include/linux/workqueue.h (WQ_MAX_ACTIVE went 512 -> 2048 in v6.13)
    wq_max_active_limit: int
    wq_dfl_active: int
    #: WQ_DFL_MIN_ACTIVE (v6.9+), else None.
    wq_dfl_min_active: int | None
    #: WQ_MAX_UNBOUND_PER_CPU: unbound limit max(WQ_MAX_ACTIVE, this x CPUs) before v6.6.
    wq_max_unbound_per_cpu: int | None
    #: WORKER_NOT_RUNNING: flags that keep a worker out of pool->nr_running.
    worker_not_running: int
    #: Unbound workqueues with max_active == 1 are made ordered implicitly, until
    #: commit 3bc1e711c26b ("workqueue: Don't implicitly make UNBOUND workqueues
    #: w/ @max_active==1 ordered") (in v6.9) removed that with __WQ_ORDERED_EXPLICIT.
    implicit_ordered: bool

    @classmethod
    def from_features(cls, features: dict) -> "Layout":
        """The layout recorded in a snapshot's ``kernel.features``."""
        def tup(v):
            return tuple(tup(x) for x in v) if isinstance(v, list) else v
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tup(v) for k, v in features.items() if k in names})

    def flag(self, table: tuple[tuple[str, int], ...], name: str) -> int:
        for n, v in table:
            if n == name:
                return v
        return 0

    def wq_flag(self, name: str) -> int:
        return self.flag(self.wq_flags, name)

    def pool_flag(self, name: str) -> int:
        return self.flag(self.pool_flags, name)

    def worker_flag(self, name: str) -> int:
        return self.flag(self.worker_flags, name)


def _need(value: int | None, name: str) -> int:
    if value is None:
        raise LookupError(f"the kernel's debug info has no {name}")
    return value


def layout(prog: Program) -> Layout:
    """The :class:`Layout` of ``prog``'s kernel (cached per program)."""
    try:
        return prog.cache["wqinspect_layout"]
    except KeyError:
        pass
    wq = prog.type("struct workqueue_struct")
    pwq = prog.type("struct pool_workqueue")
    pool = prog.type("struct worker_pool")
    worker = prog.type("struct worker")
    ev = lambda name: enum_value(prog, name)  # noqa: E731

    color_shift = _need(ev("WORK_STRUCT_COLOR_SHIFT"), "WORK_STRUCT_COLOR_SHIFT")
    color_bits = _need(ev("WORK_STRUCT_COLOR_BITS"), "WORK_STRUCT_COLOR_BITS")
    pwq_shift = ev("WORK_STRUCT_PWQ_SHIFT")
    if pwq_shift is None:
        pwq_shift = color_shift + color_bits
    offq_flags = []
    for name, label in (("WORK_OFFQ_BH_BIT", "BH"), ("WORK_OFFQ_CANCELING_BIT", "CANCELING"),
                        ("__WORK_OFFQ_CANCELING", "CANCELING")):
        v = ev(name)
        if v is not None:
            offq_flags.append((label, v))
    disable_shift = ev("WORK_OFFQ_DISABLE_SHIFT")
    stats: tuple[str, ...] = ()
    nr_stats = ev("PWQ_NR_STATS")
    if nr_stats is not None and has_member(pwq, "stats"):
        enum = prog.constant("PWQ_NR_STATS").type_
        by_value = {e.value: e.name.removeprefix("PWQ_STAT_") for e in enum.enumerators
                    if e.name.startswith("PWQ_STAT_")}
        stats = tuple(by_value.get(i, str(i)).lower() for i in range(nr_stats))
    cooldown = ev("CREATE_COOLDOWN")
    lay = Layout(
        wq_cpu_pwq="cpu_pwq" if has_member(wq, "cpu_pwq") else "cpu_pwqs",
        wq_max_active=has_member(wq, "max_active"),
        wq_node_nr_active=has_member(wq, "node_nr_active"),
        wq_attrs="attrs" if has_member(wq, "attrs") else "unbound_attrs",
        pwq_plugged=has_member(pwq, "plugged"),
        pwq_stats=stats,
        pwq_mayday_cursor=has_member(pwq, "mayday_cursor"),
        pool_progress_ts="last_progress_ts" if has_member(pool, "last_progress_ts") else "watchdog_ts",
        pool_cpu_stall=has_member(pool, "cpu_stall"),
        bh_pools="bh_worker_pools" in prog,
        worker_current_at=has_member(worker, "current_at"),
        worker_current_start=has_member(worker, "current_start"),
        worker_full_id=ev("WORKER_ID_LEN") is not None,
        work_pending_bit=_need(ev("WORK_STRUCT_PENDING_BIT"), "WORK_STRUCT_PENDING_BIT"),
        work_inactive_bit=_need(ev("WORK_STRUCT_INACTIVE_BIT"), "WORK_STRUCT_INACTIVE_BIT"),
        work_pwq_bit=_need(ev("WORK_STRUCT_PWQ_BIT"), "WORK_STRUCT_PWQ_BIT"),
        work_linked_bit=_need(ev("WORK_STRUCT_LINKED_BIT"), "WORK_STRUCT_LINKED_BIT"),
        work_color_shift=color_shift,
        work_color_bits=color_bits,
        work_pwq_shift=pwq_shift,
        work_offq_pool_shift=_need(ev("WORK_OFFQ_POOL_SHIFT"), "WORK_OFFQ_POOL_SHIFT"),
        work_offq_pool_bits=ev("WORK_OFFQ_POOL_BITS") or 31,
        work_offq_flags=tuple(offq_flags),
        work_offq_disable=(disable_shift, ev("WORK_OFFQ_DISABLE_BITS") or 16) if disable_shift is not None else None,
        nr_colors=ev("WORK_NR_COLORS") or (1 << color_bits),
        wq_flags=_flag_enumerators(prog, "WQ_UNBOUND", r"_*WQ_", r"ACTIVE|PER_CPU|_LEN$|ALLOWS"),
        pool_flags=_flag_enumerators(prog, "POOL_DISASSOCIATED", r"POOL_", r"^$"),
        worker_flags=_flag_enumerators(prog, "WORKER_DIE", r"WORKER_", r"NOT_RUNNING"),
        wq_barrier_func=symbol_address(prog, "wq_barrier_func"),
        mayday_cursor_func=symbol_address(prog, "mayday_cursor_func"),
        delayed_work_timer_fn=symbol_address(prog, "delayed_work_timer_fn"),
        hz=cooldown,
        wq_max_active_limit=_need(ev("WQ_MAX_ACTIVE"), "WQ_MAX_ACTIVE"),
        wq_dfl_active=_need(ev("WQ_DFL_ACTIVE"), "WQ_DFL_ACTIVE"),
        wq_dfl_min_active=ev("WQ_DFL_MIN_ACTIVE"),
        wq_max_unbound_per_cpu=ev("WQ_MAX_UNBOUND_PER_CPU"),
        worker_not_running=_need(ev("WORKER_NOT_RUNNING"), "WORKER_NOT_RUNNING"),
        implicit_ordered=ev("__WQ_ORDERED_EXPLICIT") is not None,
    )
    prog.cache["wqinspect_layout"] = lay
    return lay


def decode_flags(value: int, table: tuple[tuple[str, int], ...]) -> list[str]:
    """Names of the bits of ``value``; bits with no name become a hex remainder."""
    names = [n for n, v in table if value & v]
    rest = value & ~sum(v for _, v in table)
    if rest:
        names.append(f"{rest:#x}")
    return names
