# SPDX-License-Identifier: LGPL-2.1-or-later
"""The one place that words facts: each fact type has one function that makes its finding.

Stalls are worded as the kernel's watchdog words them ("BUG: workqueue lockup
- pool ... stuck for Ns!"); hog reports as the kernel's CPU-hog table.
Signatures name the bug, never the machine: function, module and workqueue
names only (no addresses, pids, times or CPU numbers).
"""

from ..snapshot import FuncRef, Severity, Snapshot, Where, Worker, Work, cpulist
from . import facts as F
from .detect import WAIT_FRAMES, pool_description
from .finding import Finding, Kind


def _name(func: FuncRef | None) -> str:
    """A function for a signature: its name, else its module, else "unknown" (never an address)."""
    if func is None:
        return "unknown"
    return func.name or (f"[{func.module}]" if func.module else "unknown")


class Words:
    """Wording helpers over one snapshot (stacks, workers, durations)."""

    def __init__(self, snap: Snapshot):
        self.snap = snap
        self.hz = snap.kernel.hz

    def stack_summary(self, pid: int | None, n: int = 6) -> str:
        st = self.snap.stack(pid)
        if st is None:
            return ""
        if st.error:
            if st.on_cpu and self.snap.target.live:
                # drgn unwinds a running task only from a dump's saved registers.
                return (f"(stack not readable: it is running on CPU {st.cpu} of a live kernel; "
                        "a vmcore has its registers)")
            return f"(stack not readable: {st.error})"
        frames = [f for f in st.frames if not WAIT_FRAMES.match(f)]
        return " ← ".join(frames[:n])

    def worker_line(self, w: Worker) -> str:
        who = f"{w.name} (pid {w.task.pid})" if w.task else f"BH pseudo-worker of pool {w.pool_id}"
        line = f"{who} {w.state}"
        if w.current_func:
            line += f" in {w.current_func}"
        ran = self.ran_for(w)
        if ran:
            line += f", {ran}"
        stack = self.stack_summary(w.task.pid if w.task else None)
        return f"{line}: {stack}" if stack else line

    def ran_for(self, w: Worker) -> str:
        parts = []
        ago = self.snap.jiffies_ago(w.current_start)
        if ago is not None:
            parts.append(f"running for {ago:.1f} s")
        if w.current_cpu_ns is not None:
            parts.append(f"{w.current_cpu_ns / 1e6:.0f} ms of CPU since it last slept")
        return ", ".join(parts)

    def secs(self, jiffies: int) -> float:
        return jiffies / self.hz if self.hz else 0.0

    def last_unloaded(self, last: str | None) -> str:
        return f"the last module unloaded was {last}" if last else "no module unload is recorded"


def funcs_summary(works: list[Work], n: int = 6) -> str:
    names: dict[str, int] = {}
    for w in works:
        names[str(w.func)] = names.get(str(w.func), 0) + 1
    items = [f"{k}×{v}" if v > 1 else k for k, v in names.items()]
    return ", ".join(items[:n]) + (", …" if len(items) > n else "")


# ---- stalls

def _stall_advice(pool, busy: list[Worker]) -> str:
    spinning = [w for w in busy if w.task is not None and w.task.state == "R"]
    if spinning:
        return (f"{spinning[0].current_func} keeps CPU {pool.cpu} without sleeping: make it sleep or "
                "cond_resched(), or queue it on a WQ_UNBOUND or WQ_CPU_INTENSIVE workqueue")
    if busy and pool.nr_idle == 0:
        return "every worker is blocked and none is idle: find what the busy workers wait for (worker creation " \
               "may be failing; WQ_MEM_RECLAIM workqueues have rescuers)"
    if not busy and pool.nr_idle:
        return "idle workers but none running: a wakeup may have been lost"
    return "find what the busy workers wait for"


def _stall_culprit(busy: list[Worker], queued: list[Work]) -> str:
    """The function a stall is about: a spinning worker's, else a busy one's, else the first queued item's."""
    spinning = [w for w in busy if w.task is not None and w.task.state == "R" and w.current_func]
    running = [w for w in busy if w.current_func]
    if spinning or running:
        return _name((spinning or running)[0].current_func)
    return _name(queued[0].func) if queued else "unknown"


#: The busy workers of a stalled pool listed one by one (a pool of 100,000 blocked items has thousands).
BUSY_LINES = 16


def stall(f: F.Stall, ws: Words) -> Finding:
    snap = ws.snap
    pool = snap.pool(f.pool)
    busy = [w for w in (snap.worker(a) for a in f.busy) if w is not None]
    queued = snap.ix.worklist.get(f.pool, [])
    stuck_s = ws.secs(f.stuck)
    culprit = _stall_culprit(busy, queued)
    if f.state == F.StallState.NEAR:
        return Finding(severity=Severity.WARNING, kind=Kind.STALL, signature=f"wq-stall:{culprit}",
                       what=f"{f.description} has made no progress for {stuck_s:.1f} s", where=f"pool {f.pool}",
                       evidence=[f"the watchdog would report it in {ws.secs(f.until):.1f} s "
                                 f"(threshold {f.thresh} s, {f.origin})"],
                       suggestion="see what its busy workers are doing", weight=stuck_s, data=f)
    if f.state == F.StallState.TOUCHED:
        return Finding(severity=Severity.WARNING, kind=Kind.STALL, signature=f"wq-stall:{culprit}",
                       what=f"{f.description} has made no progress for {stuck_s:.1f} s", where=f"pool {f.pool}",
                       evidence=[f"the watchdog was touched {ws.secs(f.touched_ago or 0):.1f} s ago: it reports the "
                                 f"pool in {ws.secs(f.until):.1f} s unless it progresses"],
                       suggestion=_stall_advice(pool, busy), weight=stuck_s, data=f)
    evidence = [f"{pool.worklist_len} work item(s) queued and not started: " + funcs_summary(queued)]
    # Those with a stack first (the capture unwinds at most BUSY_STACKS_PER_POOL sleeping ones), then
    # the longest-running.
    shown = sorted(snap.longest_running_first(busy), key=lambda w: snap.stack(w.task.pid if w.task else None) is None)
    evidence += [f"busy: {ws.worker_line(w)}" for w in shown[:BUSY_LINES]]
    if len(shown) > BUSY_LINES:
        evidence.append(f"busy: {len(shown) - BUSY_LINES} more worker(s), "
                        f"{sum(1 for w in shown[BUSY_LINES:] if w.current_func)} of them running an item")
    evidence.append(f"last progress {stuck_s:.1f} s ago; threshold {f.thresh} s ({f.origin})"
                    + ("" if f.touched_ago is None else f"; watchdog touched {ws.secs(f.touched_ago):.1f} s ago"))
    if f.cpu_stall:
        evidence.append("the kernel's watchdog marked it cpu_stall")
    for p in f.printed:
        if p.replayed is not None:
            evidence.append(f"the kernel printed 'stuck for {p.seconds}s' at {p.time:.3f} s; replayed for that "
                            f"moment: {p.replayed:.1f} s")
        else:
            evidence.append(f"the kernel printed 'stuck for {p.seconds}s' at {p.time:.3f} s")
    return Finding(severity=Severity.CRITICAL, kind=Kind.STALL, signature=f"wq-lockup:{culprit}",
                   what=f"BUG: workqueue lockup - {f.description} stuck for {f.seconds}s!", where=f"pool {f.pool}",
                   evidence=evidence, suggestion=_stall_advice(pool, busy), weight=stuck_s, data=f)


# ---- CPU hogs

def hog(f: F.Hog, ws: Words) -> Finding:
    w = ws.snap.worker(f.worker)
    wq, _ = ws.snap.pwq(w.current_pwq)
    evidence = [ws.worker_line(w)]
    if f.auto:
        evidence.append(f"the kernel marked the worker CPU_INTENSIVE: it ran more than "
                        f"{f.thresh_us or '?'} µs without sleeping")
    return Finding(severity=Severity.WARNING, kind=Kind.HOG, signature=f"wq-hog:{_name(f.func)}",
                   what=f"{f.func} is hogging " + (f"CPU {f.cpu}" if f.cpu is not None else "a CPU"),
                   where=f"{w.name} in pool {w.pool_id} ({wq.label if wq else '?'})", evidence=evidence,
                   suggestion="consider WQ_UNBOUND (or cond_resched() in long loops)", weight=f.cpu_ms or 0, data=f)


def hog_report(f: F.HogReport, ws: Words) -> Finding:
    return Finding(severity=Severity.WARNING, kind=Kind.HOG, signature=f"wq-hog:{_name(f.func)}",
                   what=f"{f.func} hogged a CPU {f.count} time(s)", where="hog report table",
                   evidence=[f"workqueue: {f.func.name} hogged CPU for >{f.thresh_us or '?'}us {f.count} times, "
                             f"consider switching to WQ_UNBOUND (the kernel's CPU-hog table)"],
                   suggestion="consider switching it to WQ_UNBOUND", weight=f.count, data=f)


# ---- who waits for whom

def _blockers(ws: Words, target: Work) -> str:
    if Where(target.where) != Where.INACTIVE:
        return ""
    holders = [w for w in ws.snap.ix.works_by_pwq.get(target.pwq, []) if Where(w.where) == Where.RUNNING]
    if not holders:
        return ""
    worker = ws.snap.worker(holders[0].worker)
    return f"; its pwq's active slot is held by {holders[0].func}" + (
        f" on {ws.worker_line(worker)}" if worker else "")


def flush_work_wait(f: F.FlushWorkWait, ws: Words) -> Finding:
    t = f.waiter
    target = ws.snap.ix.works.get(f.target) if f.target is not None else None
    holder = ws.snap.worker(f.holder)
    evidence = [f"task {t.comm} (pid {t.pid}) waits in flush_work(): {ws.stack_summary(t.pid)}"]
    if holder is not None:
        evidence.append(f"{target.func if target else 'the work'} runs on {ws.worker_line(holder)}")
    elif target is not None:
        evidence.append(f"{target.func} is {target.where} on {target.wq_name} "
                        f"(position {target.position})" + _blockers(ws, target))
    return Finding(severity=Severity.INFO, kind=Kind.WAIT, signature=f"wq-flush-wait:{_name(f.target_func)}",
                   what=f"{t.comm} (pid {t.pid}) waits for {f.target_func if f.target_func else 'a work item'} "
                        "to finish",
                   where=f"workqueue {f.wq_name}", evidence=evidence,
                   suggestion="nothing to do if the work finishes; if it never does, see what it waits for", data=f)


def flush_workqueue_wait(f: F.FlushWorkqueueWait, ws: Words) -> Finding:
    t = f.waiter
    wq = ws.snap.workqueue(f.wq)
    pending = [w for w in (ws.snap.ix.works.get(a) for a in f.pending) if w is not None]
    evidence = [f"task {t.comm} (pid {t.pid}) waits in flush_workqueue() for color {f.color} "
                f"({f.flusher}): {ws.stack_summary(t.pid)}",
                f"{len(pending)} item(s) of color {f.color} still in flight: {funcs_summary(pending)}" if pending else
                f"no item of color {f.color} was found in flight" + (
                    "" if ws.snap.kernel.features.worker_current_color else
                    " (this kernel does not record the color of a running item: worker->current_color came in v5.15)")]
    for a in f.holders:
        holder = ws.snap.worker(a)
        evidence.append(f"{holder.current_func} runs on {ws.worker_line(holder)}")
    return Finding(severity=Severity.INFO, kind=Kind.WAIT, signature=f"wq-flush-workqueue:{wq.name}",
                   what=f"{t.comm} (pid {t.pid}) waits for workqueue {wq.label} to flush",
                   where=f"workqueue {wq.label}", evidence=evidence,
                   suggestion="nothing to do if those items finish; if not, see what they wait for", data=f)


def blocked_in_flush(f: F.BlockedInFlush, ws: Words) -> Finding:
    t = f.task
    return Finding(severity=Severity.INFO, kind=Kind.WAIT, signature=f"wq-flush-blocked:{f.caller or 'unknown'}",
                   what=f"{t.comm} (pid {t.pid}) is blocked in a flush, drain or cancel of work", where="task",
                   evidence=[ws.stack_summary(t.pid, 10)],
                   suggestion="see which work or workqueue it waits for in its stack", data=f)


def deadlock(f: F.Deadlock, ws: Words) -> Finding:
    steps = f.cycle + f.cycle[:1]
    names = " → ".join(f"{s.comm if s.comm is not None else s.pid} ({s.pid})" for s in steps)
    return Finding(severity=Severity.CRITICAL, kind=Kind.DEADLOCK,
                   signature="wq-flush-deadlock:" + ("+".join(f.funcs) or "unknown"),
                   what="a flush waits for itself", where="tasks " + names,
                   evidence=[f"{s.pid}: {s.waits_for or 'runs a work item'}" for s in f.cycle],
                   suggestion="a work item must not flush its own workqueue (or work queued behind it on an "
                              "ordered or max_active=1 workqueue)", weight=len(f.cycle), data=f)


# ---- dangling and stranded work

def dangling_timer(f: F.DanglingTimer, ws: Words) -> Finding:
    if f.owner is None:
        where_ = ("in module memory that no loaded module covers" if f.in_module_area
                  else "in memory nothing loaded covers")
    else:
        where_ = f"in memory that {'the kernel' if f.owner == 'kernel' else 'module ' + f.owner} uses now"
    return Finding(severity=Severity.CRITICAL, kind=Kind.DANGLING,
                   signature=f"wq-dangling-timer:{f.last_unloaded_module or 'unknown'}",
                   what=f"a timer on CPU {f.cpu}'s timer wheel lies in freed memory",
                   where=f"timer {f.address:#x} (CPU {f.cpu}, base {f.base})",
                   evidence=[f"the wheel's link points to {f.address:#x}, {where_}: {f.error}",
                             ws.last_unloaded(f.last_unloaded_module),
                             "timers queued after it in the same wheel bucket cannot be read"],
                   suggestion="a module exited with a timer or delayed work still pending: call "
                              "cancel_delayed_work_sync() (or timer_delete_sync()) in its exit path; the kernel "
                              "crashes in __run_timers() when it expires", weight=2, data=f)


def dangling_work(f: F.DanglingWork, ws: Words) -> Finding:
    problems = []
    if f.func_unloaded:
        problems.append(f"its function {f.func.address:#x} lies in no loaded module and not in the kernel")
    if f.struct_unloaded:
        problems.append(f"the work_struct {f.work:#x} lies in module memory no loaded module covers")
    if f.wq_gone:
        problems.append(f"it targets workqueue {f.wq:#x}, which no longer exists")
    # An unloaded function has no name: the module it came from names the bug.
    culprit = f.func.name or f.last_unloaded_module if f.func_unloaded else _name(f.func)
    return Finding(severity=Severity.CRITICAL, kind=Kind.DANGLING, signature=f"wq-dangling-work:{culprit or 'unknown'}",
                   what=f"{f.where} work {f.work:#x} ({f.func}) is dangling",
                   where=f"{f.where} on {f.wq_name or 'an unknown workqueue'}",
                   evidence=problems + [ws.last_unloaded(f.last_unloaded_module)],
                   suggestion="cancel the work (cancel_work_sync / cancel_delayed_work_sync) before its module "
                              "or workqueue goes away", weight=1, data=f)


def stranded_timer(f: F.StrandedTimer, ws: Words) -> Finding:
    if f.expires_in is None:
        when = "its timer"
    elif f.expires_in < 0:
        when = f"its timer expired {-f.expires_in:.1f} s ago but"
    else:
        when = f"its timer expires in {f.expires_in:.1f} s, but"
    return Finding(severity=Severity.WARNING, kind=Kind.STRANDED, signature=f"wq-offline-timer:{_name(f.func)}",
                   what=f"delayed work {f.work:#x} ({f.func}) waits on the timer wheel of CPU {f.timer_cpu}, "
                        "which is offline",
                   where=f"delayed on {f.wq_name or 'an unknown workqueue'}",
                   evidence=[f"{when} sits on CPU {f.timer_cpu}'s wheel: an offline CPU's timers do not fire until "
                             "it comes back online", f"online CPUs: {cpulist(f.online_cpus)}"]
                   + ([f"the kernel warned when a delayed work was queued: {f.warned}"] if f.warned else []),
                   suggestion=f"bring CPU {f.timer_cpu} back online, or queue the work with queue_delayed_work() "
                              "or on a CPU that stays online (check cpu_online() under cpus_read_lock())",
                   weight=-(f.expires_in or 0), data=f)


# ---- rescuers

def _counters(ws: Words, wq) -> str | None:
    stats = wq.stat_sums() if wq else None
    if not stats:
        return None
    return f"since boot: {stats.get('mayday', 0)} mayday(s), {stats.get('rescued', 0)} item(s) rescued"


def mayday(f: F.Mayday, ws: Words) -> Finding:
    wq = ws.snap.workqueue(f.wq)
    evidence = [f"{len(f.pwqs)} pwq(s) on maydays, pools {f.pools}",
                "a pool sends maydays when it cannot create a worker (memory pressure?)"]
    evidence += [c for c in [_counters(ws, wq)] if c]
    return Finding(severity=Severity.WARNING, kind=Kind.RESCUER, signature=f"wq-mayday:{wq.name}",
                   what=f"{wq.label} called its rescuer: its pool(s) could not get a worker",
                   where=f"workqueue {wq.label}", evidence=evidence,
                   suggestion="check memory and kthread creation; the rescuer processes items meanwhile", weight=1,
                   data=f)


def rescuer_at_work(f: F.RescuerAtWork, ws: Words) -> Finding:
    w = ws.snap.worker(f.worker)
    evidence = [ws.worker_line(w)] + [c for c in [_counters(ws, ws.snap.workqueue(f.wq))] if c]
    return Finding(severity=Severity.WARNING, kind=Kind.RESCUER, signature=f"wq-rescuer:{f.rescuer_of}",
                   what=f"the rescuer of {f.rescuer_of} is running an item", where=f"{w.name} in pool {w.pool_id}",
                   evidence=evidence,
                   suggestion="the pool could not create workers; if the item blocks, the rescuer is stuck", weight=1,
                   data=f)


# ---- the log

def _pool_kind_words(description: str) -> str:
    """A printed pool description without its CPUs and node (machine-specific): "flags=0x0 nice=0"."""
    return " ".join(p for p in description.split() if not p.startswith(("cpus=", "node=")) and p != "pool")


def log_lockup(f: F.LogLockup, ws: Words) -> Finding:
    return Finding(severity=Severity.INFO, kind=Kind.LOG,
                   signature=f"wq-lockup-history:{_pool_kind_words(f.description) or 'unknown'}",
                   what=f"the kernel reported a lockup of {f.description}", where="kernel log",
                   evidence=[f"[{f.time:.3f}] {f.text}", "the pool is not stalled now"],
                   suggestion="look at what ran then", weight=f.time, data=f)


def log_hog(f: F.LogHog, ws: Words) -> Finding:
    return Finding(severity=Severity.INFO, kind=Kind.LOG, signature=f"wq-hog:{f.func or 'unknown'}",
                   what="the kernel reported a CPU hog", where="kernel log", evidence=[f"[{f.time:.3f}] {f.text}"],
                   suggestion="consider switching it to WQ_UNBOUND", weight=f.time, data=f)


WORDING = {
    F.Stall: stall, F.Hog: hog, F.HogReport: hog_report, F.FlushWorkWait: flush_work_wait,
    F.FlushWorkqueueWait: flush_workqueue_wait, F.BlockedInFlush: blocked_in_flush, F.Deadlock: deadlock,
    F.DanglingTimer: dangling_timer, F.DanglingWork: dangling_work, F.StrandedTimer: stranded_timer,
    F.Mayday: mayday, F.RescuerAtWork: rescuer_at_work, F.LogLockup: log_lockup, F.LogHog: log_hog,
}


def word(fact: F.Fact, ws: Words) -> Finding:
    return WORDING[type(fact)](fact, ws)


__all__ = ["Words", "WORDING", "pool_description", "word"]
