# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the detectors found, as typed facts: no wording here (that is :mod:`.words`).

Each fact is a :class:`msgspec.Struct`; a finding carries its fact as ``data``
(in the commands' JSON, addresses are ``"0x…"`` strings).  Facts name objects
by stable keys (pool ids, addresses, pids) that the wording looks up in the snapshot.
"""

from enum import StrEnum

import msgspec

from ..snapshot import Addr, FuncRef, TaskRef


class Fact(msgspec.Struct, kw_only=True):
    """Base of the facts."""


class StallState(StrEnum):
    #: No progress for more than half the threshold: the watchdog would report it soon.
    NEAR = "near"
    #: Past the threshold, but the watchdog was touched since: not yet a lockup by the kernel's rule.
    TOUCHED = "touched"
    #: A lockup by the kernel's rule (or one the kernel reported).
    LOCKUP = "lockup"


class Printed(msgspec.Struct, kw_only=True):
    """One 'BUG: workqueue lockup ... stuck for Ns!' line of the log about this pool."""

    time: float
    seconds: int
    #: The stall replayed for the moment of the print (None without the uptime).
    replayed: float | None = None


class Stall(Fact):
    pool: int
    #: The pool as the kernel prints it (pr_cont_pool_info()).
    description: str
    state: StallState
    #: Jiffies since the pool's last progress, and the seconds the kernel prints for them.
    stuck: int
    seconds: int
    #: Jiffies until the watchdog reports it (0 if it would now).
    until: int
    thresh: int
    #: Where the threshold comes from.
    origin: str
    #: Jiffies since the watchdog stamp of the pool was touched (None: no watchdog).
    touched_ago: int | None = None
    cpu_stall: bool = False
    #: Workers busy in the pool.
    busy: list[Addr] = []
    printed: list[Printed] = []


class Hog(Fact):
    """A worker running one item for long without sleeping."""

    worker: Addr
    func: FuncRef
    #: The pool's CPU (None for an unbound pool or an unknown one).
    cpu: int | None = None
    #: The kernel marked the worker CPU_INTENSIVE automatically.
    auto: bool = False
    cpu_ms: float | None = None
    thresh_us: int | None = None


class HogReport(Fact):
    """An entry of the kernel's CPU-hog table (CONFIG_WQ_CPU_INTENSIVE_REPORT)."""

    func: FuncRef
    count: int
    thresh_us: int | None = None


class FlushWorkWait(Fact):
    """A task in flush_work(): its barrier sits behind the target item."""

    waiter: TaskRef
    barrier: Addr
    wq_name: str | None = None
    target: Addr | None = None
    target_func: FuncRef | None = None
    #: The worker running the target, when the barrier is on that worker's scheduled list.
    holder: Addr | None = None


class FlushWorkqueueWait(Fact):
    """A task in flush_workqueue() and the items of its color still in flight."""

    waiter: TaskRef
    wq: Addr
    color: int
    flusher: str
    pending: list[Addr] = []
    #: Workers running some of the pending items.
    holders: list[Addr] = []


class BlockedInFlush(Fact):
    """A task whose stack is in a flush, drain or cancel that no barrier or flusher explains."""

    task: TaskRef
    #: The first function of its stack outside the wait and flush machinery.
    caller: str | None = None


class CycleStep(msgspec.Struct, kw_only=True):
    pid: int
    comm: str | None = None
    #: "flush_work(func)", "flush_workqueue(name)", or None for a task that runs a work item.
    waits_for: str | None = None


class Deadlock(Fact):
    """Waiters that wait, through the workers they depend on, for themselves."""

    cycle: list[CycleStep]
    #: Functions of the items the cycle's workers run.
    funcs: list[str] = []


class DanglingTimer(Fact):
    """A timer-wheel link into memory that cannot be read."""

    address: Addr
    cpu: int
    base: int
    error: str = ""
    #: "kernel", a module name, or None when no loaded code covers the address.
    owner: str | None = None
    in_module_area: bool = False
    last_unloaded_module: str | None = None


class DanglingWork(Fact):
    work: Addr
    func: FuncRef
    where: str
    wq: Addr | None = None
    wq_name: str | None = None
    func_unloaded: bool = False
    struct_unloaded: bool = False
    wq_gone: bool = False
    last_unloaded_module: str | None = None


class StrandedTimer(Fact):
    """A delayed work whose timer sits on the wheel of a CPU that is not online: it never fires."""

    work: Addr
    func: FuncRef
    timer: Addr
    timer_cpu: int
    #: Seconds until the timer expires (negative: overdue); None without HZ.
    expires_in: float | None = None
    wq_name: str | None = None
    online_cpus: list[int] = []
    #: A warning the kernel printed while queueing a delayed work (newer kernels warn about an offline CPU).
    warned: str | None = None


class Mayday(Fact):
    wq: Addr
    pwqs: list[Addr]
    pools: list[int]


class RescuerAtWork(Fact):
    worker: Addr
    rescuer_of: str
    wq: Addr | None = None


class LogLockup(Fact):
    """A lockup the kernel printed that no current stall explains."""

    description: str
    time: float
    text: str


class LogHog(Fact):
    func: str | None
    time: float
    text: str
