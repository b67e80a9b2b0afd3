# SPDX-License-Identifier: LGPL-2.1-or-later
"""The detectors: each looks at a snapshot and returns facts (:mod:`.facts`); none words them.

The stall detector replays the kernel's watchdog rule (kernel/workqueue.c,
wq_watchdog_timer_fn(), in :mod:`wqinspect.model.watchdog`).  Objects whose
values are implausible (:mod:`wqinspect.model.plausible`) are left out: a
damaged read is a warning, never a finding.
"""

import re
from dataclasses import dataclass

from ..model.plausible import Damage
from ..model.watchdog import DEFAULT_THRESH, check_pool
from ..snapshot import Snapshot, Where, Work, jiffies_delta
from . import facts as F

#: Scheduler, wait and flush internals, left out of stack summaries and signatures.
WAIT_FRAMES = re.compile(r"(__)?schedule|context_switch|__schedule_loop|schedule_timeout|do_wait_for_common"
                         r"|__wait_for_common|wait_for_common$")
_FLUSH_FRAMES = re.compile(r"flush|drain|cancel|wait_for_completion|__wait|wait_on")
LOCKUP_RE = re.compile(r"BUG: workqueue lockup - (pool .*?) stuck for (\d{1,12})s!")
HOG_RE = re.compile(r"workqueue: (\S+)(?: \[\S+\])? hogged CPU")


@dataclass
class Context:
    snap: Snapshot
    #: --thresh, overriding the kernel's watchdog threshold.
    thresh: int | None
    damage: Damage


def pool_description(snap: Snapshot, pool) -> str:
    """The pool as the kernel's lockup report names it: ``pool`` and pr_cont_pool_info()."""
    return "pool" + pool.printed()


def _where(w: Work) -> Where:
    return Where(w.where)


# ---- stalls

def _threshold(ctx: Context) -> tuple[int, str]:
    wd = ctx.snap.watchdog
    if ctx.thresh is not None:
        return ctx.thresh, "--thresh"
    if wd is not None and wd.thresh is not None:
        return wd.thresh, "the kernel's workqueue.watchdog_thresh"
    return DEFAULT_THRESH, "the default (this kernel has no CONFIG_WQ_WATCHDOG)"


def _printed(snap: Snapshot) -> dict[str, list[tuple[float, int]]]:
    out: dict[str, list[tuple[float, int]]] = {}
    for rec in snap.log:
        m = LOCKUP_RE.search(rec.text)
        if m:
            out.setdefault(m.group(1), []).append((rec.time, int(m.group(2))))
    return out


def stalls(ctx: Context) -> list[F.Stall]:
    snap, hz = ctx.snap, ctx.snap.kernel.hz
    if not hz:
        return []
    thresh, origin = _threshold(ctx)
    if not thresh:
        return []
    wd = snap.watchdog
    watchdog = wd is not None and wd.thresh is not None
    touched_cpu = {cpu: ts for cpu, ts in wd.touched_cpu} if watchdog else {}
    printed = _printed(snap)
    now = snap.kernel.jiffies
    out = []
    for pool in snap.pools:
        if not pool.worklist_len or pool.id in ctx.damage.pools:
            continue  # the watchdog skips pools with nothing queued
        touched = touched_cpu.get(pool.cpu) if pool.cpu >= 0 else (wd.touched if wd else None)
        v = check_pool(now, pool.progress_ts, touched, thresh, hz)
        desc = pool_description(snap, pool)
        # The kernel's own reports of this stall: those printed since the pool's last progress.
        since = snap.uptime - v.stuck / hz if snap.uptime is not None else None
        reports = [(t, n) for t, n in printed.get(desc, []) if since is None or t >= since - 1]
        fact = F.Stall(pool=pool.id, description=desc, state=F.StallState.LOCKUP, stuck=v.stuck, seconds=v.seconds,
                       until=v.until, thresh=thresh, origin=origin,
                       touched_ago=None if touched is None else jiffies_delta(now, touched),
                       cpu_stall=bool(pool.cpu_stall), busy=[a for a in pool.busy if snap.worker(a) is not None])
        if v.stuck <= thresh * hz and not (reports or pool.cpu_stall):
            # (A pool the kernel has reported stays a stall whatever --thresh says.)
            if v.stuck > thresh * hz // 2:
                fact.state = F.StallState.NEAR
                out.append(fact)
            continue
        if not (v.fires or reports or pool.cpu_stall or touched is None):
            # Touched recently by something else than the watchdog itself (which resets every stamp
            # after each check, and then has reported the pool): not yet a lockup by the kernel's rule.
            fact.state = F.StallState.TOUCHED
            out.append(fact)
            continue
        for t, n in reports:
            replayed = round(v.stuck / hz - (snap.uptime - t), 3) if snap.uptime is not None else None
            fact.printed.append(F.Printed(time=t, seconds=n, replayed=replayed))
        out.append(fact)
    return out


# ---- CPU hogs

def _hog_thresh_us(snap: Snapshot) -> int | None:
    ci = snap.cpu_intensive
    return ci.thresh_us if ci and ci.thresh_us is not None and ci.thresh_us < 1 << 63 else None


def hogs(ctx: Context) -> list[F.Hog]:
    snap = ctx.snap
    thresh_us = _hog_thresh_us(snap)
    out = []
    for w in snap.workers:
        if w.current_work is None or w.current_func is None or w.address in ctx.damage.workers:
            continue
        wq, _ = snap.pwq(w.current_pwq)
        auto = "WORKER_CPU_INTENSIVE" in w.flag_names and (wq is None or "WQ_CPU_INTENSIVE" not in wq.flag_names)
        cpu_ms = w.current_cpu_ns / 1e6 if w.current_cpu_ns is not None else None
        long_cpu = (cpu_ms is not None and thresh_us is not None and cpu_ms * 1000 >= thresh_us
                    and w.task is not None and w.task.state == "R")
        if not (auto or long_cpu):
            continue
        pool = snap.pool(w.pool_id)
        out.append(F.Hog(worker=w.address, func=w.current_func, cpu=pool.cpu if pool and pool.cpu >= 0 else None,
                         auto=auto, cpu_ms=cpu_ms, thresh_us=thresh_us))
    return out


def hog_reports(ctx: Context) -> list[F.HogReport]:
    ci = ctx.snap.cpu_intensive
    if not ci:
        return []
    thresh_us = _hog_thresh_us(ctx.snap)
    return [F.HogReport(func=h.func, count=h.count, thresh_us=thresh_us) for h in ci.hogs]


# ---- who waits for whom

def _running_worker(snap: Snapshot, address: int | None):
    """The worker running the item at ``address``, if one does."""
    w = snap.ix.works.get(address) if address is not None else None
    if w is None or _where(w) != Where.RUNNING:
        return None
    return snap.worker(w.worker)


def _caller(snap: Snapshot, pid: int) -> str | None:
    st = snap.stack(pid)
    for frame in st.frames if st else ():
        head = frame.split("+", 1)[0].split()
        name = head[0] if head else ""
        if name and not WAIT_FRAMES.match(name) and not _FLUSH_FRAMES.search(name):
            return name
    return None


def waits(ctx: Context) -> list[F.Fact]:
    snap = ctx.snap
    out: list[F.Fact] = []
    #: Who waits for whom (pids): a waiter -> the task of the worker it depends on.
    edges: dict[int, int] = {}
    waits_for: dict[int, str] = {}
    for b in snap.works:
        if b.barrier is None or b.barrier.waiter is None or _where(b) == Where.RUNNING:
            continue  # a running barrier is completing its waiter's flush
        t = b.barrier.waiter
        target = snap.ix.works.get(b.barrier.target) if b.barrier.target is not None else None
        if target is not None and target.barrier is not None:
            target = None
        holder = _running_worker(snap, b.barrier.target) if _where(b) == Where.SCHEDULED else None
        if holder is not None and holder.task:
            edges[t.pid] = holder.task.pid
        waits_for[t.pid] = f"flush_work({target.func if target else '?'})"
        out.append(F.FlushWorkWait(waiter=t, barrier=b.address, wq_name=b.wq_name,
                                   target=target.address if target else None,
                                   target_func=target.func if target else None,
                                   holder=holder.address if holder else None))
    for wq in snap.workqueues:
        for f in wq.flushers:
            pending = [w for w in snap.works_of(wq) if w.color == f.flush_color and _where(w).in_pool]
            holders = [h for h in (_running_worker(snap, w.address) for w in pending) if h is not None]
            for t in f.waiters:
                for h in holders:
                    if h.task:
                        edges.setdefault(t.pid, h.task.pid)
                waits_for[t.pid] = f"flush_workqueue({wq.name})"
                out.append(F.FlushWorkqueueWait(waiter=t, wq=wq.address, color=f.flush_color, flusher=str(f.where),
                                                pending=[w.address for w in pending],
                                                holders=[h.address for h in holders]))
    explained = {f.waiter.pid for f in out}
    for st in snap.stacks:
        if st.why == "blocked in flush" and st.task.pid not in explained:
            out.append(F.BlockedInFlush(task=st.task, caller=_caller(snap, st.task.pid)))
    # A waiter that waits (through the workers it depends on) for itself never wakes up.
    for start in edges:
        seen, cur = [start], edges[start]
        while cur in edges and cur not in seen:
            seen.append(cur)
            cur = edges[cur]
        if cur == start:
            funcs = set()
            for pid in seen:
                for w in snap.workers:
                    if w.task is not None and w.task.pid == pid and w.current_func is not None:
                        funcs.add(w.current_func.name or "?")
            comm = {f.waiter.pid: f.waiter.comm for f in out if isinstance(f, (F.FlushWorkWait,
                                                                                 F.FlushWorkqueueWait))}
            out.append(F.Deadlock(cycle=[F.CycleStep(pid=p, comm=(snap.stack(p).task.comm if snap.stack(p)
                                                                    else comm.get(p)), waits_for=waits_for.get(p))
                                         for p in seen], funcs=sorted(funcs)))
            break
    return out


# ---- dangling work

def owner(snap: Snapshot, address: int) -> str | None:
    """Which memory an address belongs to: a module name, "kernel", or None if nothing loaded covers it.

    Without the kernel image's range (not read, or an old snapshot) only module memory can be judged:
    any other address is "unknown", never unloaded.
    """
    if snap.in_kernel_image(address):
        return "kernel"
    m = snap.module_of(address)
    if m:
        return m.name
    if snap.kernel_image is None and not in_module_area(snap, address):
        return "unknown"
    return None


def in_module_area(snap: Snapshot, address: int) -> bool:
    area = snap.kernel.module_area
    return bool(area) and area[0] <= address < area[1]


def dangling(ctx: Context) -> list[F.Fact]:
    snap = ctx.snap
    last = snap.last_unloaded_module
    out: list[F.Fact] = [F.DanglingTimer(address=t.address, cpu=t.cpu, base=t.base, error=t.error,
                                         owner=owner(snap, t.address), in_module_area=in_module_area(snap, t.address),
                                         last_unloaded_module=last)
                         for t in snap.broken_timers]
    # A dump that left pages out (makedumpfile -d 31) may lack workqueues that exist: then a missing one proves nothing.
    excluded = any("page excluded by makedumpfile" in x.message for x in snap.warnings)
    for w in snap.works:
        func_unloaded = bool(w.func.address) and owner(snap, w.func.address) is None
        struct_unloaded = in_module_area(snap, w.address) and owner(snap, w.address) is None
        # With no workqueue read at all, a missing workqueue proves nothing.
        wq_gone = (not _where(w).in_pool and w.wq is not None and snap.workqueue(w.wq) is None
                   and not ctx.damage.no_workqueues and not excluded)
        if func_unloaded or struct_unloaded or wq_gone:
            out.append(F.DanglingWork(work=w.address, func=w.func, where=str(w.where), wq=w.wq, wq_name=w.wq_name,
                                      func_unloaded=func_unloaded, struct_unloaded=struct_unloaded, wq_gone=wq_gone,
                                      last_unloaded_module=last))
    return out


def stranded(ctx: Context) -> list[F.StrandedTimer]:
    """Delayed works whose timer is on the wheel of a CPU that is not online (oracle-samples/drgn-tools#140)."""
    snap = ctx.snap
    online = set(snap.kernel.online_cpus)
    if not online:
        return []  # not read: nothing to compare with
    warned = next((f"[{r.time:.3f}] {r.text.strip()}" for r in snap.log
                   if "WARNING" in r.text and ("__queue_delayed_work" in r.text or "add_timer_on" in r.text)), None)
    out = []
    for w in snap.works:
        d = w.delayed
        if _where(w) != Where.DELAYED or d is None or d.timer_cpu < 0 or d.timer_cpu in online:
            continue
        if d.timer_cpu not in snap.kernel.possible_cpus and snap.kernel.possible_cpus:
            continue  # not a CPU of this machine: a damaged timer, not a stranded one
        out.append(F.StrandedTimer(work=w.address, func=w.func, timer=d.timer, timer_cpu=d.timer_cpu,
                                   expires_in=None if snap.jiffies_ago(d.expires) is None
                                   else -snap.jiffies_ago(d.expires),
                                   wq_name=w.wq_name, online_cpus=sorted(online), warned=warned))
    return out


# ---- rescuers

def rescuers(ctx: Context) -> list[F.Fact]:
    """Pools asking rescuers for help now, and rescuers at work.

    The mayday/rescued counters alone are no finding: a mayday goes out whenever creating a
    worker takes longer than MAYDAY_INITIAL_TIMEOUT (10 ms), which a slow or busy machine does
    at boot. They are evidence for the findings (see :mod:`.words`).
    """
    snap = ctx.snap
    out: list[F.Fact] = []
    for wq in snap.workqueues:
        if wq.maydays and wq.address not in ctx.damage.workqueues:
            out.append(F.Mayday(wq=wq.address, pwqs=list(wq.maydays),
                                pools=sorted({p.pool_id for p in wq.pwqs if p.address in wq.maydays})))
    for w in snap.workers:
        if w.rescuer_of is not None and w.current_work is not None and w.address not in ctx.damage.workers:
            out.append(F.RescuerAtWork(worker=w.address, rescuer_of=w.rescuer_of, wq=w.rescue_wq))
    return out


# ---- the log

def log_reports(ctx: Context, found: list[F.Fact]) -> list[F.Fact]:
    """Lockups and hogs the kernel printed that no current fact explains (history)."""
    explained = {f.description for f in found if isinstance(f, F.Stall) and f.state == F.StallState.LOCKUP}
    hog_funcs = [str(f.func) for f in found if isinstance(f, (F.Hog, F.HogReport))]
    out: list[F.Fact] = []
    seen = set()
    for rec in ctx.snap.log:
        m = LOCKUP_RE.search(rec.text)
        if m and m.group(1) not in explained and m.group(1) not in seen:
            seen.add(m.group(1))
            out.append(F.LogLockup(description=m.group(1), time=rec.time, text=rec.text.strip()))
        if "hogged CPU" in rec.text:
            h = HOG_RE.search(rec.text)
            func = h.group(1) if h else None
            if func is None or not any(func in s for s in hog_funcs):
                out.append(F.LogHog(func=func, time=rec.time, text=rec.text.strip()))
    return out


def detect(ctx: Context) -> list[F.Fact]:
    found = stalls(ctx) + hogs(ctx) + hog_reports(ctx) + waits(ctx) + dangling(ctx) + stranded(ctx) + rescuers(ctx)
    return found + log_reports(ctx, found)
