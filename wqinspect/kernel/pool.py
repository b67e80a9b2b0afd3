# SPDX-License-Identifier: LGPL-2.1-or-later
"""Worker pools and their workers."""

from typing import Iterator

from drgn import Object, Program, cast
from drgn.helpers.linux.idr import idr_for_each

from .layout import layout
from .walk import hlist_for_each_entry_bounded, list_for_each_entry_bounded


def for_each_pool(prog: Program) -> Iterator[Object]:
    """
    Iterate over every worker pool: per-cpu, BH and unbound ones, all of which
    are registered in ``worker_pool_idr``.

    :return: Iterator of ``struct worker_pool *`` objects, by pool id.
    """
    ptype = prog.type("struct worker_pool *")
    for _, entry in idr_for_each(prog["worker_pool_idr"].address_of_()):
        yield cast(ptype, entry)


def pool_progress_ts(pool: Object) -> int:
    """
    Jiffies of the pool's last forward progress, the watchdog's reference.

    :param pool: ``struct worker_pool *``
    """
    return getattr(pool, layout(pool.prog_).pool_progress_ts).value_()


def pool_is_bh(pool: Object) -> bool:
    """True for the per-cpu pools that run work in softirq context (v6.9+)."""
    return bool(pool.flags.value_() & layout(pool.prog_).pool_flag("POOL_BH"))


def pool_workers(pool: Object) -> Iterator[Object]:
    """
    Workers attached to the pool (``pool->workers``), an attached rescuer included.

    :return: Iterator of ``struct worker *`` objects.
    """
    return list_for_each_entry_bounded("struct worker", pool.workers.address_of_(), "node")


def pool_idle_workers(pool: Object) -> Iterator[Object]:
    """
    Idle workers, most recently idle first (``pool->idle_list``).

    :return: Iterator of ``struct worker *`` objects.
    """
    return list_for_each_entry_bounded("struct worker", pool.idle_list.address_of_(), "entry")


def pool_busy_workers(pool: Object) -> Iterator[Object]:
    """
    Workers executing a work item (``pool->busy_hash``).

    :return: Iterator of ``struct worker *`` objects.
    """
    for bucket in pool.busy_hash:
        yield from hlist_for_each_entry_bounded("struct worker", bucket.address_of_(), "hentry")


def pool_worklist(pool: Object) -> Object:
    """:return: ``struct list_head *`` of the pool's queue of work items ready to run."""
    return pool.worklist.address_of_()


def worker_scheduled(worker: Object) -> Object:
    """:return: ``struct list_head *`` of the items a worker has taken on to run next."""
    return worker.scheduled.address_of_()


def worker_task(worker: Object) -> Object | None:
    """The worker's task; None for the pseudo-workers of BH pools, which have none."""
    task = worker.task
    return task if task.value_() else None


def worker_comm(worker: Object, pool: Object | None) -> str | None:
    """
    The name ``ps`` shows for a worker, formed as the kernel's wq_worker_comm():
    ``kworker/N:M[H]``, ``kworker/uP:M``, ``kworker/R-<wq>``, ``kworker/dying``,
    followed by ``+desc`` while it runs an item or ``-desc`` after.

    :param worker: ``struct worker *``
    :param pool: ``worker->pool`` (``struct worker_pool *``) or None
    """
    task = worker_task(worker)
    if task is None:
        return None
    if layout(worker.prog_).worker_full_id:
        if worker.rescue_wq:
            base = "kworker/R-" + worker.rescue_wq.name.string_().decode(errors="replace")
        elif pool is not None:
            cpu = pool.cpu.value_()
            if cpu >= 0:
                base = f"kworker/{cpu}:{worker.id.value_()}{'H' if pool.attrs.nice.value_() < 0 else ''}"
            else:
                base = f"kworker/u{pool.id.value_()}:{worker.id.value_()}"
        else:
            base = "kworker/dying"
    else:
        # Before v6.10 the base is the task's comm (truncated to 15 characters).
        base = task.comm.string_().decode(errors="replace")
    desc = worker.desc.string_().decode(errors="replace")
    if pool is not None and desc:
        base += ("+" if worker.current_work else "-") + desc
    return base[:63]
