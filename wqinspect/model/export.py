# SPDX-License-Identifier: LGPL-2.1-or-later
"""The model's state as a :class:`~wqinspect.snapshot.Snapshot`.

Invariants, views and comparisons then work the same on a model state as on
a kernel's.  Addresses are the model's own; flags are by name.
"""

from ..snapshot import (Barrier, DelayedTimer, Flusher, FuncRef, KernelInfo, NodeNrActive, Pool, Pwq, Snapshot,
                        Target, TaskRef, Where, Work, Worker, Workqueue, link_barriers)
from .machine import Machine, MFlusher, MWork


def _kind(flags: set[str]) -> str:
    if "WQ_BH" in flags:
        return "bh"
    if "WQ_UNBOUND" in flags:
        return "ordered" if "__WQ_ORDERED" in flags else "unbound"
    return "percpu"


def _task(name: str | None) -> TaskRef | None:
    return TaskRef(pid=0, comm=name, state="D") if name else None


def _flusher(f: MFlusher, where: str, blocked: dict) -> Flusher:
    return Flusher(f.address, f.flush_color, where, [_task(f.task)] if f.task in blocked else [])


def to_snapshot(m: Machine) -> Snapshot:
    f = m.f
    snap = Snapshot(
        kernel=KernelInfo(release="model", hz=250, jiffies=0, nr_cpu_ids=len(f.possible_cpus),
                          possible_cpus=list(f.possible_cpus), online_cpus=list(f.online_cpus),
                          nr_node_ids=f.nr_node_ids,
                          features=f.to_layout()),
        target=Target("model", "wqinspect.model", live=False),
    )
    wq_of_pwq = {}
    for wq in m.wqs.values():
        out = Workqueue(
            address=wq.address, name=wq.name, flags=0, flag_names=sorted(wq.flags), kind=_kind(wq.flags),
            max_active=wq.max_active, saved_max_active=wq.saved_max_active, min_active=wq.min_active,
            work_color=wq.work_color, flush_color=wq.flush_color, nr_pwqs_to_flush=wq.nr_pwqs_to_flush,
            first_flusher=_flusher(wq.first_flusher, "first", m.blocked) if wq.first_flusher else None,
            flusher_queue=[_flusher(x, "queue", m.blocked) for x in wq.flusher_queue],
            flusher_overflow=[_flusher(x, "overflow", m.blocked) for x in wq.flusher_overflow],
            dfl_pwq=wq.dfl_pwq.address if wq.dfl_pwq else None,
            node_nr_active=[NodeNrActive(n.index, n.index if n.index < f.nr_node_ids else None, n.nr, n.max,
                                         [p.address for p in n.pending]) for n in wq.nna.values()],
        )
        pending = {p.address for n in wq.nna.values() for p in n.pending}
        for p in wq.pwqs:
            wq_of_pwq[p.address] = wq
            # insert_work() takes a reference for every item; before v5.15 barriers are not in flight.
            uncolored = sum(1 for w in m.works.values() if w.pwq is p and f.no_color is not None
                            and w.color == f.no_color)
            out.pwqs.append(Pwq(
                address=p.address, pool_id=p.pool.id, pool=p.pool.address, work_color=p.work_color,
                flush_color=p.flush_color, refcnt=p.slots + sum(p.nr_in_flight) + uncolored,
                nr_in_flight=list(p.nr_in_flight),
                nr_active=p.nr_active, max_active=p.max_active, plugged=p.plugged if f.wq_max_active else None,
                nr_inactive=len(p.inactive_works), pending=p.address in pending, cpus=list(p.cpus),
                is_default=p.is_default, slots=p.slots,
            ))
        snap.workqueues.append(out)

    def work(w: MWork, where: str, position: int, pool_id, pwq, worker=None, color=None, func=None) -> Work:
        # The flags are those of the data word as it is now (for a running item, as the readers
        # show it); a running item's color, pwq and function are the worker's.
        flags = [n for n, on in (("PENDING", w.pending), ("INACTIVE", w.inactive), ("PWQ", w.pwq is not None),
                                 ("LINKED", w.linked)) if on]
        wq = wq_of_pwq.get(pwq.address) if pwq is not None else w.delayed_wq
        return Work(address=w.address, func=FuncRef(0, func or w.func, None), flag_names=flags,
                    color=w.color if color is None else color, where=where, position=position,
                    pwq=pwq.address if pwq is not None else None, wq=wq.address if wq else None,
                    wq_name=wq.name if wq else None, pool_id=pool_id,
                    worker=worker.address if worker is not None else None,
                    barrier=Barrier(_task(w.waiter)) if w.is_barrier else None)

    for pool in m.pools:
        idle = [w for w in pool.workers if w.idle]
        busy = [w for w in pool.workers if w.current is not None]
        cm = pool.concurrency_managed
        snap.pools.append(Pool(
            address=pool.address, id=pool.id, cpu=pool.cpu, node=pool.node,
            flag_names=(["POOL_BH"] if pool.kind.startswith("bh") else []) +
                       (["POOL_DISASSOCIATED"] if not cm else []),
            kind=pool.kind, nice=pool.nice, cpus=[pool.cpu] if pool.cpu >= 0 else list(f.possible_cpus),
            nr_workers=len(pool.workers), nr_idle=len(idle),
            nr_running=sum(1 for w in busy if cm and w.current_behaviour == "spins"
                           and "WQ_CPU_INTENSIVE" not in w.current_pwq.wq.flags),
            worklist_len=len(pool.worklist), workers=[w.address for w in pool.workers],
            idle=[w.address for w in idle], busy=[w.address for w in busy],
        ))
        for i, w in enumerate(pool.worklist):
            snap.works.append(work(w, "worklist", i, pool.id, w.pwq))
        for worker in pool.workers:
            flags = ["WORKER_IDLE", "WORKER_PREP"] if worker.idle else []
            if not cm:
                flags.append("WORKER_UNBOUND")
            if worker.current is not None and "WQ_CPU_INTENSIVE" in worker.current_pwq.wq.flags:
                flags.append("WORKER_CPU_INTENSIVE")
            cur = worker.current
            snap.workers.append(Worker(
                address=worker.address, pool_id=pool.id, id=worker.id, flag_names=flags,
                task=_task(f"kworker/{pool.id}:{worker.id}"), name=f"kworker/{pool.id}:{worker.id}",
                current_work=cur.address if cur else None,
                current_func=FuncRef(0, worker.current_func, None) if cur else None,
                current_pwq=worker.current_pwq.address if cur else None,
                current_color=worker.current_color if cur and f.running_color else None,
                # Blocked, or released but still waiting for its CPU: not yet back in nr_running.
                sleeping=bool(cur and worker.current_behaviour != "spins" and cm),
            ))
            if cur is not None:
                running = work(cur, "running", 0, pool.id, worker.current_pwq, worker,
                               color=worker.current_color, func=worker.current_func)
                if not f.running_color:
                    running.color = None  # before v5.15 the readers cannot know it (Features.running_color)
                snap.works.append(running)
            for i, w in enumerate(worker.scheduled):
                snap.works.append(work(w, "scheduled", i, pool.id, w.pwq, worker))
    for wq in m.wqs.values():
        for p in wq.pwqs:
            for i, w in enumerate(p.inactive_works):
                snap.works.append(work(w, "inactive", i, p.pool.id, p))
    for w in m.works.values():
        if w.where is not None and not Where(w.where).in_pool:  # (None: not queued)
            snap.works.append(Work(address=w.address, func=FuncRef(0, w.func, None), flag_names=["PENDING"],
                                   where=w.where, wq=w.delayed_wq.address, wq_name=w.delayed_wq.name,
                                   delayed=DelayedTimer(0, 0, -1, w.delayed_cpu) if w.where == "delayed" else None))
    link_barriers(snap)
    return snap
