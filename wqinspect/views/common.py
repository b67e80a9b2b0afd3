# SPDX-License-Identifier: LGPL-2.1-or-later
"""Formatting and derived values shared by the views (snapshot in, plain values out)."""

import re

from ..snapshot import Pool, Snapshot, Work, Worker, Workqueue, cpulist  # noqa: F401 (re-exported)

_MASK = (1 << 64) - 1


def jiffies_ago(snap: Snapshot, ts: int | None) -> float | None:
    """Seconds from jiffies ``ts`` to the capture; None if HZ is unknown."""
    if ts is None or not snap.kernel.hz:
        return None
    delta = (snap.kernel.jiffies - ts) & _MASK
    if delta >= 1 << 63:
        delta -= 1 << 64
    return delta / snap.kernel.hz


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}s"
    return f"{value:.1f}s"


def short_flags(names: list[str], prefix: str) -> str:
    return ",".join(re.sub(rf"^_*{prefix}", "", n) for n in names) or "-"


def wq_totals(wq: Workqueue) -> dict[str, int]:
    """Active, inactive and in-flight counts over the workqueue's pwqs, as the kernel counts them."""
    return {
        "active": sum(p.nr_active for p in wq.pwqs),
        "inactive": sum(p.nr_inactive for p in wq.pwqs),
        "in_flight": sum(sum(p.nr_in_flight) for p in wq.pwqs),
    }


def wq_flush_state(wq: Workqueue) -> str:
    parts = []
    if wq.flushing:
        parts.append(f"flushing {wq.flush_color}→{wq.work_color}")
    if wq.nr_drainers:
        parts.append("draining")
    return ", ".join(parts)


def match_workqueue(wq: Workqueue, pattern: str | None) -> bool:
    """``pattern`` is a regular expression searched in the name and the system variable."""
    if not pattern:
        return True
    return bool(re.search(pattern, wq.name) or (wq.system_var and re.search(pattern, wq.system_var)))


def named(wq: Workqueue, name: str) -> bool:
    """Exact name (or system variable, e.g. ``system_percpu_wq``) match."""
    return name in (wq.name, wq.system_var, wq.label)


def pool_label(pool: Pool | None) -> str:
    if pool is None:
        return "-"
    if pool.cpu >= 0:
        return f"{pool.id} (cpu {pool.cpu}{' BH' if pool.kind.startswith('bh') else ''}" \
               f"{' hi' if pool.kind.endswith('highpri') else ''})"
    return f"{pool.id} (cpus {cpulist(pool.cpus)})"


def worker_label(w: Worker | None) -> str:
    if w is None:
        return "-"
    if w.task is None:
        return f"BH pseudo-worker of pool {w.pool_id}"
    return f"{w.name} ({w.task.pid})"


WHERE_ORDER = {"running": 0, "scheduled": 1, "worklist": 2, "inactive": 3, "delayed": 4, "rcu": 5}


def work_detail(snap: Snapshot, w: Work) -> str:
    if w.barrier is not None:
        waiter = w.barrier.waiter
        who = f"BAR({waiter.pid} {waiter.comm})" if waiter else "BAR(?)"
        if w.where == "running":
            return f"{who} running: completes the flush it waits on"
        if w.barrier.target is None:
            return f"{who} flushing an item that has finished or was not found"
        target = next((x for x in snap.works if x.address == w.barrier.target and x.barrier is None), None)
        return f"{who} flushing {target.func if target else hex(w.barrier.target)}"
    if w.where in ("running", "scheduled"):
        return f"{'run' if w.where == 'running' else 'held'} by {worker_label(snap.worker(w.worker))}"
    if w.where == "rcu":
        return f"waits for an RCU grace period (callback on cpu {w.rcu_cpu})"
    if w.delayed is not None:
        when = jiffies_ago(snap, w.delayed.expires)
        target = "unbound" if w.delayed.target_cpu is None else f"cpu {w.delayed.target_cpu}"
        due = f"fires in {seconds(-when)}" if when is not None and when <= 0 else f"overdue {seconds(when)}"
        return f"{due} → {target} (timer on cpu {w.delayed.timer_cpu})"
    return ""


def wq_type(wq: Workqueue) -> str:
    """The type column of the kernel's wq_dump.py: percpu, unbound, unbound,S (strict), ordered or bh."""
    if wq.kind == "unbound" and wq.affn_strict:
        return "unbound,S"
    return wq.kind


def cpu_pools(wq: Workqueue) -> dict[int, int]:
    """Each CPU's pool for this workqueue (where work queued on that CPU goes)."""
    return {cpu: p.pool_id for p in wq.pwqs for cpu in p.cpus}


def dfl_pool(wq: Workqueue) -> int | None:
    return next((p.pool_id for p in wq.pwqs if p.address == wq.dfl_pwq), None)
