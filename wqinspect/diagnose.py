# SPDX-License-Identifier: LGPL-2.1-or-later
"""``wqinspect diagnose``: stalls, CPU hogs, waits, dangling work and rescuers, explained.

Works on a snapshot (a deep one: with the log and the stacks).  Each finding
has a severity, what was found, where, the evidence, and one suggestion.
The stall finding replays the kernel's watchdog rule (kernel/workqueue.c,
wq_watchdog_timer_fn()) and words its verdict as the kernel does.
"""

import re
from dataclasses import dataclass, field

from .model.watchdog import DEFAULT_THRESH, check_pool, delta as _delta
from .snapshot import Pool, Snapshot, Work, Worker, cpulist

SEVERITIES = ("critical", "warning", "info")
#: Scheduler and wait internals, left out of stack summaries.
_WAIT_FRAMES = re.compile(r"(__)?schedule|context_switch|__schedule_loop|schedule_timeout|do_wait_for_common"
                          r"|__wait_for_common|wait_for_common$")


@dataclass
class Finding:
    severity: str
    kind: str
    what: str
    where: str
    evidence: list[str] = field(default_factory=list)
    suggestion: str = ""
    #: Ranks findings of one severity (larger first).
    weight: float = 0.0
    data: dict = field(default_factory=dict)


class _Ctx:
    def __init__(self, snap: Snapshot, thresh: int | None):
        self.snap = snap
        self.hz = snap.kernel.hz
        self.thresh_override = thresh
        self.pools = {p.id: p for p in snap.pools}
        self.workers = {w.address: w for w in snap.workers}
        self.stacks = {s.task.pid: s for s in snap.stacks}

    def stack_summary(self, pid: int | None, n: int = 6) -> str:
        st = self.stacks.get(pid)
        if st is None:
            return ""
        if st.error:
            if st.on_cpu and self.snap.target.live:
                # drgn unwinds a running task only from a dump's saved registers.
                return (f"(stack not readable: it is running on CPU {st.cpu} of a live kernel; "
                        "a vmcore has its registers)")
            return f"(stack not readable: {st.error})"
        frames = [f for f in st.frames if not _WAIT_FRAMES.match(f)]
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
        if w.current_start is not None and self.hz:
            parts.append(f"running for {_delta(self.snap.kernel.jiffies, w.current_start) / self.hz:.1f} s")
        if w.current_cpu_ns is not None:
            parts.append(f"{w.current_cpu_ns / 1e6:.0f} ms of CPU since it last slept")
        return ", ".join(parts)


def pool_description(snap: Snapshot, pool: Pool) -> str:
    """The pool as the kernel prints it (pr_cont_pool_info())."""
    text = f"pool cpus={cpulist(pool.cpus)}"
    if pool.node != -1:
        text += f" node={pool.node}"
    text += f" flags={pool.flags:#x}"
    if "POOL_BH" in pool.flag_names:
        text += " bh" + ("-hi" if pool.nice < 0 else "")
    else:
        text += f" nice={pool.nice}"
    return text


# ---- stalls

_LOCKUP_RE = re.compile(r"BUG: workqueue lockup - (pool .*?) stuck for (\d+)s!")


def stalls(ctx: _Ctx) -> list[Finding]:
    snap, hz = ctx.snap, ctx.hz
    if not hz:
        return []
    wd = snap.watchdog
    if ctx.thresh_override is not None:
        thresh, origin = ctx.thresh_override, "--thresh"
    elif wd is not None and wd.thresh is not None:
        thresh, origin = wd.thresh, "the kernel's workqueue.watchdog_thresh"
    else:
        thresh, origin = DEFAULT_THRESH, "the default (this kernel has no CONFIG_WQ_WATCHDOG)"
    if not thresh:
        return []
    touched_cpu = dict(map(tuple, wd.touched_cpu)) if wd and wd.thresh is not None else {}
    printed = {}
    for rec in snap.log:
        m = _LOCKUP_RE.search(rec.text)
        if m:
            printed.setdefault(m.group(1), []).append((rec.time, int(m.group(2))))
    now = snap.kernel.jiffies
    out = []
    for pool in snap.pools:
        if not pool.worklist_len:
            continue  # the watchdog skips pools with nothing queued
        touched = touched_cpu.get(pool.cpu) if pool.cpu >= 0 else (wd.touched if wd else None)
        v = check_pool(now, pool.progress_ts, touched, thresh, hz)
        stuck_j = v.stuck
        desc = pool_description(snap, pool)
        # The kernel's own reports of this stall: those printed since the pool's last progress.
        since = snap.uptime - stuck_j / hz if snap.uptime is not None else None
        reports = [(t, n) for t, n in printed.get(desc, []) if since is None or t >= since - 1]
        if stuck_j <= thresh * hz and not (reports or pool.cpu_stall):
            # (A pool the kernel has reported stays a stall whatever --thresh says.)
            if stuck_j > thresh * hz // 2:
                out.append(Finding("warning", "stall", f"{desc} has made no progress for "
                                                       f"{stuck_j / hz:.1f} s", f"pool {pool.id}",
                                   [f"the watchdog would report it in {v.until / hz:.1f} s "
                                    f"(threshold {thresh} s, {origin})"],
                                   "see what its busy workers are doing", stuck_j / hz))
            continue
        seconds = v.seconds
        busy = [ctx.workers[a] for a in pool.busy if a in ctx.workers]
        if not (v.fires or reports or pool.cpu_stall or touched is None):
            # Touched recently by something else than the watchdog itself (which resets every stamp
            # after each check, and then has reported the pool): not yet a lockup by the kernel's rule.
            out.append(Finding("warning", "stall", f"{desc} has made no progress for {stuck_j / hz:.1f} s",
                               f"pool {pool.id}",
                               [f"the watchdog was touched {_delta(now, touched) / hz:.1f} s ago: it reports the "
                                f"pool in {v.until / hz:.1f} s unless it progresses"],
                               _stall_advice(pool, busy), stuck_j / hz))
            continue
        evidence = [f"{pool.worklist_len} work item(s) queued and not started: " + _funcs(
            [w for w in snap.works if w.where == "worklist" and w.pool_id == pool.id])]
        evidence += [f"busy: {ctx.worker_line(w)}" for w in busy]
        evidence.append(f"last progress {stuck_j / hz:.1f} s ago; threshold {thresh} s ({origin})"
                        + ("" if touched is None else f"; watchdog touched {_delta(now, touched) / hz:.1f} s ago"))
        if pool.cpu_stall:
            evidence.append("the kernel's watchdog marked it cpu_stall")
        data = {"pool": pool.id, "seconds": seconds, "description": desc}
        for t, n in reports:
            if snap.uptime is not None:
                at_print = stuck_j / hz - (snap.uptime - t)
                evidence.append(f"the kernel printed 'stuck for {n}s' at {t:.3f} s; replayed for that moment: "
                                f"{at_print:.1f} s")
                data.setdefault("printed", []).append({"time": t, "seconds": n, "replayed": round(at_print, 3)})
            else:
                evidence.append(f"the kernel printed 'stuck for {n}s' at {t:.3f} s")
        out.append(Finding("critical", "stall", f"BUG: workqueue lockup - {desc} stuck for {seconds}s!",
                           f"pool {pool.id}", evidence, _stall_advice(pool, busy), stuck_j / hz, data))
    return out


def _funcs(works: list[Work], n: int = 6) -> str:
    names: dict[str, int] = {}
    for w in works:
        names[str(w.func)] = names.get(str(w.func), 0) + 1
    items = [f"{k}×{v}" if v > 1 else k for k, v in names.items()]
    return ", ".join(items[:n]) + (", …" if len(items) > n else "")


def _stall_advice(pool: Pool, busy: list[Worker]) -> str:
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


# ---- CPU hogs

def hogs(ctx: _Ctx) -> list[Finding]:
    snap = ctx.snap
    out = []
    ci = snap.cpu_intensive
    thresh_us = ci.thresh_us if ci and ci.thresh_us is not None and ci.thresh_us < 1 << 63 else None
    for w in snap.workers:
        if w.current_work is None or w.current_func is None:
            continue
        wq, _ = snap.pwq(w.current_pwq)
        auto = "WORKER_CPU_INTENSIVE" in w.flag_names and (wq is None or "WQ_CPU_INTENSIVE" not in wq.flag_names)
        cpu_ms = w.current_cpu_ns / 1e6 if w.current_cpu_ns is not None else None
        long_cpu = cpu_ms is not None and thresh_us is not None and cpu_ms * 1000 >= thresh_us and \
            w.task is not None and w.task.state == "R"
        if not (auto or long_cpu):
            continue
        evidence = [ctx.worker_line(w)]
        if auto:
            evidence.append(f"the kernel marked the worker CPU_INTENSIVE: it ran more than "
                            f"{thresh_us or '?'} µs without sleeping")
        out.append(Finding("warning", "hog", f"{w.current_func} is hogging CPU "
                                             f"{ctx.pools[w.pool_id].cpu if w.pool_id in ctx.pools else '?'}",
                           f"{w.name} in pool {w.pool_id} ({wq.label if wq else '?'})", evidence,
                           "consider WQ_UNBOUND (or cond_resched() in long loops)", cpu_ms or 0))
    if ci:
        for h in ci.hogs:
            out.append(Finding("warning", "hog", f"{h.func} hogged a CPU {h.count} time(s)", "hog report table",
                               [f"workqueue: {h.func.name} hogged CPU for >{thresh_us or '?'}us {h.count} times, "
                                f"consider switching to WQ_UNBOUND (the kernel's CPU-hog table)"],
                               "consider switching it to WQ_UNBOUND", h.count))
    return out


# ---- who waits for whom

def waits(ctx: _Ctx) -> list[Finding]:
    snap = ctx.snap
    out = []
    by_addr: dict[int, list[Work]] = {}
    for w in snap.works:
        by_addr.setdefault(w.address, []).append(w)
    running = {w.address: ctx.workers.get(w.worker) for w in snap.works if w.where == "running"}
    waiting_task: dict[int, str] = {}  # pid -> what it waits for (for cycle detection)
    edges: dict[int, int] = {}
    for b in snap.works:
        if b.barrier is None or b.barrier.waiter is None or b.where == "running":
            continue  # a running barrier is completing its waiter's flush
        t = b.barrier.waiter
        target = next((x for x in by_addr.get(b.barrier.target or -1, []) if x.barrier is None), None)
        holder = running.get(b.barrier.target) if b.barrier.target else None
        evidence = [f"task {t.comm} (pid {t.pid}) waits in flush_work(): {ctx.stack_summary(t.pid)}"]
        if holder is not None and b.where == "scheduled":
            evidence.append(f"{target.func if target else 'the work'} runs on {ctx.worker_line(holder)}")
            if holder.task:
                edges[t.pid] = holder.task.pid
        elif target is not None:
            evidence.append(f"{target.func} is {target.where} on {target.wq_name} "
                            f"(position {target.position})" + _blockers(ctx, target))
        waiting_task[t.pid] = f"flush_work({target.func if target else '?'})"
        out.append(Finding("info", "wait", f"{t.comm} (pid {t.pid}) waits for "
                                           f"{target.func if target else 'a work item'} to finish",
                           f"workqueue {b.wq_name}", evidence,
                           "nothing to do if the work finishes; if it never does, see what it waits for",
                           0, {"waiter": t.pid}))
    for wq in snap.workqueues:
        for f in ([wq.first_flusher] if wq.first_flusher else []) + wq.flusher_queue + wq.flusher_overflow:
            for t in f.waiters:
                color = f.flush_color
                pending = [w for w in snap.works_of(wq) if w.color == color and w.where not in ("delayed", "rcu")]
                evidence = [f"task {t.comm} (pid {t.pid}) waits in flush_workqueue() for color {color} "
                            f"({f.where}): {ctx.stack_summary(t.pid)}",
                            f"{len(pending)} item(s) of color {color} still in flight: {_funcs(pending)}"]
                for w in pending:
                    holder = running.get(w.address) if w.where == "running" else None
                    if holder is not None:
                        evidence.append(f"{w.func} runs on {ctx.worker_line(holder)}")
                        if holder.task:
                            edges.setdefault(t.pid, holder.task.pid)
                out.append(Finding("info", "wait", f"{t.comm} (pid {t.pid}) waits for workqueue {wq.label} to "
                                                   f"flush", f"workqueue {wq.label}", evidence,
                                   "nothing to do if those items finish; if not, see what they wait for", 0,
                                   {"waiter": t.pid}))
    explained = {f.data.get("waiter") for f in out}
    for st in snap.stacks:
        if st.why == "blocked in flush" and st.task.pid not in explained:
            out.append(Finding("info", "wait", f"{st.task.comm} (pid {st.task.pid}) is blocked in a flush, "
                                               f"drain or cancel of work", "task", [ctx.stack_summary(st.task.pid, 10)],
                               "see which work or workqueue it waits for in its stack"))
    # A waiter that waits (through the workers it depends on) for itself never wakes up.
    for start in edges:
        seen, cur = [start], edges[start]
        while cur in edges and cur not in seen:
            seen.append(cur)
            cur = edges[cur]
        if cur == start:
            names = " → ".join(f"{ctx.stacks[p].task.comm if p in ctx.stacks else p} ({p})" for p in seen + [start])
            out.append(Finding("critical", "deadlock", "a flush waits for itself", "tasks " + names,
                               [f"{p}: {waiting_task.get(p, 'runs a work item')}" for p in seen],
                               "a work item must not flush its own workqueue (or work queued behind it on an "
                               "ordered or max_active=1 workqueue)", len(seen)))
            break
    return out


def _blockers(ctx: _Ctx, target: Work) -> str:
    if target.where != "inactive":
        return ""
    holders = [w for w in ctx.snap.works if w.pwq == target.pwq and w.where == "running"]
    if not holders:
        return ""
    worker = ctx.workers.get(holders[0].worker)
    return f"; its pwq's active slot is held by {holders[0].func}" + (
        f" on {ctx.worker_line(worker)}" if worker else "")


# ---- dangling work

def _owner(snap: Snapshot, address: int) -> str | None:
    """Which memory an address belongs to: a module name, "kernel", or None if nothing loaded covers it."""
    if snap.kernel_image and snap.kernel_image[0] <= address < snap.kernel_image[1]:
        return "kernel"
    for m in snap.modules:
        if any(a <= address < b for a, b in m.ranges):
            return m.name
    return None


def _in_module_area(snap: Snapshot, address: int) -> bool:
    area = snap.kernel.module_area
    return bool(area) and area[0] <= address < area[1]


def dangling(ctx: _Ctx) -> list[Finding]:
    snap = ctx.snap
    out = []
    last = snap.last_unloaded_module
    hint = f"the last module unloaded was {last}" if last else "no module unload is recorded"
    for t in snap.broken_timers:
        owner = _owner(snap, t.address)
        if owner is None:
            where_ = "in module memory that no loaded module covers" if _in_module_area(snap, t.address) \
                else "in memory nothing loaded covers"
        else:
            where_ = f"in memory that {'the kernel' if owner == 'kernel' else 'module ' + owner} uses now"
        out.append(Finding(
            "critical", "dangling", f"a timer on CPU {t.cpu}'s timer wheel lies in freed memory",
            f"timer {t.address:#x} (CPU {t.cpu}, base {t.base})",
            [f"the wheel's link points to {t.address:#x}, {where_}: {t.error}", hint,
             "timers queued after it in the same wheel bucket cannot be read"],
            "a module exited with a timer or delayed work still pending: call cancel_delayed_work_sync() "
            "(or timer_delete_sync()) in its exit path; the kernel crashes in __run_timers() when it expires",
            2, {"address": t.address, "last_unloaded_module": last}))
    wqs = {wq.address for wq in snap.workqueues}
    for w in snap.works:
        problems = []
        if w.func.address and _owner(snap, w.func.address) is None:
            problems.append(f"its function {w.func.address:#x} lies in no loaded module and not in the kernel")
        if _in_module_area(snap, w.address) and _owner(snap, w.address) is None:
            problems.append(f"the work_struct {w.address:#x} lies in module memory no loaded module covers")
        if w.where in ("delayed", "rcu") and w.wq is not None and w.wq not in wqs:
            problems.append(f"it targets workqueue {w.wq:#x}, which no longer exists")
        if problems:
            out.append(Finding("critical", "dangling", f"{w.where} work {w.address:#x} ({w.func}) is dangling",
                               f"{w.where} on {w.wq_name or 'an unknown workqueue'}", problems + [hint],
                               "cancel the work (cancel_work_sync / cancel_delayed_work_sync) before its module "
                               "or workqueue goes away", 1))
    return out


# ---- rescuers

def rescuers(ctx: _Ctx) -> list[Finding]:
    """Pools asking rescuers for help now, and rescuers at work.

    The mayday/rescued counters alone are no finding: a mayday goes out whenever creating a
    worker takes longer than MAYDAY_INITIAL_TIMEOUT (10 ms), which a slow or busy machine does
    at boot. They are evidence for the findings below.
    """
    snap = ctx.snap
    out = []

    def counters(wq) -> str | None:
        stats = {}
        for p in wq.pwqs if wq else ():
            for k, v in (p.stats or {}).items():
                stats[k] = stats.get(k, 0) + v
        if not stats:
            return None
        return f"since boot: {stats.get('mayday', 0)} mayday(s), {stats.get('rescued', 0)} item(s) rescued"

    for wq in snap.workqueues:
        if wq.maydays:
            pools = sorted({p.pool_id for p in wq.pwqs if p.address in wq.maydays})
            evidence = [f"{len(wq.maydays)} pwq(s) on maydays, pools {pools}",
                        "a pool sends maydays when it cannot create a worker (memory pressure?)"]
            evidence += [c for c in [counters(wq)] if c]
            out.append(Finding("warning", "rescuer", f"{wq.label} called its rescuer: its pool(s) could not get a "
                                                     f"worker", f"workqueue {wq.label}", evidence,
                               "check memory and kthread creation; the rescuer processes items meanwhile", 1))
    by_addr = {wq.address: wq for wq in snap.workqueues}
    for w in snap.workers:
        if w.rescuer_of is not None and w.current_work is not None:
            evidence = [ctx.worker_line(w)] + [c for c in [counters(by_addr.get(w.rescue_wq))] if c]
            out.append(Finding("warning", "rescuer", f"the rescuer of {w.rescuer_of} is running an item",
                               f"{w.name} in pool {w.pool_id}", evidence,
                               "the pool could not create workers; if the item blocks, the rescuer is stuck", 1))
    return out


# ---- the log

def log_reports(ctx: _Ctx, found: list[Finding]) -> list[Finding]:
    """Lockups and hogs the kernel printed that no current finding explains (history)."""
    snap = ctx.snap
    out = []
    explained = {f.data.get("description") for f in found if f.kind == "stall"}
    seen = set()
    for rec in snap.log:
        m = _LOCKUP_RE.search(rec.text)
        if m and m.group(1) not in explained and m.group(1) not in seen:
            seen.add(m.group(1))
            out.append(Finding("info", "log", f"the kernel reported a lockup of {m.group(1)}",
                               "kernel log", [f"[{rec.time:.3f}] {rec.text.strip()}",
                                              "the pool is not stalled now"], "look at what ran then", rec.time))
        if "hogged CPU" in rec.text and not any(f.kind == "hog" and rec.text.split("hogged")[0].split()[-1]
                                                in f.what for f in found):
            out.append(Finding("info", "log", "the kernel reported a CPU hog", "kernel log",
                               [f"[{rec.time:.3f}] {rec.text.strip()}"], "consider switching it to WQ_UNBOUND",
                               rec.time))
    return out


def diagnose(snap: Snapshot, thresh: int | None = None) -> list[Finding]:
    ctx = _Ctx(snap, thresh)
    found = stalls(ctx) + hogs(ctx) + waits(ctx) + dangling(ctx) + rescuers(ctx)
    found += log_reports(ctx, found)
    return sorted(found, key=lambda f: (SEVERITIES.index(f.severity), -f.weight))
