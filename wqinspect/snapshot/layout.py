# SPDX-License-Identifier: LGPL-2.1-or-later
"""The record of what a kernel's workqueue code looks like, and what decodes with it.

:func:`wqinspect.kernel.layout.layout` detects each field from a kernel's
debug info (members, symbols, enumerators; never a version number) and the
snapshot carries the record as ``kernel.features``, so that everything after
the snapshot (the model, the checks, the views) uses the same facts without
drgn.  The defaults are those of a current kernel, for states the model makes.
"""

from typing import Annotated, Literal

import msgspec

from .vocab import WqKind

#: A kernel address or a 64-bit word of flags (an integer in the snapshot file, exact to 64 bits;
#: ``"0x…"`` in the commands' JSON).  msgspec bounds integers to int64 only, so values over 2^64 - 1
#: are refused by :func:`wqinspect.snapshot.io.decode` instead.
Addr = Annotated[int, msgspec.Meta(ge=0, extra={"addr": True})]
#: An unsigned 64-bit kernel value that is not an address (jiffies, a threshold).
U64 = Annotated[int, msgspec.Meta(ge=0, extra={"u64": True})]
#: A bit number or shift in a 64-bit word.
Bit = Annotated[int, msgspec.Meta(ge=0, le=63)]
#: Flags by enumerator name: ((name, value), ...).
Flags = tuple[tuple[str, U64], ...]


class Layout(msgspec.Struct, frozen=True, kw_only=True):
    # -- struct workqueue_struct
    #: "cpu_pwq": a per-cpu pointer to each CPU's pwq, for every kind of workqueue;
    #: "cpu_pwqs": per-cpu embedded pwqs of per-cpu workqueues only, unbound ones
    #: use numa_pwq_tbl[]. Commits 687a9aa56f81 ("workqueue: Make per-cpu
    #: pool_workqueues allocated and released like unbound ones") and 636b927eba5b
    #: ("workqueue: Make unbound workqueues to use per-cpu pool_workqueues") (in v6.6).
    wq_cpu_pwq: Literal["cpu_pwq", "cpu_pwqs"] = "cpu_pwq"
    #: wq->max_active/min_active (per workqueue) instead of pwq->max_active.
    #: Commit a045a272d887 ("workqueue: Move pwq->max_active to wq->max_active") (in v6.9).
    wq_max_active: bool = True
    #: wq->node_nr_active[]: unbound concurrency counted per NUMA node.
    #: Commit 91ccc6e7233b ("workqueue: Introduce struct wq_node_nr_active") (in v6.9).
    wq_node_nr_active: bool = True
    #: "attrs" (allocated for every workqueue) or "unbound_attrs" (unbound only).
    #: Commit 464e454e1cb4 ("workqueue: rename wq->unbound_attrs to wq->attrs"),
    #: queued for v7.3.
    wq_attrs: Literal["attrs", "unbound_attrs"] = "unbound_attrs"
    # -- struct pool_workqueue
    #: pwq->plugged: ordered workqueues hold back a new pwq until the old one drains.
    #: Commit 4c065dbce1e8 ("workqueue: Enable unbound cpumask update on ordered
    #: workqueues") (in v6.9).
    pwq_plugged: bool = True
    #: PWQ_STAT_* names, in index order, or () before commit 725e8ec59c56
    #: ("workqueue: Add pwq->stats[] and a monitoring script") (in v6.5).
    pwq_stats: tuple[str, ...] = ()
    #: pwq->mayday_cursor: the rescuer's place on the pool's worklist, not a work item.
    #: Commit e5a30c303b07 ("workqueue: Process rescuer work items one-by-one using a
    #: cursor") (in v7.0, backported to 6.12.y).
    pwq_mayday_cursor: bool = False
    # -- struct worker_pool
    #: "last_progress_ts" or "watchdog_ts": jiffies of the pool's last progress.
    #: Commit 6037160e52d7 ("workqueue: Rename pool->watchdog_ts to
    #: pool->last_progress_ts") (in v7.0).
    pool_progress_ts: Literal["last_progress_ts", "watchdog_ts"] = "last_progress_ts"
    #: pool->cpu_stall, set by the watchdog. Commit cd2440d66fec ("workqueue: Print
    #: backtraces from CPUs with hung CPU bound workqueues") (in v6.4).
    pool_cpu_stall: bool = True
    #: per-cpu bh_worker_pools and POOL_BH. Commit 4cb1ef64609f ("workqueue:
    #: Implement BH workqueues to eventually replace tasklets") (in v6.9).
    bh_pools: bool = True
    # -- struct worker
    #: worker->current_at (task CPU time at start or last wakeup), commit 616db8779b1e
    #: ("workqueue: Automatically mark CPU-hogging work items CPU_INTENSIVE") (in v6.5).
    worker_current_at: bool = True
    #: worker->current_start (jiffies when the current item started). Commit
    #: e8e14ac7cfe4 ("workqueue: Show in-flight work item duration in stall
    #: diagnostics") (in v7.0).
    worker_current_start: bool = True
    #: format_worker_id(): /proc/PID/comm of a kworker is built from the worker,
    #: not task->comm. Commit 2a1b02bcba78 ("workqueue: Refactor worker ID
    #: formatting and make wq_worker_comm() use full ID string") (in v6.10).
    worker_full_id: bool = True
    #: worker->current_color (the flush color of the running item). Commit d812796eb390
    #: ("workqueue: Assign a color to barrier work items") (in v5.15); before, the color
    #: lived only in process_one_work()'s stack frame: a running item's color is unknown.
    worker_current_color: bool = True
    #: "inactive_works" or "delayed_works": a pwq's items held back by max_active (and the
    #: bit WORK_STRUCT_INACTIVE_BIT or WORK_STRUCT_DELAYED_BIT). Commit f97a4a1a3f87
    #: ("workqueue: Rename "delayed" (delayed by active management) to "inactive"") (in
    #: v5.15; Debian's 5.10.y has it as a stable backport).
    pwq_inactive_list: Literal["inactive_works", "delayed_works"] = "inactive_works"
    #: WORK_NO_COLOR, the color of barrier items that then count neither in nr_in_flight[]
    #: nor in nr_active and carry no INACTIVE bit; None since commits d812796eb390
    #: ("workqueue: Assign a color to barrier work items"), 018f3a13dd63 ("workqueue: Mark
    #: barrier work with WORK_STRUCT_INACTIVE") and bdb0a6548d22 ("workqueue: Remove unused
    #: WORK_NO_COLOR") (in v5.15).  WORK_NR_COLORS is then 15, not 16.
    work_no_color: int | None = None
    #: pool->nr_running is a plain int, no longer an atomic_t. Commit bc35f7ef9628
    #: ("workqueue: Convert the type of pool->nr_running to int") (in v5.18).
    pool_nr_running_int: bool = True
    # -- struct workqueue_attrs
    #: attrs->__pod_cpumask (the pod of an unbound pool). Commit 9546b29e4a6a
    #: ("workqueue: Add workqueue_attrs->__pod_cpumask") (in v6.6).
    attrs_pod_cpumask: bool = True
    #: attrs->affn_strict. Commit 8639ecebc9b1 ("workqueue: Implement non-strict
    #: affinity scope for unbound workqueues") (in v6.6).
    attrs_affn_strict: bool = True
    #: attrs->affn_scope and wq_affn_names[]. Commit 63c5484e7495 ("workqueue: Add
    #: multiple affinity scopes and interface to select them") (in v6.6).
    attrs_affn_scope: bool = True
    # -- outside the workqueue code
    #: "__state" or "state": the member holding a task's state. Commit 2f064a59a11f
    #: ("sched: Change task_struct::state") (in v5.14).
    task_state: Literal["__state", "state"] = "__state"
    #: task->on_cpu exists (CONFIG_SMP).
    task_on_cpu: bool = True
    #: rcu_data.nocb_bypass, a second list of callbacks on offloaded CPUs (CONFIG_RCU_NOCB_CPU).
    #: Commit d1b222c6be1f ("rcu/nocb: Add bypass callback queueing") (in v5.5).
    rcu_nocb_bypass: bool = True
    #: Completions wait on a simple wait queue (swait: ->task_list of struct swait_queue)
    #: instead of a wait queue head. Commit a5c6234e1028 ("completion: Use simple wait
    #: queues") (in v5.7).
    completion_swait: bool = True
    #: last_unloaded_module is a struct with name and taints, not a plain string.
    #: Commit 6f1dae1d84d6 ("module: Show the last unloaded module's taint flag(s)") (in v6.0).
    last_unloaded_module_struct: bool = True
    #: The kernel's workqueue dump folds runs of one function as ``N*fn`` (pr_cont_work_flush(); ``struct
    #: pr_cont_work_struct`` in the debug info): commit c76feb0d5dfd ("workqueue: Make show_pwq() use
    #: run-length encoding", v6.3).  6.1 and 5.10 print every item.
    dump_folds: bool = True
    #: The kernel has loadable modules (CONFIG_MODULES: the ``modules`` list and ``struct module``); without
    #: them there are no modules to list and no last unloaded one.
    modules: bool = True
    #: cpumask_var_t is a pointer to an allocated mask (CONFIG_CPUMASK_OFFSTACK), not a one-element array.
    cpumask_offstack: bool = True
    #: wq_cpu_intensive_warning_thresh exists (CONFIG_WQ_CPU_INTENSIVE_REPORT, on kernels newer than the
    #: report itself).
    cpu_intensive_warning_thresh: bool = False
    #: The table of CPU-hogging work functions, wci_ents (CONFIG_WQ_CPU_INTENSIVE_REPORT). Commit
    #: 636384500520 ("workqueue: Report work funcs that trigger automatic CPU_INTENSIVE mechanism") (in v6.5).
    cpu_intensive_report: bool = False
    # -- work->data (include/linux/workqueue.h)
    work_pending_bit: Bit = 0
    work_inactive_bit: Bit = 1
    work_pwq_bit: Bit = 2
    work_linked_bit: Bit = 3
    work_color_shift: Bit = 4
    work_color_bits: Bit = 4
    #: Bits below this hold flags and color; the pwq pointer is above.  Before
    #: v6.9 the boundary was WORK_STRUCT_FLAG_BITS; since commit e9a8e01f9b13
    #: ("workqueue: Clean up enum work_bits and related constants") (in v6.9)
    #: FLAG_BITS counts flag bits only and WORK_STRUCT_PWQ_SHIFT is the boundary.
    #: Commit afa4bb778e48 ("workqueue: clean up WORK_* constant types, clarify
    #: masking") (in v6.4) made the masks #defines, absent from DWARF, so the
    #: mask is computed here from the shift.
    work_pwq_shift: Bit = 8
    work_offq_pool_shift: Bit = 21
    work_offq_pool_bits: Bit = 31
    #: Off-queue flag bits by name: CANCELING up to v6.9, BH since commit
    #: 456a78eef267 ("workqueue: Remember whether a work item was on a BH
    #: workqueue") (in v6.10).
    work_offq_flags: tuple[tuple[str, Bit], ...] = ()
    #: Disable depth of a work item: (shift, bits), or None before commit
    #: 86898fa6b8cd ("workqueue: Implement disable/enable for (delayed) work
    #: items") (in v6.10).
    work_offq_disable: tuple[Bit, Bit] | None = None
    nr_colors: Annotated[int, msgspec.Meta(ge=1, le=64)] = 16
    # -- flags, by enumerator name
    wq_flags: Flags = ()
    pool_flags: Flags = ()
    worker_flags: Flags = ()
    # -- functions recognised on lists
    wq_barrier_func: Addr | None = None
    mayday_cursor_func: Addr | None = None
    delayed_work_timer_fn: Addr | None = None
    #: HZ, from the enumerator CREATE_COOLDOWN (= HZ) in kernel/workqueue.c.
    hz: int | None = None
    # -- limits, from include/linux/workqueue.h (WQ_MAX_ACTIVE went 512 -> 2048 in v6.13)
    wq_max_active_limit: int = 2048
    wq_dfl_active: int = 1024
    #: WQ_DFL_MIN_ACTIVE (v6.9+), else None.
    wq_dfl_min_active: int | None = 8
    #: WQ_MAX_UNBOUND_PER_CPU: unbound limit max(WQ_MAX_ACTIVE, this x CPUs) before v6.6.
    wq_max_unbound_per_cpu: int | None = None
    #: WORKER_NOT_RUNNING: flags that keep a worker out of pool->nr_running.
    worker_not_running: int = 0
    #: Unbound workqueues with max_active == 1 are made ordered implicitly, until
    #: commit 3bc1e711c26b ("workqueue: Don't implicitly make UNBOUND workqueues
    #: w/ @max_active==1 ordered") (in v6.9) removed that with __WQ_ORDERED_EXPLICIT.
    implicit_ordered: bool = False

    def flag(self, table: Flags, name: str) -> int:
        for n, v in table:
            if n == name:
                return v
        return 0

    def wq_flag(self, name: str) -> int:
        return self.flag(self.wq_flags, name)

    def pool_flag(self, name: str) -> int:
        return self.flag(self.pool_flags, name)

    def wq_kind(self, flags: int) -> WqKind:
        """What kind of workqueue ``wq->flags`` make."""
        if flags & self.wq_flag("WQ_BH"):
            return WqKind.BH
        if flags & self.wq_flag("WQ_UNBOUND"):
            return WqKind.ORDERED if flags & self.wq_flag("__WQ_ORDERED") else WqKind.UNBOUND
        return WqKind.PERCPU

    def not_running_flag_names(self) -> frozenset[str]:
        """Names of the worker flags that keep a worker out of pool->nr_running."""
        return frozenset(n for n, v in self.worker_flags if v & self.worker_not_running)


def decode_flags(value: int, table: Flags) -> list[str]:
    """Names of the bits of ``value``; bits with no name become a hex remainder."""
    names = [n for n, v in table if value & v]
    rest = value & ~sum(v for _, v in table)
    if rest:
        names.append(f"{rest:#x}")
    return names


class WorkData(msgspec.Struct, frozen=True):
    """A decoded ``work_struct->data`` (atomic_long_t)."""

    raw: int
    pending: bool
    inactive: bool
    linked: bool
    #: Set while the item is queued: ``pwq`` and ``color`` are then valid.
    queued: bool
    pwq: int
    color: int | None
    #: Off queue: the pool the item last ran on (None if unknown).
    pool_id: int | None
    offq_flags: tuple[str, ...]
    disable_depth: int | None

    def flag_names(self) -> list[str]:
        names = [n for n, on in (("PENDING", self.pending), ("INACTIVE", self.inactive),
                                 ("PWQ", self.queued), ("LINKED", self.linked)) if on]
        return names + [f"OFFQ_{f}" for f in self.offq_flags]


def decode_work_data(lay: Layout, data: int) -> WorkData:
    """Decode ``work->data`` with the bit layout of the kernel at hand."""
    data &= (1 << 64) - 1
    queued = bool(data >> lay.work_pwq_bit & 1)
    pool_id = offq = disable = None
    if queued:
        pwq = data & ~((1 << lay.work_pwq_shift) - 1)
        color = data >> lay.work_color_shift & ((1 << lay.work_color_bits) - 1)
    else:
        pwq, color = 0, None
        pool = data >> lay.work_offq_pool_shift & ((1 << lay.work_offq_pool_bits) - 1)
        pool_id = None if pool == (1 << lay.work_offq_pool_bits) - 1 else pool
        offq = tuple(name for name, bit in lay.work_offq_flags if data >> bit & 1)
        if lay.work_offq_disable:
            shift, bits = lay.work_offq_disable
            disable = data >> shift & ((1 << bits) - 1)
    return WorkData(data, bool(data >> lay.work_pending_bit & 1), bool(data >> lay.work_inactive_bit & 1),
                    bool(data >> lay.work_linked_bit & 1), queued, pwq, color, pool_id, offq or (), disable)
