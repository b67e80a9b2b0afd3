# SPDX-License-Identifier: LGPL-2.1-or-later
"""The snapshot types: everything wqinspect read from a kernel, as typed plain data.

This is the contract between the readers (the only code that touches kernel
memory) and everything after them: the model, the checks, the diagnostics
and the views all work on a :class:`Snapshot`.  The types are
:class:`msgspec.Struct` classes, so a snapshot file is encoded, decoded and
validated in C (see :mod:`wqinspect.snapshot.io`).  Every integer is bounded;
kernel addresses and 64-bit words are :data:`Addr` (exact integers in the
snapshot file, ``"0x…"`` strings in the commands' JSON output).
"""

import re
from typing import Annotated, Iterable

import msgspec
from msgspec import Meta, field

from .layout import U64, Addr, Layout
from .vocab import FlusherWhere, Mode, PoolKind, Where, WqKind

#: Schema 2: msgspec types, addresses as integers, ``kernel.features`` a typed Layout.
#: Schema 1 (dataclasses, addresses as hex strings) is still read (io.upgrade_v1).
SCHEMA_VERSION = 2

#: A kernel count or signed value.
Int = Annotated[int, Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
#: A CPU, node or pool number, an index, a pid: a C int, -1 for "none" where the kernel says so (other negative
#: values are damage, which wqinspect.model.plausible reports: the schema holds what the kernel's type can).
Small = Annotated[int, Meta(ge=-(1 << 31), le=(1 << 31) - 1)]
#: A finite number of seconds.
Seconds = Annotated[float, Meta(ge=-1e12, le=1e12)]
#: [start, end) of an address range.
Range = tuple[Addr, Addr]

_MASK = (1 << 64) - 1


def cpulist(cpus) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"``, as the kernel prints CPU lists (%*pbl)."""
    if not cpus:
        return "-"
    out, start, prev = [], None, None
    for c in sorted(cpus):
        if start is None:
            start = prev = c
        elif c == prev + 1:
            prev = c
        else:
            out.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = prev = c
    out.append(f"{start}-{prev}" if prev != start else f"{start}")
    return ",".join(out)


def jiffies_delta(now: int, then: int) -> int:
    """``now - then`` in jiffies, as the kernel computes it: modulo 2^64, signed."""
    d = (now - then) & _MASK
    return d - (1 << 64) if d >= 1 << 63 else d


def jiffies_to_msecs(j: int, hz: int) -> int:
    """The kernel's jiffies_to_msecs() of an unsigned long ``j``: exact when HZ divides 1000, else rounded up
    (DIV_ROUND_UP(j * 1000, HZ) on 64-bit), returned as an unsigned int (truncated to 32 bits)."""
    j &= _MASK
    ms = (1000 // hz) * j if 1000 % hz == 0 else -(-j * 1000 // hz)
    return ms & 0xFFFFFFFF


class _S(msgspec.Struct, omit_defaults=False):
    """Base of the snapshot types."""


class TaskRef(_S):
    pid: Small
    comm: str
    #: Address of the struct task_struct.
    address: Addr = 0
    state: str | None = None


class FuncRef(_S):
    address: Addr = 0
    name: str | None = None
    #: Module the function is in; None for the kernel image itself.
    module: str | None = None

    def __str__(self) -> str:
        if self.name is None:
            return f"{self.address:#x}"
        return f"{self.name} [{self.module}]" if self.module else self.name


class ReadWarning(_S):
    """Something that could not be read, or read consistently."""

    object: str
    message: str


class KernelInfo(_S):
    release: str
    version: str = ""
    machine: str = ""
    hz: Annotated[int, Meta(ge=1, le=100_000)] | None = None
    jiffies: U64 = 0
    nr_cpu_ids: Annotated[int, Meta(ge=0, le=1 << 16)] = 0
    possible_cpus: list[Small] = []
    online_cpus: list[Small] = []
    nr_node_ids: Annotated[int, Meta(ge=0, le=1 << 16)] = 1
    #: [start, end) of the addresses modules are mapped at, where the architecture has one.
    module_area: Range | None = None
    #: What the readers detected about this kernel.
    features: Layout = field(default_factory=Layout)


class Target(_S):
    mode: Mode
    source: str
    live: bool
    #: ISO 8601 with the UTC offset (checked when a snapshot is loaded).
    captured_at: str = ""
    wqinspect_version: str = ""


class Flusher(_S):
    """A task in flush_workqueue(): its ``struct wq_flusher`` lives on its stack."""

    address: Addr = 0
    flush_color: Int = 0
    where: FlusherWhere = FlusherWhere.FIRST
    waiters: list[TaskRef] = []


class NodeNrActive(_S):
    """``wq->node_nr_active[index]`` (v6.9+ unbound workqueues)."""

    index: Small
    #: The NUMA node, or None for the last slot, used by pools with no node.
    node: Small | None
    nr: Int
    max: Int
    pending_pwqs: list[Addr] = []


class Pwq(_S):
    address: Addr = 0
    pool_id: Small = -1
    pool: Addr = 0
    work_color: Int = 0
    flush_color: Int = -1
    refcnt: Int = 0
    nr_in_flight: list[Int] = []
    nr_active: Int = 0
    #: pwq->max_active up to v6.8; None where the limit lives in the workqueue.
    max_active: Int | None = None
    #: pwq->plugged (v6.9+), else None.
    plugged: bool | None = None
    #: Items on pwq->inactive_works (barriers included).
    nr_inactive: Int = 0
    on_mayday: bool = False
    #: On its node's pending_pwqs list, waiting for an active slot (v6.9+).
    pending: bool = False
    #: CPUs whose slot (cpu_pwq / cpu_pwqs / numa_pwq_tbl) points to this pwq.
    cpus: list[Small] = []
    is_default: bool = False
    #: References the workqueue holds on this pwq: one per cpu_pwq slot, or per
    #: numa_pwq_tbl node slot before v6.6, plus dfl_pwq.
    slots: Int = 0
    #: pwq->stats[] by PWQ_STAT_ name (v6.5+), else None.
    stats: dict[str, Int] | None = None


class Workqueue(_S):
    address: Addr = 0
    name: str = ""
    #: The system_*_wq variable that points to this workqueue, if any.
    system_var: str | None = None
    flags: Addr = 0
    flag_names: list[str] = []
    kind: WqKind = WqKind.PERCPU
    #: The limit in force (wq->max_active, or saved_max_active up to v6.8).
    max_active: Int = 0
    saved_max_active: Int = 0
    min_active: Int | None = None
    work_color: Int = 0
    flush_color: Int = 0
    nr_pwqs_to_flush: Int = 0
    first_flusher: Flusher | None = None
    flusher_queue: list[Flusher] = []
    flusher_overflow: list[Flusher] = []
    nr_drainers: Int = 0
    rescuer: Addr | None = None
    rescuer_pid: Small | None = None
    #: CPUs of an unbound workqueue's attributes.
    cpus: list[Small] | None = None
    pwqs: list[Pwq] = []
    dfl_pwq: Addr | None = None
    node_nr_active: list[NodeNrActive] = []
    maydays: list[Addr] = []
    #: nice of an unbound workqueue's attributes.
    nice: Int | None = None
    #: Unbound attributes (v6.6+): affinity scope name and strictness, else None.
    affn_scope: str | None = None
    affn_strict: bool | None = None
    #: CPUs the rescuer task may run on.
    rescuer_cpus: list[Small] | None = None
    #: Before v6.6: (node, pool id) of each numa_pwq_tbl[] slot of an unbound workqueue.
    node_pools: list[tuple[Small, Small]] = []

    @property
    def label(self) -> str:
        """The name, with the system variable where names are shared."""
        return f"{self.name} ({self.system_var})" if self.system_var else self.name

    def named(self, name: str) -> bool:
        """Exact match of the name, the system variable (e.g. ``system_percpu_wq``) or the label."""
        return name in (self.name, self.system_var, self.label)

    @property
    def flushers(self) -> list[Flusher]:
        """The tasks in flush_workqueue(): the first one, the queued ones, then the overflowed ones."""
        return ([self.first_flusher] if self.first_flusher else []) + self.flusher_queue + self.flusher_overflow

    @property
    def flushing(self) -> bool:
        return self.first_flusher is not None or bool(self.flusher_queue) or bool(self.flusher_overflow)

    @property
    def flushed_colors(self) -> set[int]:
        """The colors the first and the queued flushers wait for."""
        return {f.flush_color for f in self.flushers if f.where != FlusherWhere.OVERFLOW}

    def totals(self) -> dict[str, int]:
        """Active, inactive and in-flight items over the pwqs, as the kernel counts them."""
        return {
            "active": sum(p.nr_active for p in self.pwqs),
            "inactive": sum(p.nr_inactive for p in self.pwqs),
            "in_flight": sum(sum(p.nr_in_flight) for p in self.pwqs),
        }

    def stat_sums(self) -> dict[str, int] | None:
        """pwq->stats[] summed over the pwqs; None on kernels without them."""
        if not any(p.stats is not None for p in self.pwqs):
            return None
        out: dict[str, int] = {}
        for p in self.pwqs:
            for k, v in (p.stats or {}).items():
                out[k] = out.get(k, 0) + v
        return out


class Pool(_S):
    address: Addr = 0
    id: Small = -1
    cpu: Small = -1
    node: Small = -1
    flags: Addr = 0
    flag_names: list[str] = []
    kind: PoolKind = PoolKind.CPU
    #: attrs->nice: -20 to 19 in a sound kernel (a C int in the schema; see Small).
    nice: Annotated[int, Meta(ge=-(1 << 31), le=(1 << 31) - 1)] = 0
    cpus: list[Small] = []
    pod_cpus: list[Small] | None = None
    strict: bool | None = None
    nr_workers: Int = 0
    nr_idle: Int = 0
    nr_running: Int = 0
    #: Work items on pool->worklist (the rescuer's cursor excluded).
    worklist_len: Int = 0
    #: Jiffies of the last forward progress (watchdog_ts / last_progress_ts).
    progress_ts: U64 = 0
    cpu_stall: bool | None = None
    manager: Addr | None = None
    refcnt: Int = 0
    #: pool->workers, pool->idle_list and busy_hash, as worker addresses.
    workers: list[Addr] = []
    idle: list[Addr] = []
    busy: list[Addr] = []

    def printed(self) -> str:
        """What pr_cont_pool_info() prints for the pool: `` cpus=0-3 node=0 flags=0x4 nice=0`` (an empty mask
        prints nothing after ``cpus=``; a BH pool, v6.9+, says ``bh`` or ``bh-hi`` where others say ``nice=N``)."""
        text = f" cpus={cpulist(self.cpus) if self.cpus else ''}"
        if self.node != -1:
            text += f" node={self.node}"
        text += f" flags={self.flags:#x}"
        if self.kind.bh:
            return text + (" bh-hi" if self.kind.highpri else " bh")
        return text + f" nice={self.nice}"


class Worker(_S):
    address: Addr = 0
    pool_id: Small | None = None
    id: Int = -1
    flags: Addr = 0
    flag_names: list[str] = []
    #: None for the pseudo-workers of BH pools, which have no task.
    task: TaskRef | None = None
    #: The name as ps shows it (wq_worker_comm()); None without a task.
    name: str | None = None
    desc: str = ""
    #: The workqueue this worker rescues, for rescuers.
    rescuer_of: str | None = None
    rescue_wq: Addr | None = None
    current_work: Addr | None = None
    current_func: FuncRef | None = None
    current_pwq: Addr | None = None
    current_color: Int | None = None
    #: Jiffies when the current item started (v7.0+).
    current_start: U64 | None = None
    #: CPU time the task used in the current item since its start or last wakeup (v6.5+), ns.
    current_cpu_ns: U64 | None = None
    sleeping: bool = False
    last_func: FuncRef | None = None
    last_active: U64 = 0
    is_manager: bool = False

    @property
    def state(self) -> str:
        if "WORKER_IDLE" in self.flag_names:
            return "idle"
        if self.current_work is not None:
            # worker->sleeping is kept for concurrency-managed workers only: the
            # task's state says whether an item is on a CPU or blocked.
            if self.task is not None and self.task.state not in (None, "R"):
                return f"blocked ({self.task.state})"
            return "sleeping" if self.sleeping else "running"
        if self.is_manager:
            return "managing"
        if self.rescuer_of is not None:
            return "rescuer"
        return "starting" if "WORKER_PREP" in self.flag_names else "busy"


class Barrier(_S):
    """The item flush_work() inserts behind the work it waits for."""

    waiter: TaskRef | None = None
    #: The work the waiter flushes: the item right before it, or the worker's current one.
    target: Addr | None = None


class DelayedTimer(_S):
    timer: Addr = 0
    expires: U64 = 0
    #: CPU of the timer wheel the timer is on.
    timer_cpu: Small = -1
    #: delayed_work->cpu: the CPU the work will be queued on, None for WORK_CPU_UNBOUND.
    target_cpu: Small | None = None


class Work(_S):
    address: Addr = 0
    func: FuncRef = field(default_factory=FuncRef)
    #: work->data as read, and its flag bits.  For a running item this is the word as it is now
    #: (the kernel accounts the item with a copy taken when it started: func, color and pwq come
    #: from the worker instead).
    data: Addr = 0
    flag_names: list[str] = []
    color: Int | None = None
    where: Where = Where.WORKLIST
    #: Index on its list (0 = next to run).
    position: Int = 0
    pwq: Addr | None = None
    wq: Addr | None = None
    wq_name: str | None = None
    #: The pool it sits in; for delayed and rcu items (in no pool yet), the pool its data word
    #: names: the last one it ran on, if any.
    pool_id: Small | None = None
    #: The worker running it or holding it on ->scheduled.
    worker: Addr | None = None
    barrier: Barrier | None = None
    delayed: DelayedTimer | None = None
    #: For rcu works: the CPU whose RCU callback list holds it.
    rcu_cpu: Small | None = None

    @property
    def is_barrier(self) -> bool:
        return self.barrier is not None

    @property
    def in_pool(self) -> int | None:
        """The pool it sits in (None for an item still on a timer or waiting for RCU)."""
        return self.pool_id if Where(self.where).in_pool else None


class BrokenTimer(_S):
    """A timer wheel link into memory that cannot be read."""

    cpu: Small
    base: Small
    address: Addr = 0
    error: str = ""


class Module(_S):
    name: str
    #: [start, end) address ranges of the module's memory.
    ranges: list[Range] = []

    def covers(self, address: int) -> bool:
        return any(a <= address < b for a, b in self.ranges)


class Watchdog(_S):
    """The workqueue watchdog's state (CONFIG_WQ_WATCHDOG)."""

    #: wq_watchdog_thresh in seconds (0: disabled); None where the kernel has no watchdog.
    thresh: Annotated[int, Meta(ge=0, le=(1 << 63) - 1)] | None = None
    #: wq_watchdog_touched (jiffies), for unbound pools.
    touched: U64 | None = None
    #: (cpu, wq_watchdog_touched_cpu) pairs, for per-cpu pools.
    touched_cpu: list[tuple[Small, U64]] = []


class HogEntry(_S):
    func: FuncRef
    #: How many times the kernel found the function hogging a CPU.
    count: Int


class CpuIntensive(_S):
    """Automatic CPU-hog detection (v6.5+)."""

    #: wq_cpu_intensive_thresh_us (ULONG_MAX until initialized); None before v6.5.
    thresh_us: U64 | None = None
    warning_thresh: U64 | None = None
    #: Whether the kernel keeps the per-function table (CONFIG_WQ_CPU_INTENSIVE_REPORT).
    report: bool = False
    hogs: list[HogEntry] = []


class LogRecord(_S):
    #: Seconds since boot, as printk stamps them.
    time: Seconds
    text: str


class TaskStack(_S):
    task: TaskRef
    #: Why it was captured: "busy worker", "barrier waiter", "flusher", "on cpu N", "blocked in flush".
    why: str
    cpu: Small | None = None
    on_cpu: bool = False
    frames: list[str] = []
    error: str | None = None


class Scope(_S):
    """An affinity scope (v6.6+): how CPUs are grouped into pods for unbound work."""

    index: Small
    name: str
    default: bool = False
    nr_pods: Small = 0
    pod_cpus: list[list[Small]] = []
    pod_node: list[Small] = []
    cpu_pod: list[Small] = []


class Topology(_S):
    #: wq_unbound_cpumask.
    unbound_cpus: list[Small] = []
    scopes: list[Scope] = []
    #: CPUs of each NUMA node (node_to_cpumask_map), by node.
    node_cpus: list[list[Small]] = []


class Sysfs(_S):
    """What /sys/devices/virtual/workqueue says, read on a live host (the running kernel only)."""

    root: str = "/sys/devices/virtual/workqueue"
    #: Files of the directory itself (cpumask, cpumask_requested, ...): name -> content.
    global_attrs: dict[str, str] = {}
    #: WQ_SYSFS workqueues: directory name -> {attribute: content}.
    workqueues: dict[str, dict[str, str]] = {}


class WqCounters(_S):
    """One workqueue's counters, for the monitor."""

    address: Addr = 0
    name: str = ""
    system_var: str | None = None
    kind: WqKind = WqKind.PERCPU
    mem_reclaim: bool = False
    #: pwq->stats[] summed over the pwqs, by PWQ_STAT_ name; None before v6.5.
    stats: dict[str, Int] | None = None
    nr_active: Int = 0
    in_flight: Int = 0
    #: Counted (by walking the lists) only on kernels without stats.
    inactive: Int | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.system_var})" if self.system_var else self.name

    @property
    def unbound(self) -> bool:
        return self.kind in (WqKind.UNBOUND, WqKind.ORDERED)


class CountersSample(_S):
    """What the monitor reads at each interval."""

    kernel: str
    #: Host time (seconds since the epoch) and the kernel's jiffies at the read.
    time: Seconds
    jiffies: U64
    hz: Annotated[int, Meta(ge=1, le=100_000)] | None
    has_stats: bool
    workqueues: list[WqCounters] = []
    #: What could not be read in this interval (a live kernel changing a list under the read).
    warnings: list[ReadWarning] = []


class CrashFrame(_S):
    """A frame of the crashed task's stack, innermost first."""

    pc: Addr = 0
    #: The function whose symbol covers ``pc`` (None where no symbol does).
    function: str | None = None
    offset: U64 = 0
    size: U64 = 0
    module: str | None = None
    #: Functions inlined at ``pc``, innermost first (they share this frame's location).
    inlined: list[str] = []
    #: Source file and line, where the debug info says.
    source: str | None = None
    #: Registers of this frame come from an exception frame (pt_regs) of the crash: the code that faulted.
    interrupted: bool = False

    def location(self) -> str:
        """``function+0xoff/0xsize [module]``, as the kernel prints a frame."""
        if self.function is None:
            return f"{self.pc:#x}"
        text = f"{self.function}+{self.offset:#x}/{self.size:#x}"
        return f"{text} [{self.module}]" if self.module else text


class CrashAddress(_S):
    """An address the crash report names, and what its memory is in the dump."""

    address: Addr
    #: What the report says it is: "fault address", "RIP", "list entry", "next", "prev".
    role: str
    #: "kernel image", "module", "module area" (in no loaded module), "slab", "direct map", "vmalloc", "other".
    region: str = "other"
    module: str | None = None
    symbol: str | None = None
    #: The slab cache of the object at the address (drgn's slab helpers), whether it is allocated,
    #: and the object's start.
    slab_cache: str | None = None
    slab_allocated: bool | None = None
    slab_object: Addr | None = None
    #: The memory could be read from the dump (False: unmapped, or excluded by makedumpfile).
    readable: bool = True
    error: str | None = None


class HungTask(_S):
    """A task the hung task detector reported (``INFO: task COMM:PID blocked for more than N seconds.``)."""

    comm: str
    pid: Small
    seconds: Annotated[int, Meta(ge=0, le=1 << 40)] = 0


class Crash(_S):
    """Why the kernel crashed: what its log says and what the dump shows (a kernel that panicked)."""

    #: The ``Kernel panic - not syncing:`` message.
    panic: str | None = None
    #: The report's lines: ``BUG:``, ``Oops``, ``kernel BUG at``, ``list_del corruption``,
    #: ``general protection fault``, ``INFO: task ... blocked``, ``RIP:``, the panic.
    lines: list[LogRecord] = []
    #: The CPU that panicked (``panic_cpu``) and the task it ran.
    cpu: Small | None = None
    task: TaskRef | None = None
    #: Its stack, unwound through the exception frame of the oops.
    frames: list[CrashFrame] = []
    frames_error: str | None = None
    #: The log's ``RIP:`` of the oops, as printed (``__run_timers+0x13a/0x330``).
    rip: str | None = None
    #: The address the log says faulted (page fault, NULL pointer dereference, non-canonical address).
    fault_address: Addr | None = None
    hung_tasks: list[HungTask] = []
    #: The first report's ``Call Trace:`` as the kernel printed it (reliable entries; ``?`` ones only without those):
    #: where drgn cannot unwind (code of an unloaded module has no unwind information), this still says.
    log_trace: list[str] = []
    #: ``[last unloaded: NAME]`` of the oops' module list.
    last_unloaded: str | None = None
    #: The addresses the report names, and what their memory is.
    addresses: list[CrashAddress] = []

    @property
    def exception_frame(self) -> "CrashFrame | None":
        """The frame that faulted: the one the log's RIP names, else the first one past the unwinding start whose
        registers come from an exception frame.  A QEMU dump's stack starts in panic(), and the oops' frame
        follows; kdump saves the oops' own registers, so there the first frame is the one that faulted."""
        kernel = [f for i, f in enumerate(self.frames) if (f.interrupted or i == 0) and f.pc >= 1 << 63]
        if self.rip:
            name = self.rip.split("+", 1)[0]
            pc = int(name, 16) if re.fullmatch(r"0x[0-9a-fA-F]{1,16}", name) else None
            for f in kernel:
                if f.function == name or (pc is not None and f.pc == pc):
                    return f
        return next((f for f in self.frames[1:] if f.interrupted and f.pc >= 1 << 63), None)


class Snapshot(_S, dict=True):
    """Everything read from one kernel at one time.

    A captured snapshot shares equal lists and dicts between its objects (the flag names of work
    items with one data word, the counters of idle pwqs): change it by assigning fields, never by
    changing a list or dict in place.
    """

    kernel: KernelInfo
    target: Target
    workqueues: list[Workqueue] = []
    pools: list[Pool] = []
    workers: list[Worker] = []
    works: list[Work] = []
    broken_timers: list[BrokenTimer] = []
    modules: list[Module] = []
    #: [start, end) of the kernel image (text and data).
    kernel_image: Range | None = None
    last_unloaded_module: str | None = None
    watchdog: Watchdog | None = None
    cpu_intensive: CpuIntensive | None = None
    topology: Topology | None = None
    #: Read only when the target is the running kernel.
    sysfs: Sysfs | None = None
    #: Seconds since boot at capture (CLOCK_BOOTTIME, the clock of log timestamps).
    uptime: Seconds | None = None
    #: Read by deep captures (snapshot, diagnose): workqueue messages of the kernel log
    #: and the stacks of the tasks involved.
    log: list[LogRecord] = []
    stacks: list[TaskStack] = []
    warnings: list[ReadWarning] = []
    #: Why the kernel crashed, read from a kernel that panicked (deep captures); None otherwise.
    crash: Crash | None = None
    schema: int = SCHEMA_VERSION

    # -- not part of the file: where it was loaded from, and the index (wqinspect.snapshot.index)
    @property
    def loaded_from(self) -> str | None:
        return self.__dict__.get("_loaded_from")

    @loaded_from.setter
    def loaded_from(self, path: str | None) -> None:
        self.__dict__["_loaded_from"] = path

    @property
    def ix(self):
        """The lookups, built on first use (call :meth:`reindex` after changing the lists)."""
        ix = self.__dict__.get("_ix")
        if ix is None:
            from .index import Index

            ix = self.__dict__["_ix"] = Index(self)
        return ix

    def reindex(self) -> None:
        self.__dict__.pop("_ix", None)

    # -- lookups (thin names over the index)
    def pool(self, pool_id: int | None) -> Pool | None:
        return self.ix.pools.get(pool_id)

    def worker(self, address: int | None) -> Worker | None:
        return self.ix.workers.get(address)

    def workqueue(self, address: int | None) -> Workqueue | None:
        return self.ix.workqueues.get(address)

    def workqueues_named(self, name: str) -> list[Workqueue]:
        return [w for w in self.workqueues if w.named(name)]

    def pwq(self, address: int | None) -> tuple[Workqueue, Pwq] | tuple[None, None]:
        return self.ix.pwqs.get(address, (None, None))

    def stack(self, pid: int | None) -> TaskStack | None:
        return self.ix.stacks.get(pid)

    def works_of(self, wq: Workqueue) -> list[Work]:
        return self.ix.works_by_wq.get(wq.address, [])

    def jiffies_ago(self, ts: int | None) -> float | None:
        """Seconds from jiffies ``ts`` to the capture; None if HZ is unknown."""
        if ts is None or not self.kernel.hz:
            return None
        return jiffies_delta(self.kernel.jiffies, ts) / self.kernel.hz

    def longest_running_first(self, workers: Iterable["Worker"]) -> list["Worker"]:
        """``workers`` by how long their current item has run, longest first (those with no start time
        last): the order in which busy workers tell most about a pool that does not progress."""
        return sorted(workers, key=lambda w: -(self.jiffies_ago(w.current_start) or 0))

    def module_of(self, address: int) -> Module | None:
        return next((m for m in self.modules if m.covers(address)), None)

    def in_kernel_image(self, address: int) -> bool:
        return self.kernel_image is not None and self.kernel_image[0] <= address < self.kernel_image[1]

    # -- JSON (wqinspect.snapshot.io)
    def dumps(self, indent: int | None = 1) -> str:
        from .io import dumps

        return dumps(self, indent)

    @classmethod
    def from_dict(cls, data) -> "Snapshot":
        from .io import from_dict

        return from_dict(data)

    @classmethod
    def load(cls, path: str) -> "Snapshot":
        from .io import load

        return load(path)
