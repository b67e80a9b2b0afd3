# SPDX-License-Identifier: LGPL-2.1-or-later
"""Pools, their workers, busy_hash and worklists, and the workers' scheduled lists.

Each pool, its attributes, each worker and its task are read with one bulk read;
the lists are walked with raw words.
"""

from ..kernel.cpus import cpumask_cpus, cpumask_var_is_pointer
from ..kernel.pool import attrs_record, pool_addresses, pool_record, worker_comm, worker_record
from ..kernel.structs import fresh_pages, member_offset
from ..kernel.walk import hlist_node_addresses, list_node_addresses
from ..kernel.work import RawWork, read_work
from ..kernel.workqueue import workqueue_name_record
from ..snapshot import Pool, PoolKind, Work, Worker, Where
from ..snapshot.layout import decode_flags
from .base import READ_ERRORS, Reader, fault_text

_MASK = (1 << 64) - 1


def attrs_cpumask(r: Reader, attrs: int, member: str) -> list[int]:
    """CPUs of the ``cpumask_var_t`` ``member`` of the ``struct workqueue_attrs`` at ``attrs``."""
    off = member_offset(r.prog, "struct workqueue_attrs", member)
    if off is None:
        return []
    mask = attrs + off
    if cpumask_var_is_pointer(r.prog):
        mask = r.prog.read_word(mask)
    return cpumask_cpus(r.prog, mask)


def read_pools(r: Reader) -> tuple[list[Pool], list[Worker], list[Work]]:
    """Every pool of ``worker_pool_idr``, with its workers and the work items they hold."""
    pools, workers, works = [], [], []
    seen_workers = r.seen_workers
    for address in r.collect("worker_pool_idr", pool_addresses(r.prog)):
        fresh_pages(r.prog)
        with r.guard(f"pool {address:#x}"):
            pool, pworkers, pworks = read_pool(r, address)
            pools.append(pool)
            r.pool_ids[address] = pool.id
            for w in pworkers:
                if w.address not in seen_workers:
                    seen_workers.add(w.address)
                    workers.append(w)
            works += pworks
    return pools, workers, works


def read_pool(r: Reader, address: int) -> tuple[Pool, list[Worker], list[Work]]:
    prog, lay = r.prog, r.lay
    rec = pool_record(prog)
    p = rec.read(address)
    pid, flags, cpu = p["id"], p["flags"], p["cpu"]
    attrs = p["attrs"]
    try:  # a fault on the attrs is a warning on them: the pool, its workers and items are read on
        a = attrs_record(prog).read(attrs)
        nice = a["nice"]
        cpus = [cpu] if cpu >= 0 else attrs_cpumask(r, attrs, "cpumask")
        pod_cpus = attrs_cpumask(r, attrs, "__pod_cpumask") if lay.attrs_pod_cpumask else None
        strict = a["affn_strict"] if lay.attrs_affn_strict else None
    except READ_ERRORS as e:
        r.warn(f"attrs {attrs:#x} of pool {pid}", f"{fault_text(e)} (its nice and cpus are unknown)")
        nice, cpus, pod_cpus, strict = 0, [cpu] if cpu >= 0 else [], None, None
    p["nice"] = nice
    bh = bool(flags & lay.pool_flag("POOL_BH"))
    kind = PoolKind(("bh" if bh else "cpu") + ("-highpri" if nice < 0 else "") if cpu >= 0 else "unbound")
    pool = Pool(
        address=address, id=pid, cpu=cpu, node=p["node"], flags=flags,
        flag_names=decode_flags(flags, lay.pool_flags), kind=kind, nice=nice,
        cpus=cpus, pod_cpus=pod_cpus, strict=strict,
        nr_workers=p["nr_workers"], nr_idle=p["nr_idle"], nr_running=p["nr_running"],
        progress_ts=p["progress_ts"], cpu_stall=p["cpu_stall"] if lay.pool_cpu_stall else None,
        manager=p["manager"] or None, refcnt=p["refcnt"],
    )
    what = f"pool {pid}"
    works: list[Work] = []
    # The rescuer's bookmark (mayday_cursor) is not a work item.
    works += r.work_items(f"{what} worklist", address + rec.offset("worklist"), p["worklist"], p["worklist_prev"],
                          Where.WORKLIST, pid, skip=lay.mayday_cursor_func)
    pool.worklist_len = len(works)
    node_off = member_offset(prog, "struct worker", "node")
    entry_off = member_offset(prog, "struct worker", "entry")
    hentry_off = member_offset(prog, "struct worker", "hentry")
    pool.workers = [n - node_off for n in r.collect(
        f"{what} workers", list_node_addresses(prog, address + rec.offset("workers"), first=p["workers"],
                                               last=p["workers_prev"]))]
    pool.idle = [n - entry_off for n in r.collect(
        f"{what} idle_list", list_node_addresses(prog, address + rec.offset("idle_list"), first=p["idle_list"],
                                                 last=p["idle_list_prev"]))]
    busy_off = rec.offset("busy_hash")
    busy = []
    for i, first in enumerate(p["busy_hash"]):
        if first:
            busy += [n - hentry_off for n in r.collect(
                f"{what} busy_hash[{i}]", hlist_node_addresses(prog, address + busy_off + 8 * i, first=first))]
    attached = set(pool.workers)
    workers = []
    for w in pool.workers + [b for b in busy if b not in attached]:
        with r.guard(f"worker {w:#x} of {what}"):
            if w not in attached and worker_record(prog).read(w)["pool"] != address:
                r.warn(f"{what} busy_hash", f"worker {w:#x} belongs to another pool: the bucket is damaged")
                busy.remove(w)
                continue
            worker, wworks = read_worker(r, w, p)
            worker.is_manager = worker.address == pool.manager
            workers.append(worker)
            works += wworks
    pool.busy = busy
    return pool, workers, works


def wq_name(r: Reader, address: int) -> str:
    return workqueue_name_record(r.prog).read(address)["name"]


def read_worker(r: Reader, address: int, pool: dict | None) -> tuple[Worker, list[Work]]:
    """The ``struct worker`` at ``address`` and the items it runs and holds.

    :param pool: the decoded ``worker->pool`` (with ``nice``), None for a rescuer attached to no pool
    """
    prog, lay = r.prog, r.lay
    rec = worker_record(prog)
    w = rec.read(address)
    flags = w["flags"]
    task_addr = w["task"]
    t = r.task_fields(task_addr) if task_addr else None
    cur = w["current_work"] or None
    rescue_wq = w["rescue_wq"] or None
    rescue_name = wq_name(r, rescue_wq) if rescue_wq else None
    pool_id = pool["id"] if pool is not None else None
    worker = Worker(
        address=address, pool_id=pool_id, id=w["id"], flags=flags, flag_names=decode_flags(flags, lay.worker_flags),
        task=r.task(task_addr) if task_addr else None,
        name=worker_comm(prog, w, pool, t["comm"] if t is not None else None, rescue_name), desc=w["desc"],
        rescuer_of=rescue_name, rescue_wq=rescue_wq, current_work=cur, sleeping=bool(w["sleeping"]),
        last_func=r.func(w["last_func"]) if w["last_func"] else None, last_active=w["last_active"],
    )
    works: list[Work] = []
    if cur is not None:
        worker.current_func = r.func(w["current_func"])
        worker.current_pwq = w["current_pwq"] or None
        worker.current_color = w["current_color"]
        if lay.worker_current_start:
            worker.current_start = w["current_start"]
        if lay.worker_current_at and t is not None:
            worker.current_cpu_ns = (t["sum_exec_runtime"] - w["current_at"]) & _MASK
        # process_one_work() accounts the item with the data word it saved at the start (and
        # current_color); the word in memory now is off-queue, or belongs to the item's next
        # queueing if it requeued itself, or to freed memory if the function freed its work.
        # So only func, color and pwq come from the worker; data is shown as it is now.
        data = 0
        with r.guard(f"work {cur:#x} run by {worker.name}"):
            data = read_work(prog, cur).data
        running = r.work(RawWork(cur, data, w["current_func"]), Where.RUNNING, 0, pool_id, address)
        running.color, running.pwq, running.pool_id = worker.current_color, worker.current_pwq, pool_id
        works.append(running)
    what = f"worker {worker.name or hex(address)}"
    works += r.work_items(f"{what} scheduled", address + rec.offset("scheduled"), w["scheduled"],
                          w["scheduled_prev"], Where.SCHEDULED, pool_id, address)
    return worker, works
