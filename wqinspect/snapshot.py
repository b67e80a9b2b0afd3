# SPDX-License-Identifier: LGPL-2.1-or-later
"""The snapshot: everything wqinspect read from a kernel, as plain data.

This is the contract between the readers (the only code that touches kernel
memory) and everything after them: the model, the checks, the diagnostics
and the views all work on a :class:`Snapshot`, which can be saved as JSON and
loaded back without a kernel.  Kernel addresses are written as hex strings
(JSON readers often lose precision on 64-bit integers).

Bump :data:`SCHEMA_VERSION` when a field changes meaning or disappears;
adding a field with a default keeps old files readable.
"""

import dataclasses
import datetime
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

SCHEMA_VERSION = 1


def cpulist(cpus: list[int] | None) -> str:
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


def addr(default: Any = None) -> Any:
    """A field holding a kernel address (or a list of them): hex in JSON."""
    if isinstance(default, list):
        return field(default_factory=list, metadata={"addr": True})
    return field(default=default, metadata={"addr": True})


@dataclass
class TaskRef:
    pid: int
    comm: str
    #: Address of the struct task_struct.
    address: int = addr(0)
    state: str | None = None


@dataclass
class FuncRef:
    address: int = addr(0)
    name: str | None = None
    #: Module the function is in; None for the kernel image itself.
    module: str | None = None

    def __str__(self) -> str:
        if self.name is None:
            return f"{self.address:#x}"
        return f"{self.name} [{self.module}]" if self.module else self.name


@dataclass
class ReadWarning:
    """Something that could not be read, or read consistently."""

    object: str
    message: str


@dataclass
class KernelInfo:
    release: str
    version: str = ""
    machine: str = ""
    hz: int | None = None
    jiffies: int = 0
    nr_cpu_ids: int = 0
    possible_cpus: list[int] = field(default_factory=list)
    online_cpus: list[int] = field(default_factory=list)
    nr_node_ids: int = 1
    #: [start, end) of the addresses modules are mapped at (x86_64), else empty.
    module_area: list[int] = addr([])
    #: What the readers detected about this kernel (see wqinspect.kernel.layout).
    features: dict[str, Any] = field(default_factory=dict)


@dataclass
class Target:
    #: "kcore" (the running kernel), "vmcore" or "qmp" (a live QEMU guest).
    mode: str
    source: str
    live: bool
    captured_at: str = ""
    wqinspect_version: str = ""


@dataclass
class Flusher:
    """A task in flush_workqueue(): its ``struct wq_flusher`` lives on its stack."""

    address: int = addr(0)
    flush_color: int = 0
    #: "first", "queue" (waiting for its color) or "overflow" (no color free).
    where: str = "first"
    waiters: list[TaskRef] = field(default_factory=list)


@dataclass
class NodeNrActive:
    """``wq->node_nr_active[index]`` (v6.9+ unbound workqueues)."""

    index: int
    #: The NUMA node, or None for the last slot, used by pools with no node.
    node: int | None
    nr: int
    max: int
    pending_pwqs: list[int] = addr([])


@dataclass
class Pwq:
    address: int = addr(0)
    pool_id: int = -1
    pool: int = addr(0)
    work_color: int = 0
    flush_color: int = -1
    refcnt: int = 0
    nr_in_flight: list[int] = field(default_factory=list)
    nr_active: int = 0
    #: pwq->max_active up to v6.8; None where the limit lives in the workqueue.
    max_active: int | None = None
    #: pwq->plugged (v6.9+), else None.
    plugged: bool | None = None
    #: Items on pwq->inactive_works (barriers included).
    nr_inactive: int = 0
    on_mayday: bool = False
    #: On its node's pending_pwqs list, waiting for an active slot (v6.9+).
    pending: bool = False
    #: CPUs whose slot (cpu_pwq / cpu_pwqs / numa_pwq_tbl) points to this pwq.
    cpus: list[int] = field(default_factory=list)
    is_default: bool = False
    #: References the workqueue holds on this pwq: one per cpu_pwq slot, or per
    #: numa_pwq_tbl node slot before v6.6, plus dfl_pwq.
    slots: int = 0
    #: pwq->stats[] by PWQ_STAT_ name (v6.5+), else None.
    stats: dict[str, int] | None = None


@dataclass
class Workqueue:
    address: int = addr(0)
    name: str = ""
    #: The system_*_wq variable that points to this workqueue, if any.
    system_var: str | None = None
    flags: int = 0
    flag_names: list[str] = field(default_factory=list)
    #: "percpu", "unbound", "ordered" or "bh".
    kind: str = "percpu"
    #: The limit in force (wq->max_active, or saved_max_active up to v6.8).
    max_active: int = 0
    saved_max_active: int = 0
    min_active: int | None = None
    work_color: int = 0
    flush_color: int = 0
    nr_pwqs_to_flush: int = 0
    first_flusher: Flusher | None = None
    flusher_queue: list[Flusher] = field(default_factory=list)
    flusher_overflow: list[Flusher] = field(default_factory=list)
    nr_drainers: int = 0
    rescuer: int | None = addr(None)
    rescuer_pid: int | None = None
    #: CPUs of an unbound workqueue's attributes.
    cpus: list[int] | None = None
    pwqs: list[Pwq] = field(default_factory=list)
    dfl_pwq: int | None = addr(None)
    node_nr_active: list[NodeNrActive] = field(default_factory=list)
    maydays: list[int] = addr([])
    #: nice of an unbound workqueue's attributes.
    nice: int | None = None
    #: Unbound attributes (v6.6+): affinity scope name and strictness, else None.
    affn_scope: str | None = None
    affn_strict: bool | None = None
    #: CPUs the rescuer task may run on.
    rescuer_cpus: list[int] | None = None
    #: Before v6.6: [node, pool id] of each numa_pwq_tbl[] slot of an unbound workqueue.
    node_pools: list[list[int]] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The name, with the system variable where names are shared."""
        return f"{self.name} ({self.system_var})" if self.system_var else self.name

    @property
    def flushing(self) -> bool:
        return self.first_flusher is not None or bool(self.flusher_queue) or bool(self.flusher_overflow)


@dataclass
class Pool:
    address: int = addr(0)
    id: int = -1
    cpu: int = -1
    node: int = -1
    flags: int = 0
    flag_names: list[str] = field(default_factory=list)
    #: "cpu", "cpu-highpri", "bh", "bh-highpri" or "unbound".
    kind: str = "cpu"
    nice: int = 0
    cpus: list[int] = field(default_factory=list)
    pod_cpus: list[int] | None = None
    strict: bool | None = None
    nr_workers: int = 0
    nr_idle: int = 0
    nr_running: int = 0
    #: Work items on pool->worklist (the rescuer's cursor excluded).
    worklist_len: int = 0
    #: Jiffies of the last forward progress (watchdog_ts / last_progress_ts).
    progress_ts: int = 0
    cpu_stall: bool | None = None
    manager: int | None = addr(None)
    refcnt: int = 0
    #: pool->workers, pool->idle_list and busy_hash, as worker addresses.
    workers: list[int] = addr([])
    idle: list[int] = addr([])
    busy: list[int] = addr([])


@dataclass
class Worker:
    address: int = addr(0)
    pool_id: int | None = None
    id: int = -1
    flags: int = 0
    flag_names: list[str] = field(default_factory=list)
    #: None for the pseudo-workers of BH pools, which have no task.
    task: TaskRef | None = None
    #: The name as ps shows it (wq_worker_comm()); None without a task.
    name: str | None = None
    desc: str = ""
    #: The workqueue this worker rescues, for rescuers.
    rescuer_of: str | None = None
    rescue_wq: int | None = addr(None)
    current_work: int | None = addr(None)
    current_func: FuncRef | None = None
    current_pwq: int | None = addr(None)
    current_color: int | None = None
    #: Jiffies when the current item started (v7.0+).
    current_start: int | None = None
    #: CPU time the task used in the current item since its start or last wakeup (v6.5+), ns.
    current_cpu_ns: int | None = None
    sleeping: bool = False
    last_func: FuncRef | None = None
    last_active: int = 0
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


@dataclass
class Barrier:
    """The item flush_work() inserts behind the work it waits for."""

    waiter: TaskRef | None = None
    #: The work the waiter flushes: the item right before it, or the worker's current one.
    target: int | None = addr(None)


@dataclass
class DelayedTimer:
    timer: int = addr(0)
    expires: int = 0
    #: CPU of the timer wheel the timer is on.
    timer_cpu: int = -1
    #: delayed_work->cpu: the CPU the work will be queued on, None for WORK_CPU_UNBOUND.
    target_cpu: int | None = None


@dataclass
class Work:
    address: int = addr(0)
    func: FuncRef = field(default_factory=FuncRef)
    #: work->data as read, and its flag bits.  For a running item this is the word as it is now
    #: (the kernel accounts the item with a copy taken when it started: func, color and pwq come
    #: from the worker instead).
    data: int = 0
    flag_names: list[str] = field(default_factory=list)
    color: int | None = None
    #: "worklist", "inactive", "scheduled", "running", "delayed" (a timer) or "rcu" (waiting for a
    #: grace period, queue_rcu_work()).
    where: str = "worklist"
    #: Index on its list (0 = next to run).
    position: int = 0
    pwq: int | None = addr(None)
    wq: int | None = addr(None)
    wq_name: str | None = None
    #: The pool it sits in; for delayed and rcu items (in no pool yet), the pool its data word
    #: names: the last one it ran on, if any.
    pool_id: int | None = None
    #: The worker running it or holding it on ->scheduled.
    worker: int | None = addr(None)
    barrier: Barrier | None = None
    delayed: DelayedTimer | None = None
    #: For rcu works: the CPU whose RCU callback list holds it.
    rcu_cpu: int | None = None

    @property
    def is_barrier(self) -> bool:
        return self.barrier is not None

    @property
    def in_pool(self) -> int | None:
        """The pool it sits in (None for an item still on a timer or waiting for RCU)."""
        return None if self.where in ("delayed", "rcu") else self.pool_id


@dataclass
class BrokenTimer:
    """A timer wheel link into memory that cannot be read."""

    cpu: int
    base: int
    address: int = addr(0)
    error: str = ""


@dataclass
class Module:
    name: str
    #: [start, end) address ranges of the module's memory.
    ranges: list[list[int]] = addr([])


@dataclass
class Watchdog:
    """The workqueue watchdog's state (CONFIG_WQ_WATCHDOG)."""

    #: wq_watchdog_thresh in seconds (0: disabled); None where the kernel has no watchdog.
    thresh: int | None = None
    #: wq_watchdog_touched (jiffies), for unbound pools.
    touched: int | None = None
    #: [cpu, wq_watchdog_touched_cpu] pairs, for per-cpu pools.
    touched_cpu: list[list[int]] = field(default_factory=list)


@dataclass
class HogEntry:
    func: FuncRef
    #: How many times the kernel found the function hogging a CPU.
    count: int


@dataclass
class CpuIntensive:
    """Automatic CPU-hog detection (v6.5+)."""

    #: wq_cpu_intensive_thresh_us (ULONG_MAX until initialized); None before v6.5.
    thresh_us: int | None = None
    warning_thresh: int | None = None
    #: Whether the kernel keeps the per-function table (CONFIG_WQ_CPU_INTENSIVE_REPORT).
    report: bool = False
    hogs: list[HogEntry] = field(default_factory=list)


@dataclass
class LogRecord:
    #: Seconds since boot, as printk stamps them.
    time: float
    text: str


@dataclass
class TaskStack:
    task: TaskRef
    #: Why it was captured: "busy worker", "barrier waiter", "flusher", "on cpu N", "blocked in flush".
    why: str
    cpu: int | None = None
    on_cpu: bool = False
    frames: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Scope:
    """An affinity scope (v6.6+): how CPUs are grouped into pods for unbound work."""

    index: int
    name: str
    default: bool = False
    nr_pods: int = 0
    pod_cpus: list[list[int]] = field(default_factory=list)
    pod_node: list[int] = field(default_factory=list)
    cpu_pod: list[int] = field(default_factory=list)


@dataclass
class Topology:
    #: wq_unbound_cpumask.
    unbound_cpus: list[int] = field(default_factory=list)
    scopes: list[Scope] = field(default_factory=list)
    #: CPUs of each NUMA node (node_to_cpumask_map), by node.
    node_cpus: list[list[int]] = field(default_factory=list)


@dataclass
class Sysfs:
    """What /sys/devices/virtual/workqueue says, read on a live host (the running kernel only)."""

    root: str = "/sys/devices/virtual/workqueue"
    #: Files of the directory itself (cpumask, cpumask_requested, ...): name -> content.
    global_attrs: dict[str, str] = field(default_factory=dict)
    #: WQ_SYSFS workqueues: directory name -> {attribute: content}.
    workqueues: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class WqCounters:
    """One workqueue's counters, for the live monitor."""

    address: int = addr(0)
    name: str = ""
    system_var: str | None = None
    unbound: bool = False
    mem_reclaim: bool = False
    #: pwq->stats[] summed over the pwqs, by PWQ_STAT_ name; None before v6.5.
    stats: dict[str, int] | None = None
    nr_active: int = 0
    in_flight: int = 0
    #: Counted (by walking the lists) only on kernels without stats.
    inactive: int | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.system_var})" if self.system_var else self.name


@dataclass
class CountersSample:
    """What the monitor reads at each interval."""

    kernel: str
    #: Host time (seconds since the epoch) and the kernel's jiffies at the read.
    time: float
    jiffies: int
    hz: int | None
    has_stats: bool
    workqueues: list[WqCounters] = field(default_factory=list)
    #: What could not be read in this interval (a live kernel changing a list under the read).
    warnings: list["ReadWarning"] = field(default_factory=list)


@dataclass
class Snapshot:
    kernel: KernelInfo
    target: Target
    workqueues: list[Workqueue] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    works: list[Work] = field(default_factory=list)
    broken_timers: list[BrokenTimer] = field(default_factory=list)
    modules: list[Module] = field(default_factory=list)
    #: [start, end) of the kernel image (text and data).
    kernel_image: list[int] = addr([])
    last_unloaded_module: str | None = None
    watchdog: Watchdog | None = None
    cpu_intensive: CpuIntensive | None = None
    topology: Topology | None = None
    #: Read only when the target is the running kernel.
    sysfs: Sysfs | None = None
    #: Seconds since boot at capture (CLOCK_BOOTTIME, the clock of log timestamps).
    uptime: float | None = None
    #: Read by deep captures (snapshot, diagnose): workqueue messages of the kernel log
    #: and the stacks of the tasks involved.
    log: list[LogRecord] = field(default_factory=list)
    stacks: list[TaskStack] = field(default_factory=list)
    warnings: list[ReadWarning] = field(default_factory=list)
    schema: int = SCHEMA_VERSION
    #: The file this snapshot was loaded from, if any (not part of the snapshot).
    loaded_from: ClassVar[str | None] = None

    # -- lookups (indexes are built on first use and rebuilt when a list is replaced or resized)
    def _index(self, name: str, build, source: list | None = None) -> dict:
        source = getattr(self, name) if source is None else source
        key = (id(source), len(source))
        cache = self.__dict__.setdefault("_indexes", {})
        hit = cache.get(name)
        if hit is None or hit[0] != key:
            hit = cache[name] = (key, build(source))
        return hit[1]

    def pool(self, pool_id: int | None) -> Pool | None:
        return self._index("pools", lambda ps: {p.id: p for p in ps}).get(pool_id)

    def worker(self, address: int | None) -> Worker | None:
        return self._index("workers", lambda ws: {w.address: w for w in ws}).get(address)

    def workqueue(self, address: int | None) -> Workqueue | None:
        return self._index("workqueues", lambda ws: {w.address: w for w in ws}).get(address)

    def workqueues_named(self, name: str) -> list[Workqueue]:
        return [w for w in self.workqueues if w.name == name]

    def pwq(self, address: int | None) -> tuple[Workqueue, Pwq] | tuple[None, None]:
        pwqs = self._index("pwqs", lambda ws: {p.address: (wq, p) for wq in ws for p in wq.pwqs},
                           self.workqueues)
        return pwqs.get(address, (None, None))

    def stack(self, pid: int | None) -> TaskStack | None:
        return self._index("stacks", lambda ss: {st.task.pid: st for st in ss}).get(pid)

    def works_of(self, wq: Workqueue) -> list[Work]:
        def build(works):
            by: dict[int, list[Work]] = {}
            for w in works:
                by.setdefault(w.wq, []).append(w)
            return by
        return self._index("works", build).get(wq.address, [])

    # -- JSON
    def to_dict(self) -> dict:
        return to_json(self)

    def dumps(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict) -> "Snapshot":
        schema = data.get("schema") if isinstance(data, dict) else None
        if schema != SCHEMA_VERSION:
            raise SnapshotError(f"snapshot schema {schema!r} is not supported (this wqinspect reads schema "
                                f"{SCHEMA_VERSION})")
        try:
            return _from_json(cls, data)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise SnapshotError(f"not a valid wqinspect snapshot: {e}") from None

    @classmethod
    def load(cls, path: str) -> "Snapshot":
        try:
            with open(path) as f:
                data = json.load(f)
        except OSError as e:
            raise SnapshotError(f"cannot read {path}: {e.strerror}") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise SnapshotError(f"{path} is not JSON: {e}") from None
        snap = cls.from_dict(data)
        snap.loaded_from = path
        return snap


class SnapshotError(Exception):
    pass


def link_barriers(snap: Snapshot) -> None:
    """Set each barrier's target: the work it was inserted behind.

    insert_wq_barrier() puts a barrier right after the item it flushes, which
    gets WORK_STRUCT_LINKED (a newer barrier goes between them and inherits
    LINKED), or, when that item is running, at the head of the running
    worker's ->scheduled list, unlinked: so a second flusher's barrier lands
    in front of the first one's.  A barrier with only barriers before it on
    ->scheduled flushes the worker's current item, unless that item is itself
    a barrier (then the item it flushed has finished: no target).
    """
    lists: dict[tuple, list[Work]] = {}
    running: dict[int, Work] = {}
    for w in snap.works:
        if w.where in ("worklist", "inactive", "scheduled"):
            owner = w.pool_id if w.where == "worklist" else w.pwq if w.where == "inactive" else w.worker
            lists.setdefault((w.where, owner), []).append(w)
        elif w.where == "running" and w.worker is not None:
            running[w.worker] = w
    for items in lists.values():
        items.sort(key=lambda x: x.position)
        for i, w in enumerate(items):
            if w.barrier is None:
                continue
            j = i - 1
            while j >= 0 and items[j].barrier is not None and (
                    "LINKED" in items[j].flag_names or w.where == "scheduled"):
                j -= 1
            if j >= 0 and "LINKED" in items[j].flag_names and items[j].barrier is None:
                w.barrier.target = items[j].address
            elif j < 0 and w.where == "scheduled":
                current = running.get(w.worker)
                w.barrier.target = current.address if current is not None and current.barrier is None else None


def _hex(v):
    if v is None:
        return None
    if isinstance(v, list):
        return [_hex(x) for x in v]
    return f"{v:#x}"


def to_json(obj):
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            out[f.name] = _hex(v) if f.metadata.get("addr") else to_json(v)
        return out
    if isinstance(obj, list):
        return [to_json(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    return obj


def _unhex(v):
    if v is None:
        return None
    if isinstance(v, list):
        return [_unhex(x) for x in v]
    return int(v, 16) if isinstance(v, str) else int(v)


def _one_of(*choices):
    def check(v):
        if v not in choices:
            raise ValueError(f"{v!r} is not one of {', '.join(choices)}")
    return check


def _iso_time(v):
    if v:
        datetime.datetime.fromisoformat(v)  # ValueError names the string


#: Checks of values that views and checks rely on, beyond their types.
_VALUE_CHECKS = {
    ("Work", "where"): _one_of("worklist", "inactive", "scheduled", "running", "delayed", "rcu"),
    ("Workqueue", "kind"): _one_of("percpu", "unbound", "ordered", "bh"),
    ("Target", "captured_at"): _iso_time,
}


def _from_json(tp, value, where: str = "snapshot"):
    """Build ``tp`` from JSON ``value``, checking types: a doctored file fails here, not in a view."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _from_json(args[0], value, where) if len(args) == 1 else value
    if tp is Any:
        return value
    if value is None:
        raise TypeError(f"{where}: null where a value is required")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise TypeError(f"{where}: {tp.__name__} must be an object, not {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name not in value:
                continue
            v, at = value[f.name], f"{where}.{f.name}"
            kwargs[f.name] = _unhex(v) if f.metadata.get("addr") else _from_json(hints[f.name], v, at)
            check = _VALUE_CHECKS.get((tp.__name__, f.name))
            if check is not None:
                try:
                    check(kwargs[f.name])
                except ValueError as e:
                    raise ValueError(f"{at}: {e}") from None
        return tp(**kwargs)
    if origin is list:
        (arg,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise TypeError(f"{where}: expected a list, got {type(value).__name__}")
        return [_from_json(arg, x, f"{where}[{i}]") for i, x in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected an object, got {type(value).__name__}")
        _, arg = typing.get_args(tp)
        return {k: _from_json(arg, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise TypeError(f"{where}: expected an integer, got {value!r}")
    if tp in (str, bool) and not isinstance(value, tp):
        raise TypeError(f"{where}: expected {'a string' if tp is str else 'true or false'}, got {value!r}")
    return value
