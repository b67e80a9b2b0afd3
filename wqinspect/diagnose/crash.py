# SPDX-License-Identifier: LGPL-2.1-or-later
"""Why the kernel crashed, and what it has to do with workqueues: the first finding on a panicked kernel.

The snapshot's crash record (:class:`wqinspect.snapshot.Crash`: the report's lines, the panicking
CPU's task and its stack through the exception frame, the memory the report names) is tied to the
workqueue state read from the same dump:

- a page fault while the timer softirq expires timers, with a timer-wheel link into module memory
  that no loaded module covers: a module exited with a delayed work pending (``dangling-timer``);
- a worker that crashed calling a function in no loaded code (``work-func-unloaded``);
- a ``list_del corruption`` whose list entry is a work item in a freed (or reused) slab object
  (``work-freed``);
- the hung task detector's panic on a task waiting in a flush, tied to the item it waits for
  (``hung-flush``);
- a crash in a worker running a work function (``in-work``);
- the workqueue watchdog's own panic (``workqueue.panic_on_stall``), tied to the stall it reported
  and to wqinspect's replay of it (``stall-panic``);
- anything else is said to be no workqueue crash, in one line of severity info (``not-workqueue``).

The detector returns a fact; :func:`word_crash` is its wording (signatures name modules and
functions only, never addresses, pids or times).
"""

import re
from enum import StrEnum

from ..snapshot import Addr, Crash, FuncRef, HungTask, Severity, Snapshot, TaskRef, Where
from . import facts as F
from .detect import in_module_area, owner
from .finding import Finding, Kind
from .words import Words
from .words import stall as word_stall

#: Functions of the timer softirq that expire timers (and what they inline).
TIMER_FUNCS = frozenset({"__run_timers", "run_timer_softirq", "__run_timer_base", "run_timer_base",
                         "expire_timers", "collect_expired_timers", "call_timer_fn", "detach_timer",
                         "hlist_move_list", "timer_expire_remote"})
#: Functions of a worker processing items.
WORKER_FUNCS = frozenset({"process_one_work", "process_scheduled_works", "worker_thread", "rescuer_thread"})
#: Functions of a task waiting for work items or workqueues (a hung task's stack).
FLUSH_FUNCS = frozenset({"__flush_work", "flush_work", "__flush_workqueue", "flush_workqueue", "drain_workqueue",
                         "flush_delayed_work", "flush_rcu_work", "__cancel_work_sync", "cancel_work_sync",
                         "cancel_delayed_work_sync", "destroy_workqueue"})
#: The watchdog's timer function and the function it calls on a stall: workqueue.panic_on_stall=N ends in a
#: BUG_ON() there on 6.12 ("kernel BUG at kernel/workqueue.c", then "Fatal exception in interrupt"); 7.x
#: panics with its own words instead ("workqueue: 1 stall(s) exceeded threshold 1", and with
#: workqueue.panic_on_stall_time "workqueue: stall lasted 45s, exceeding threshold 45s"), matched by the message.
WATCHDOG_FUNCS = frozenset({"wq_watchdog_timer_fn", "panic_on_wq_watchdog"})
_WATCHDOG_PANIC_RE = re.compile(r"workqueue.*\b(stall|lockup)", re.I)
_WAIT_FUNCS = re.compile(r"(__)?schedule|schedule_timeout|wait_for_completion|__wait_for_common|do_wait_for_common")
_PANIC_FUNCS = frozenset({"panic", "vpanic", "nmi_panic", "oops_end", "oops_end.cold", "die", "__die"})
#: Report lines that start a crash report, the first of which heads the finding.
_HEAD_RE = re.compile(r"^(BUG: |kernel BUG at |general protection fault|INFO: task |list_\w+ corruption|"
                      r"Oops: |Kernel panic)")
_FUNC_RE = re.compile(r"^([\w.]+)")
#: The oops header of a worker (print_worker_info()): "Workqueue: events_long wqi_fn [wqi]".
_WORKQUEUE_RE = re.compile(r"^Workqueue: (\S*) (\S+)(?: \[(\w+)\])?(?: \((.+)\))?$")
#: offsetof(struct work_struct, entry) and sizeof(struct work_struct) without lockdep: the same since v2.6.20.
_WORK_ENTRY, _WORK_SIZE = 8, 32


class CrashCause(StrEnum):
    DANGLING_TIMER = "dangling-timer"
    WORK_FUNC_UNLOADED = "work-func-unloaded"
    WORK_FREED = "work-freed"
    HUNG_FLUSH = "hung-flush"
    STALL_PANIC = "stall-panic"
    IN_WORK = "in-work"
    NOT_WORKQUEUE = "not-workqueue"
    #: Neither tied to workqueues nor ruled out: the crashed task could not be read.
    UNKNOWN = "unknown"


class CrashFact(F.Fact):
    """The kernel's crash, and how it ties to the workqueue state."""

    cause: CrashCause
    #: The report's first line (``BUG: unable to handle page fault for address: ...``).
    headline: str
    panic: str | None = None
    cpu: int | None = None
    task: TaskRef | None = None
    #: The log's ``RIP:`` (``__run_timers+0x13a/0x330``) and the function that faulted.
    rip: str | None = None
    function: str | None = None
    #: The crashed task's stack, innermost first, the exception frame marked.
    stack: list[str] = []
    fault_address: Addr | None = None
    #: The module the bug comes from (for unloaded code: the last unloaded one).
    module: str | None = None
    #: The work function involved, the item, its pool and workqueue.
    func: FuncRef | None = None
    work: Addr | None = None
    pool: int | None = None
    wq_name: str | None = None
    #: oops in the timer softirq: the dangling timer, and why it was a delayed_work.
    timer: Addr | None = None
    delayed_evidence: str | None = None
    #: the memory of a freed item (drgn's slab helpers).
    slab_cache: str | None = None
    slab_free: bool | None = None
    #: list corruption: the valid item being unlinked when the kernel found its neighbour's links gone.
    neighbour: Addr | None = None
    neighbour_func: FuncRef | None = None
    #: hung task panic: the tasks reported, the one waiting in a flush, the worker it waits for.
    hung: list[HungTask] = []
    waiter: TaskRef | None = None
    holder: str | None = None
    #: The hung task's stack as the detector printed it.
    waiter_stack: list[str] = []
    #: the watchdog's panic: the stall it reported (with the replay of each of its reports).
    stall: F.Stall | None = None
    #: The evidence lines of the log.
    log: list[str] = []


# ---- detection

def _stack(c: Crash, n: int = 14) -> list[str]:
    out = []
    exc = c.exception_frame
    for f in c.frames[:n]:
        text = f.location()
        if f is exc:
            text += " (exception frame)"
        out.append(text)
    return out


def _functions(c: Crash) -> set[str]:
    names = set()
    for f in c.frames:
        if f.function:
            names.add(f.function)
        names.update(f.inlined)
    for line in c.log_trace:
        m = _FUNC_RE.match(line)
        if m:
            names.add(m.group(1))
    return names


def _crashed_worker(snap: Snapshot, c: Crash):
    if c.task is None or not c.task.address:
        return None
    return next((w for w in snap.workers if w.task is not None and w.task.address == c.task.address), None)


def _base(snap: Snapshot, c: Crash, cause: CrashCause) -> CrashFact:
    head = next((r.text for r in c.lines if _HEAD_RE.search(r.text)), c.lines[0].text if c.lines else "")
    exc = c.exception_frame
    function = exc.function if exc else None
    if function is None and c.rip:
        m = _FUNC_RE.match(c.rip)
        function = m.group(1) if m and not c.rip.startswith("0x") else None
    if function is None and exc is None:
        # A panic without an oops (sysrq, the hung task detector): the function that called panic().
        names = [f.function for f in c.frames]
        at = next((i for i, n in enumerate(names) if n in _PANIC_FUNCS), None)
        if at is not None:
            function = next((n for n in names[at + 1:] if n not in _PANIC_FUNCS), None)
    keep = [r.text for r in c.lines if r.text.startswith(("BUG: ", "kernel BUG", "general protection", "INFO: task",
                                                          "list_", "Oops", "RIP: 0010:", "Workqueue: ",
                                                          "Kernel panic"))]
    log: list[str] = []
    for line in keep:
        # Only the oops' RIP (c.rip); the others are of interrupted contexts, of backtraces printed before the
        # oops, or repeats at the end.
        if line not in log and not (line.startswith("RIP: ") and (any(x.startswith("RIP: ") for x in log)
                                                                 or (c.rip and not line.endswith(c.rip)))):
            log.append(line)
    stack = _stack(c)
    if c.frames_error and c.log_trace:
        # drgn could not unwind on: the kernel's own Call Trace goes on.
        stack += [f"(log) {line}" for line in c.log_trace[:10]]
    return CrashFact(cause=cause, headline=head, panic=c.panic, cpu=c.cpu, task=c.task, rip=c.rip,
                     function=function, stack=stack, fault_address=c.fault_address, log=log[:8])


def _timer_crash(snap: Snapshot, c: Crash) -> CrashFact | None:
    exc = c.exception_frame
    rip = _FUNC_RE.match(c.rip) if c.rip else None
    names = ({exc.function, *exc.inlined} if exc else set()) | ({rip.group(1)} if rip else set())
    if not names & TIMER_FUNCS:
        return None
    fact = _base(snap, c, CrashCause.DANGLING_TIMER)
    fault = c.fault_address
    broken = sorted(snap.broken_timers, key=lambda t: abs(t.address - fault) if fault is not None else 0)
    if broken and (fault is None or abs(broken[0].address - fault) < 64 or owner(snap, broken[0].address) is None):
        fact.timer = broken[0].address
    fact.module = c.last_unloaded or snap.last_unloaded_module
    twins = [w for w in snap.works if w.where == Where.DELAYED and w.func.address
             and owner(snap, w.func.address) is None and in_module_area(snap, w.func.address)]
    if twins:
        t = twins[0]
        fact.delayed_evidence = (f"a delayed work still on the wheel ({t.address:#x}, its timer function "
                                 f"delayed_work_timer_fn) has its work function {t.func.address:#x} in the same "
                                 f"unloaded module memory")
        fact.func = t.func
    elif fact.timer is not None:
        fact.delayed_evidence = "a timer a module leaves behind is most often a delayed_work's"
    return fact


def _work_at(snap: Snapshot, address: int, slab_object: int | None = None):
    for w in snap.works:
        if (slab_object is not None and w.address == slab_object) or w.address <= address < w.address + _WORK_SIZE:
            return w
    return None


def _freed_work(snap: Snapshot, c: Crash) -> CrashFact | None:
    """A ``list_del corruption``: the neighbour whose links are gone is the freed item (for "X->next is NULL",
    the entry itself); the entry being unlinked, a valid item, gives the workqueue and pool."""
    if not any("corruption" in r.text for r in c.lines):
        return None
    fact = _base(snap, c, CrashCause.WORK_FREED)
    neighbours = [a for a in c.addresses if a.role in ("next", "prev")]
    entries = [a for a in c.addresses if a.role == "list entry"]
    bad = neighbours[0] if neighbours else (entries[0] if entries else None)
    if bad is not None:
        fact.slab_cache = bad.slab_cache
        fact.slab_free = None if bad.slab_allocated is None else not bad.slab_allocated
        fact.work = bad.slab_object if bad.slab_object is not None else bad.address - _WORK_ENTRY
        freed = _work_at(snap, bad.address, bad.slab_object)
        if freed is not None and freed.func.address and owner(snap, freed.func.address) is not None:
            fact.func, fact.pool, fact.wq_name = freed.func, freed.pool_id, freed.wq_name
    for a in entries if neighbours else []:
        fact.module = fact.module or a.module
        valid = _work_at(snap, a.address)
        if valid is not None:
            fact.pool = fact.pool if fact.pool is not None else valid.pool_id
            fact.wq_name = fact.wq_name or valid.wq_name
            fact.neighbour, fact.neighbour_func = valid.address, valid.func
            fact.module = fact.module or valid.func.module
    printed = next((m for m in (_WORKQUEUE_RE.search(r.text) for r in c.lines) if m), None)
    if fact.wq_name is None and printed is not None:
        fact.wq_name = printed.group(1) or printed.group(4)
    worker = _crashed_worker(snap, c)
    if worker is not None:
        fact.pool = fact.pool if fact.pool is not None else worker.pool_id
        fact.wq_name = fact.wq_name or worker.desc
    if fact.module is None and fact.func is not None:
        fact.module = fact.func.module
    return fact


def _hung(snap: Snapshot, c: Crash, found: list) -> CrashFact:
    fact = _base(snap, c, CrashCause.NOT_WORKQUEUE)
    fact.hung = list(c.hung_tasks)
    fact.waiter_stack = [line for line in c.log_trace if not _WAIT_FUNCS.match(line)][:8]
    # The caller of the flush, in the printed stack, names the module (the dump may lack the task).
    mod = next((m.group(1) for m in (re.search(r"\[(\w+)\]$", line) for line in fact.waiter_stack) if m), None)
    pids = {h.pid for h in c.hung_tasks}
    for f in found:
        if isinstance(f, (F.FlushWorkWait, F.FlushWorkqueueWait)) and f.waiter.pid in pids:
            fact.cause, fact.waiter = CrashCause.HUNG_FLUSH, f.waiter
            if isinstance(f, F.FlushWorkWait):
                fact.func, fact.work, fact.wq_name = f.target_func, f.target, f.wq_name
                holder = snap.worker(f.holder) if f.holder is not None else None
            else:
                wq = snap.workqueue(f.wq)
                fact.wq_name = wq.name if wq else None
                holder = snap.worker(f.holders[0]) if f.holders else None
                if holder is not None:
                    fact.func = holder.current_func
            if holder is not None:
                fact.holder, fact.pool = holder.name, holder.pool_id
                if fact.func is None:
                    fact.func = holder.current_func
            fact.module = (fact.func.module if fact.func else None) or mod
            return fact
        if isinstance(f, F.BlockedInFlush) and f.task.pid in pids:
            fact.cause, fact.waiter, fact.module = CrashCause.HUNG_FLUSH, f.task, mod
    if fact.cause == CrashCause.NOT_WORKQUEUE:
        # The detector prints the hung task's stack: a flush there ties it to workqueues even when the
        # task or the item could not be read from the dump.
        trace = {m.group(1) for m in (_FUNC_RE.match(line) for line in c.log_trace) if m}
        if trace & FLUSH_FUNCS:
            fact.cause, fact.module = CrashCause.HUNG_FLUSH, mod
        elif not snap.stacks or any("page excluded" in w.message for w in snap.warnings):
            fact.cause = CrashCause.UNKNOWN
    return fact


def _stall_panic(snap: Snapshot, c: Crash, found: list) -> CrashFact | None:
    """The watchdog panicked on its own lockup report: the stall it reported, as the stall detector replays it."""
    if not (_functions(c) & WATCHDOG_FUNCS or (c.panic and _WATCHDOG_PANIC_RE.search(c.panic))):
        return None
    fact = _base(snap, c, CrashCause.STALL_PANIC)
    lockups = [f for f in found if isinstance(f, F.Stall) and f.state == F.StallState.LOCKUP]
    if lockups:
        # The pool the kernel reported first (its first report is the one that panicked with panic_on_stall=1).
        fact.stall = min(lockups, key=lambda f: (min((p.time for p in f.printed), default=float("inf")), -f.stuck))
        fact.pool = fact.stall.pool
        busy = [w for w in (snap.worker(a) for a in fact.stall.busy) if w is not None and w.current_func]
        spinning = [w for w in busy if w.task is not None and w.task.state == "R"]
        if busy:
            worker = (spinning or busy)[0]
            fact.func, fact.work, fact.holder = worker.current_func, worker.current_work, worker.name
            fact.wq_name = worker.desc
            fact.module = worker.current_func.module
    return fact


def detect_crash(snap: Snapshot, found: list) -> list[CrashFact]:
    """The crash fact of a panicked kernel (``found``: the other detectors' facts); [] for one that did not."""
    c = snap.crash
    if c is None:
        return []
    if c.hung_tasks:
        return [_hung(snap, c, found)]
    fact = _stall_panic(snap, c, found)
    if fact is not None:
        return [fact]
    funcs = _functions(c)
    fact = _timer_crash(snap, c)
    if fact is not None:
        return [fact]
    fact = _freed_work(snap, c)
    if fact is not None:
        return [fact]
    worker = _crashed_worker(snap, c)
    printed = next((m for m in (_WORKQUEUE_RE.search(r.text) for r in c.lines) if m), None)
    if worker is None and printed is not None:
        # The worker could not be read (e.g. its page is not in the dump): the oops header names its work.
        fact = _base(snap, c, CrashCause.IN_WORK)
        wq, func_text, module, desc = printed.groups()
        fact.wq_name = wq or desc
        if func_text == "0x0":
            fact.func = None
        elif re.fullmatch(r"0x[0-9a-fA-F]{1,16}", func_text):
            address = int(func_text, 16)
            fact.func = FuncRef(address, None, None)
            if owner(snap, address) is None:
                fact.cause = CrashCause.WORK_FUNC_UNLOADED
                fact.module = c.last_unloaded or snap.last_unloaded_module
        else:
            fact.func, fact.module = FuncRef(0, func_text, module), module
        return [fact]
    if worker is not None and (funcs & WORKER_FUNCS or worker.current_func is not None):
        fact = _base(snap, c, CrashCause.IN_WORK)
        fact.func, fact.work, fact.pool = worker.current_func, worker.current_work, worker.pool_id
        fact.wq_name = worker.desc
        func = worker.current_func
        if func is not None and func.address and owner(snap, func.address) is None:
            fact.cause = CrashCause.WORK_FUNC_UNLOADED
            fact.module = c.last_unloaded or snap.last_unloaded_module
        else:
            fact.module = func.module if func else None
        return [fact]
    if c.task is None:
        return [_base(snap, c, CrashCause.UNKNOWN)]
    return [_base(snap, c, CrashCause.NOT_WORKQUEUE)]


def explained(crash: list[CrashFact], fact) -> bool:
    """Whether another detector's fact is the crash itself (its finding would repeat the crash's)."""
    if crash and isinstance(fact, F.StrandedTimer):
        return True  # panic() takes the other CPUs offline: their timers are not stranded, the kernel is dead
    if isinstance(fact, F.Stall) and any(c.stall is not None and c.stall.pool == fact.pool for c in crash):
        return True  # the stall the watchdog panicked on: the crash finding carries its evidence
    return any(isinstance(fact, F.DanglingTimer) and c.timer == fact.address for c in crash)


# ---- wording

def _fname(func: FuncRef | None, module: str | None = None) -> str:
    if func is None:
        return "unknown"
    if func.name:
        return func.name
    return f"{func.address:#x}" + (f" (in the unloaded module {module})" if module else "")


def _sig_func(func: FuncRef | None, module: str | None) -> str:
    if func is not None and func.name:
        return func.name
    return module or "unknown"


def _who(f: CrashFact) -> str:
    if f.task is None:
        return f"CPU {f.cpu}" if f.cpu is not None else "the kernel"
    return f"{f.task.comm} (pid {f.task.pid}) on CPU {f.cpu}"


def word_crash(f: CrashFact, snap: Snapshot) -> Finding:
    stack = "stack: " + " ← ".join(f.stack) if f.stack else ""
    crash_ev = [*(f"log: {line}" for line in f.log), f"crashed: {_who(f)}"] + ([stack] if stack else [])
    where = f"CPU {f.cpu}" if f.cpu is not None else "kernel"
    if f.rip:
        where += f", {f.rip}"
    last = f.module or "unknown"
    if f.cause == CrashCause.DANGLING_TIMER:
        what = (f"the kernel crashed expiring a timer in freed module memory: module {last} was unloaded with "
                f"a delayed work still pending")
        ev = []
        if f.timer is not None:
            ev.append(f"the timer wheel links to timer {f.timer:#x}, in module memory no loaded module covers"
                      + (f"; the faulting address {f.fault_address:#x} is its link" if f.fault_address else ""))
        ev.append(f"the last module unloaded was {last}")
        if f.delayed_evidence:
            ev.append(f"it was a delayed_work: {f.delayed_evidence}")
        return Finding(severity=Severity.CRITICAL, kind=Kind.CRASH, signature=f"wq-dangling-timer:{last}",
                       what=what, where=where, evidence=ev + crash_ev,
                       suggestion=f"{last} must cancel its delayed works in its exit path: "
                                  "cancel_delayed_work_sync() before the module (and the memory of the "
                                  "delayed_work) goes away", weight=1e9, data=f)
    if f.cause == CrashCause.WORK_FUNC_UNLOADED:
        what = f"a worker crashed calling a work function in the unloaded module {last}"
        ev = [f"the worker's current function {_fname(f.func)} lies in no loaded module and not in the kernel",
              f"the last module unloaded was {last}"]
        if f.work is not None:
            ev.append(f"work item {f.work:#x} of {f.wq_name or 'an unknown workqueue'} in pool {f.pool}")
        return Finding(severity=Severity.CRITICAL, kind=Kind.CRASH, signature=f"wq-work-func-unloaded:{last}",
                       what=what, where=where, evidence=ev + crash_ev,
                       suggestion=f"{last} left a work item queued (or a delayed work pending) when it exited: "
                                  "cancel_work_sync() / cancel_delayed_work_sync() in its exit path",
                       weight=1e9, data=f)
    if f.cause == CrashCause.WORK_FREED:
        what = (f"a work item of {f.wq_name or 'a workqueue'} was freed while it was queued: the workqueue's list "
                "is corrupt")
        ev = []
        if f.work is not None:
            ev.append(f"work item {f.work:#x}" + (f" ({_fname(f.func)})" if f.func else "")
                      + f" is still linked on the lists of {f.wq_name or 'an unknown workqueue'}"
                      + (f", pool {f.pool}" if f.pool is not None else ""))
        if f.slab_cache:
            state = {True: "a free object", False: "an object allocated again (reused by a new owner)",
                     None: "an object"}[f.slab_free]
            ev.append(f"its memory is {state} of slab cache {f.slab_cache}")
        if f.neighbour is not None:
            ev.append(f"the kernel was unlinking its neighbour {f.neighbour:#x} ({_fname(f.neighbour_func)}) "
                      "and found the freed item's links gone")
        return Finding(severity=Severity.CRITICAL, kind=Kind.CRASH,
                       signature=f"wq-work-freed:{f.wq_name or _sig_func(f.func, f.module)}", what=what,
                       where=where, evidence=ev + crash_ev,
                       suggestion="cancel_work_sync() (or flush) the item before freeing the memory it lives in",
                       weight=1e9, data=f)
    if f.cause == CrashCause.HUNG_FLUSH:
        h = next((x for x in f.hung if f.waiter and x.pid == f.waiter.pid), f.hung[0] if f.hung else None)
        waiter = f"{f.waiter.comm} (pid {f.waiter.pid})" if f.waiter else "a task"
        secs = f" for more than {h.seconds} s" if h else ""
        target = _fname(f.func) if f.func else "a work item"
        what = f"the hung task detector panicked: {waiter} waits{secs} in a flush for {target}, which never ends"
        ev = [f"it waits for {target}" + (f" on {f.wq_name}" if f.wq_name else "")
              + (f", run by {f.holder} in pool {f.pool}" if f.holder else "")]
        if f.func is None:
            ev.append("its flush is in the stack the detector printed; the item could not be read from the dump")
        if f.waiter_stack:
            ev.append("its stack, as the detector printed it: " + " ← ".join(f.waiter_stack))
        # The caller of the flush, from the stack the detector printed: the same in every dump of the bug.
        caller = next((m.group(1) for m in (_FUNC_RE.match(x) for x in f.waiter_stack)
                       if m and m.group(1) not in FLUSH_FUNCS), None)
        return Finding(severity=Severity.CRITICAL, kind=Kind.CRASH,
                       signature=f"wq-hung-flush:{caller or _sig_func(f.func, f.module)}", what=what, where=where,
                       evidence=ev + crash_ev,
                       suggestion=f"{_fname(f.func)} must end (or not be flushed while it waits for something "
                                  "that cannot happen)", weight=1e9, data=f)
    if f.cause == CrashCause.STALL_PANIC:
        what = "the workqueue watchdog panicked the kernel on its lockup report (workqueue.panic_on_stall)"
        if f.stall is None:
            return Finding(severity=Severity.CRITICAL, kind=Kind.CRASH, signature="wq-lockup:unknown",
                           what=what, where=where,
                           evidence=["the stalled pool could not be read from the dump (see the read warnings)"]
                           + crash_ev, suggestion="find what kept the pool from making progress", weight=1e9,
                           data=f)
        s = word_stall(f.stall, Words(snap))
        first = min(f.stall.printed, key=lambda p: p.time) if f.stall.printed else None
        said = (f"BUG: workqueue lockup - {f.stall.description} stuck for {first.seconds}s!" if first
                else s.what)
        return Finding(severity=Severity.CRITICAL, kind=Kind.CRASH, signature=s.signature,
                       what=f"{what}: {said}", where=f"pool {f.stall.pool}; {where}",
                       evidence=s.evidence + crash_ev, suggestion=s.suggestion, weight=1e9, data=f)
    if f.cause == CrashCause.IN_WORK:
        what = f"the kernel crashed in a worker running {_fname(f.func)}"
        return Finding(severity=Severity.CRITICAL, kind=Kind.CRASH,
                       signature=f"wq-crash-in-work:{_sig_func(f.func, f.module)}", what=what, where=where,
                       evidence=[f"work item {f.work:#x} of {f.wq_name or 'an unknown workqueue'} in pool {f.pool}"
                                 if f.work is not None else f"pool {f.pool}"] + crash_ev,
                       suggestion=f"the bug is in {_fname(f.func)} or what it calls", weight=1e9, data=f)
    fn = f.function or "unknown"
    if f.cause == CrashCause.UNKNOWN:
        return Finding(severity=Severity.INFO, kind=Kind.CRASH, signature=f"crash-unknown:{fn}",
                       what=f"the kernel crashed ({f.headline or f.panic or 'panic'}); whether workqueues are "
                            "involved cannot be told: the crashed task could not be read",
                       where=where, evidence=crash_ev + [
                           "see the read warnings (a page left out of the dump, e.g. by makedumpfile -d 31)"],
                       suggestion="", weight=1e9, data=f)
    return Finding(severity=Severity.INFO, kind=Kind.CRASH, signature=f"crash-not-wq:{fn}",
                   what=f"not a workqueue crash: {f.headline or f.panic or 'the kernel panicked'}"
                        + (f" in {f.rip}" if f.rip and f.rip not in (f.headline or "") else ""),
                   where=where, evidence=crash_ev, suggestion="", weight=1e9, data=f)
