# SPDX-License-Identifier: LGPL-2.1-or-later
"""Worker pools and their workers: where they are registered and how they are laid out.

The members read from a ``struct worker_pool``, ``struct workqueue_attrs``,
``struct worker`` and ``struct task_struct`` are listed here once; the
capture reads each object with one bulk read (:mod:`wqinspect.kernel.structs`).
"""

from typing import Iterator

from drgn import Program, offsetof

from .layout import layout
from .structs import Record, record
from .walk import xarray_entries


def pool_addresses(prog: Program) -> Iterator[int]:
    """
    Addresses of every ``struct worker_pool``: per-cpu, BH and unbound ones, all
    of which are registered in ``worker_pool_idr``, in pool id order.  A bounded,
    cycle-checked walk of the IDR's xarray (drgn's ``idr_for_each()`` is not).
    """
    idr = prog["worker_pool_idr"]
    for _, entry in xarray_entries(prog, idr.address_ + offsetof(idr.type_, "idr_rt")):
        yield entry


def pool_record(prog: Program) -> Record:
    return record(prog, "struct worker_pool", {
        "id": "id", "flags": "flags", "cpu": "cpu", "node": "node", "attrs": "attrs",
        "nr_workers": "nr_workers", "nr_idle": "nr_idle", "nr_running": "nr_running",
        "progress_ts": layout(prog).pool_progress_ts, "cpu_stall": "cpu_stall", "manager": "manager",
        "refcnt": "refcnt", "worklist": "worklist.next", "worklist_prev": "worklist.prev",
        "workers": "workers.next", "workers_prev": "workers.prev", "idle_list": "idle_list.next",
        "idle_list_prev": "idle_list.prev", "busy_hash": "busy_hash",
    })


def attrs_record(prog: Program) -> Record:
    return record(prog, "struct workqueue_attrs", {
        "nice": "nice", "affn_strict": "affn_strict", "affn_scope": "affn_scope"})


def worker_record(prog: Program) -> Record:
    return record(prog, "struct worker", {
        "flags": "flags", "task": "task", "pool": "pool", "id": "id", "desc": "desc",
        "current_work": "current_work", "current_func": "current_func", "current_pwq": "current_pwq",
        "current_color": "current_color", "current_start": "current_start", "current_at": "current_at",
        "rescue_wq": "rescue_wq", "sleeping": "sleeping", "last_func": "last_func", "last_active": "last_active",
        "scheduled": "scheduled.next", "scheduled_prev": "scheduled.prev",
    })


def task_record(prog: Program) -> Record:
    return record(prog, "struct task_struct", {
        "pid": "pid", "comm": "comm", "state": layout(prog).task_state, "exit_state": "exit_state",
        "sum_exec_runtime": "se.sum_exec_runtime", "cpus_ptr": "cpus_ptr"})


def task_walk_record(prog: Program) -> Record:
    """What a walk of every task reads of each: its state and its links to the next group leader and the
    other threads of its group."""
    return record(prog, "struct task_struct", {
        "state": layout(prog).task_state, "tasks": "tasks.next", "signal": "signal",
        "thread_next": "thread_node.next", "thread_prev": "thread_node.prev"})


def worker_comm(prog: Program, worker: dict, pool: dict | None, task_comm: str | None,
                rescue_wq_name: str | None) -> str | None:
    """
    The name ``ps`` shows for a worker, formed as the kernel's wq_worker_comm():
    ``kworker/N:M[H]``, ``kworker/uP:M``, ``kworker/R-<wq>``, ``kworker/dying``,
    followed by ``+desc`` while it runs an item or ``-desc`` after.

    :param worker: the decoded ``struct worker`` (:func:`worker_record`)
    :param pool: the decoded ``worker->pool`` with its attrs' ``nice``, or None
    :param task_comm: the task's comm (None: the worker has no task)
    """
    if task_comm is None:
        return None
    if layout(prog).worker_full_id:
        if worker["rescue_wq"]:
            base = "kworker/R-" + (rescue_wq_name or "")
        elif pool is not None:
            cpu = pool["cpu"]
            if cpu >= 0:
                base = f"kworker/{cpu}:{worker['id']}{'H' if pool['nice'] < 0 else ''}"
            else:
                base = f"kworker/u{pool['id']}:{worker['id']}"
        else:
            base = "kworker/dying"
    else:
        # Before v6.10 the base is the task's comm (truncated to 15 characters).
        base = task_comm
    desc = worker["desc"]
    if pool is not None and desc:
        base += ("+" if worker["current_work"] else "-") + desc
    return base[:63]
