# SPDX-License-Identifier: LGPL-2.1-or-later
"""An executable model of the workqueue algorithm (kernel/workqueue.c), in plain Python.

It follows the kernel's functions closely, and names its methods after them:
``__queue_work`` (color assignment, nr_in_flight, activation against
max_active, inactive works), ``pwq_tryinc_nr_active`` and
``node_activate_pending_pwq`` (the per-node limit of v6.9+),
``pwq_dec_nr_in_flight`` (completion, activation of the next inactive
item, flush bookkeeping), ``__flush_workqueue`` (work and flush colors, the
flusher queue and overflow), ``insert_wq_barrier`` (flush_work), and
``try_to_grab_pending`` (cancel).  Workers take items as the kernel's do:
the first item of a pool's worklist, a collision with the worker already
running the same item hands it to that worker, linked barriers move along.

What differs between kernel versions is a :class:`~wqinspect.model.features.Features`
value, not a copy of the model.  After each operation the pools run until no
worker can make progress ("settle"); work functions either return, block
(sleep until released) or spin (keep their CPU).
"""

import itertools
from dataclasses import dataclass, field

from .features import Features


class ModelError(Exception):
    """An operation the kernel would refuse (or WARN about)."""


@dataclass(eq=False)
class MWork:
    name: str
    func: str
    behaviour: str = "returns"  # "returns", "blocks", "spins" or "barrier"
    address: int = 0
    pending: bool = False
    pwq: "MPwq | None" = None       # set while queued (PWQ bit)
    color: int = 0
    inactive: bool = False
    linked: bool = False
    last_pool: "MPool | None" = None
    where: str | None = None        # "worklist", "inactive", "scheduled", "delayed"
    holder: "MWorker | None" = None  # for "scheduled"
    waiter: str | None = None        # barrier: the task in flush_work()
    delayed_wq: "MWq | None" = None
    delayed_cpu: int | None = None

    @property
    def is_barrier(self) -> bool:
        return self.behaviour == "barrier"


@dataclass(eq=False)
class MWorker:
    pool: "MPool"
    id: int
    current: MWork | None = None
    current_pwq: "MPwq | None" = None
    current_color: int = 0
    current_inactive: bool = False
    #: worker->current_func: the function it started (the work may be given another one meanwhile).
    current_func: str = ""
    #: What the running function does: fixed when it starts (the item may be queued again meanwhile).
    current_behaviour: str = "returns"
    scheduled: list[MWork] = field(default_factory=list)
    address: int = 0

    @property
    def idle(self) -> bool:
        return self.current is None and not self.scheduled


@dataclass(eq=False)
class MPool:
    id: int
    cpu: int          # -1: unbound
    kind: str         # "cpu", "cpu-highpri", "bh", "bh-highpri", "unbound"
    node: int
    nice: int
    worklist: list[MWork] = field(default_factory=list)
    workers: list[MWorker] = field(default_factory=list)
    address: int = 0

    @property
    def concurrency_managed(self) -> bool:
        return self.kind in ("cpu", "cpu-highpri")


@dataclass(eq=False)
class MNodeActive:
    index: int
    max: int
    nr: int = 0
    pending: list["MPwq"] = field(default_factory=list)


@dataclass(eq=False)
class MPwq:
    wq: "MWq"
    pool: MPool
    work_color: int = 0
    flush_color: int = -1
    nr_in_flight: list[int] = field(default_factory=list)
    nr_active: int = 0
    max_active: int | None = None   # per pwq up to v6.8
    plugged: bool = False
    inactive_works: list[MWork] = field(default_factory=list)
    cpus: list[int] = field(default_factory=list)
    is_default: bool = False
    slots: int = 0
    address: int = 0


@dataclass(eq=False)
class MFlusher:
    task: str
    flush_color: int = -1
    done: bool = False
    address: int = 0


@dataclass(eq=False)
class MWq:
    name: str
    flags: set[str]
    max_active: int
    saved_max_active: int
    min_active: int | None
    pwqs: list[MPwq] = field(default_factory=list)
    cpu_pwq: dict[int, MPwq] = field(default_factory=dict)
    dfl_pwq: MPwq | None = None
    nna: dict[int, MNodeActive] = field(default_factory=dict)
    work_color: int = 0
    flush_color: int = 0
    nr_pwqs_to_flush: int = 0
    first_flusher: MFlusher | None = None
    flusher_queue: list[MFlusher] = field(default_factory=list)
    flusher_overflow: list[MFlusher] = field(default_factory=list)
    address: int = 0

    @property
    def unbound(self) -> bool:
        return "WQ_UNBOUND" in self.flags


class Machine:
    def __init__(self, features: Features):
        self.f = features
        self.ids = itertools.count(1)
        self.pools: list[MPool] = []
        self.wqs: dict[str, MWq] = {}
        self.works: dict[str, MWork] = {}
        #: Tasks blocked in flush_workqueue()/flush_work(): name -> what they wait for.
        self.blocked: dict[str, object] = {}
        self._addr = itertools.count(0x1000, 0x100)
        pool_ids = itertools.count(0)
        for cpu in features.possible_cpus:
            kinds = (["bh", "bh-highpri"] if features.bh else []) + ["cpu", "cpu-highpri"]
            for kind in kinds:
                self.pools.append(MPool(next(pool_ids), cpu, kind, features.cpu_node(cpu),
                                        -20 if kind.endswith("highpri") else 0, address=next(self._addr)))
        for nice in (0, -20):
            self.pools.append(MPool(next(pool_ids), -1, "unbound", features.unbound_pool_node(nice), nice,
                                    address=next(self._addr)))

    # ---- helpers

    def _next_color(self, c: int) -> int:
        return (c + 1) % self.f.nr_colors

    def cpu_pool(self, cpu: int, kind: str) -> MPool:
        return next(p for p in self.pools if p.cpu == cpu and p.kind == kind)

    def unbound_pool(self, nice: int) -> MPool:
        return next(p for p in self.pools if p.kind == "unbound" and p.nice == nice)

    def work(self, name: str, func: str = "", behaviour: str = "returns") -> MWork:
        w = self.works.get(name)
        if w is None:
            w = self.works[name] = MWork(name, func, behaviour, address=next(self._addr))
        elif func:
            w.func, w.behaviour = func, behaviour
        return w

    def _cpu(self, spec) -> list[int]:
        online = self.f.online_cpus
        if spec == "each_online":
            return list(online)
        if spec == "last_online":
            return [max(online)]
        return [spec]

    # ---- workqueue creation (alloc_workqueue, alloc_and_link_pwqs)

    def alloc_workqueue(self, name: str, flags: list[str], max_active: int = 0) -> MWq:
        if name in self.wqs:
            raise ModelError(f"workqueue {name} exists")
        flags = {f for f in flags if f in self.f.wq_flag_names}
        f = self.f
        if "WQ_BH" in flags:
            max_active = 2**31 - 1  # INT_MAX: BH workqueues do not limit concurrency
        else:
            max_active = max_active or f.dfl_active
            limit = f.max_active_limit
            if "WQ_UNBOUND" in flags and f.max_unbound_per_cpu:
                limit = max(limit, f.max_unbound_per_cpu * len(f.possible_cpus))
            max_active = min(max(max_active, 1), limit)
        if f.implicit_ordered and "WQ_UNBOUND" in flags and max_active == 1:
            flags.add("__WQ_ORDERED")
        min_active = min(max_active, f.dfl_min_active) if f.dfl_min_active is not None else None
        wq = MWq(name, flags, max_active, max_active, min_active, address=next(self._addr))
        self.wqs[name] = wq
        highpri = "WQ_HIGHPRI" in flags
        if not wq.unbound:
            kind = ("bh" if "WQ_BH" in flags else "cpu") + ("-highpri" if highpri else "")
            for cpu in f.possible_cpus:
                pwq = self._new_pwq(wq, self.cpu_pool(cpu, kind), cpus=[cpu], slots=1)
                wq.cpu_pwq[cpu] = pwq
        else:
            pool = self.unbound_pool(-20 if highpri else 0)
            ordered = "__WQ_ORDERED" in flags
            if ordered or not f.unbound_pwq_per_cpu:
                # One pwq in every slot: ordered workqueues, and (one NUMA node) unbound ones before v6.6.
                slots = len(f.possible_cpus) + 1 if f.unbound_pwq_per_cpu else f.nr_node_ids + 1
                dfl = self._new_pwq(wq, pool, cpus=list(f.possible_cpus), slots=slots, is_default=True)
                wq.cpu_pwq = {cpu: dfl for cpu in f.possible_cpus}
            else:
                for cpu in f.possible_cpus:
                    wq.cpu_pwq[cpu] = self._new_pwq(wq, pool, cpus=[cpu], slots=1)
                dfl = self._new_pwq(wq, pool, cpus=[], slots=1, is_default=True)
            wq.dfl_pwq = dfl
            if f.node_nr_active:
                for i in range(f.nr_node_ids + 1):
                    wq.nna[i] = MNodeActive(i, max_active)
        return wq

    def alloc_ordered_workqueue(self, name: str, flags: list[str] = ()) -> MWq:
        extra = ["__WQ_ORDERED_EXPLICIT"] if self.f.implicit_ordered else []
        return self.alloc_workqueue(name, ["WQ_UNBOUND", "__WQ_ORDERED", *extra, *flags], 1)

    def _new_pwq(self, wq: MWq, pool: MPool, cpus, slots: int, is_default: bool = False) -> MPwq:
        pwq = MPwq(wq, pool, work_color=wq.work_color, nr_in_flight=[0] * self.f.nr_colors,
                   max_active=None if self.f.wq_max_active else wq.max_active, cpus=cpus, slots=slots,
                   is_default=is_default, address=next(self._addr))
        wq.pwqs.append(pwq)
        return pwq

    def apply_attrs(self, wq_name: str) -> None:
        """apply_workqueue_attrs() on an ordered workqueue (v6.9+): a new default pwq takes every slot,
        plugged until the older pwqs drain, so that the order of items holds across the change."""
        wq = self.wqs[wq_name]
        if "__WQ_ORDERED" not in wq.flags or not self.f.wq_max_active:
            raise ModelError("only ordered workqueues of kernels with plugged pwqs (v6.9+) are modelled here")
        old = wq.dfl_pwq
        new = self._new_pwq(wq, old.pool, cpus=list(self.f.possible_cpus), slots=len(self.f.possible_cpus) + 1,
                            is_default=True)
        new.plugged = True  # apply_wqattrs_prepare(): wq->pwqs is not empty
        old.slots, old.cpus, old.is_default = 0, [], False
        wq.cpu_pwq = {cpu: new for cpu in self.f.possible_cpus}
        wq.dfl_pwq = new
        self._maybe_release(old)
        self.settle()

    def _maybe_release(self, pwq: MPwq) -> None:
        """A pwq no slot points to goes away once nothing is in flight on it (pwq_release_workfn())."""
        wq = pwq.wq
        if pwq.slots or any(pwq.nr_in_flight) or pwq not in wq.pwqs:
            return
        wq.pwqs.remove(pwq)
        for n in wq.nna.values():
            if pwq in n.pending:
                n.pending.remove(pwq)
        if wq.pwqs and "__WQ_ORDERED" in wq.flags:
            self.unplug_oldest_pwq(wq)

    def unplug_oldest_pwq(self, wq: MWq) -> None:
        pwq = wq.pwqs[0]
        if pwq.plugged:
            pwq.plugged = False
            # The first call activates an item; the second puts the pwq on pending_pwqs if more wait.
            if self.pwq_activate_first_inactive(pwq, True):
                self.pwq_activate_first_inactive(pwq, False)

    def _nna(self, pwq: MPwq) -> MNodeActive | None:
        """wq_node_nr_active(): per-node counters of unbound workqueues (v6.9+)."""
        if not self.f.node_nr_active or not pwq.wq.unbound:
            return None
        node = pwq.pool.node
        return pwq.wq.nna[self.f.nr_node_ids if node < 0 else node]

    # ---- queueing

    def queue_work_on(self, cpu, wq_name: str, work_name: str, func: str = "", behaviour: str = "returns",
                      count: int = 1) -> list[bool]:
        out = []
        for c in self._cpu(cpu):
            for i in range(count):
                name = work_name if count == 1 else f"{work_name}[{i}]"
                w = self.work(name, func, behaviour)
                out.append(self._queue_work_on(c, self.wqs[wq_name], w))
        self.settle()
        return out

    def _queue_work_on(self, cpu: int, wq: MWq, work: MWork) -> bool:
        if work.pending:
            return False
        work.pending = True
        self.__queue_work(cpu, wq, work)
        return True

    def __queue_work(self, cpu: int, wq: MWq, work: MWork) -> None:
        pwq = wq.cpu_pwq[cpu]
        last = work.last_pool
        if last is not None and last is not pwq.pool:
            worker = self.find_worker_executing_work(last, work)
            if worker is not None and worker.current_pwq.wq is wq:
                pwq = worker.current_pwq
        color = pwq.work_color
        pwq.nr_in_flight[color] += 1
        work.pwq, work.color, work.linked = pwq, color, False
        if self.f.wq_max_active:
            activate = not pwq.inactive_works and self.pwq_tryinc_nr_active(pwq)
        else:
            activate = pwq.nr_active < pwq.max_active
            if activate:
                pwq.nr_active += 1
        work.inactive = not activate
        if activate:
            self._insert(work, pwq.pool.worklist, "worklist")
        else:
            self._insert(work, pwq.inactive_works, "inactive")

    def _insert(self, work: MWork, lst: list, where: str, index: int | None = None, holder=None) -> None:
        if index is None:
            lst.append(work)
        else:
            lst.insert(index, work)
        work.where, work.holder = where, holder

    def _list_of(self, work: MWork) -> list:
        if work.where == "worklist":
            return work.pwq.pool.worklist
        if work.where == "inactive":
            return work.pwq.inactive_works
        if work.where == "scheduled":
            return work.holder.scheduled
        raise ModelError(f"{work.name} is on no list")

    def move_linked_works(self, work: MWork, dest: list, where: str, holder=None) -> None:
        src = self._list_of(work)
        i = src.index(work)
        while i < len(src):
            w = src.pop(i)
            self._insert(w, dest, where, holder=holder)
            if not w.linked:
                break

    # ---- activation (v6.9+: pwq_tryinc_nr_active, node_activate_pending_pwq)

    def pwq_tryinc_nr_active(self, pwq: MPwq, fill: bool = False) -> bool:
        nna = self._nna(pwq)
        if nna is None:
            obtained = pwq.nr_active < pwq.wq.max_active
        else:
            if pwq.plugged:
                return False
            if pwq in nna.pending and not fill:
                return False
            obtained = nna.nr < nna.max
            if obtained:
                nna.nr += 1
            else:
                if pwq not in nna.pending:
                    nna.pending.append(pwq)
                elif not fill:
                    return False
        if obtained:
            pwq.nr_active += 1
        return obtained

    def _activate_work(self, pwq: MPwq, work: MWork) -> None:
        self.move_linked_works(work, pwq.pool.worklist, "worklist")
        work.inactive = False

    def pwq_activate_first_inactive(self, pwq: MPwq, fill: bool = False) -> bool:
        if pwq.inactive_works and self.pwq_tryinc_nr_active(pwq, fill):
            self._activate_work(pwq, pwq.inactive_works[0])
            return True
        return False

    def node_activate_pending_pwq(self, nna: MNodeActive) -> None:
        while nna.pending:
            pwq = nna.pending[0]
            if not pwq.inactive_works:
                nna.pending.pop(0)
                continue
            if nna.nr < nna.max:
                nna.nr += 1
                pwq.nr_active += 1
                self._activate_work(pwq, pwq.inactive_works[0])
                nna.pending.pop(0)
                if pwq.inactive_works:
                    nna.pending.append(pwq)
            return

    def pwq_dec_nr_active(self, pwq: MPwq) -> None:
        pwq.nr_active -= 1
        if not self.f.wq_max_active:
            if pwq.inactive_works and pwq.nr_active < pwq.max_active:
                pwq.nr_active += 1
                self._activate_work(pwq, pwq.inactive_works[0])
            return
        nna = self._nna(pwq)
        if nna is None:
            self.pwq_activate_first_inactive(pwq)
            return
        nna.nr -= 1
        if nna.nr >= nna.max:
            return
        if nna.pending:
            self.node_activate_pending_pwq(nna)

    def pwq_dec_nr_in_flight(self, pwq: MPwq, color: int, inactive: bool) -> None:
        if color == self.f.no_color:
            # Before v5.15, uncolored items (barriers) take part in neither flushing nor nr_active.
            self._maybe_release(pwq)
            return
        if not inactive:
            self.pwq_dec_nr_active(pwq)
        pwq.nr_in_flight[color] -= 1
        if pwq.flush_color != color or pwq.nr_in_flight[color]:
            self._maybe_release(pwq)
            return
        pwq.flush_color = -1
        pwq.wq.nr_pwqs_to_flush -= 1
        if pwq.wq.nr_pwqs_to_flush == 0:
            self._complete_first_flusher(pwq.wq)
        self._maybe_release(pwq)

    # ---- workers

    def find_worker_executing_work(self, pool: MPool, work: MWork) -> MWorker | None:
        """Both the work_struct and its function must match, as in the kernel: a work given another
        function while it runs is a new item, and another worker may run it concurrently."""
        return next((w for w in pool.workers if w.current is work and w.current_func == work.func), None)

    def _hogged(self, cpu: int) -> bool:
        """A spinning item holds its CPU (PREEMPT_NONE): no other kworker of that CPU runs."""
        return any(w.current is not None and w.current_behaviour == "spins"
                   for p in self.pools if p.cpu == cpu and not p.kind.startswith("bh") for w in p.workers)

    def _can_start(self, pool: MPool) -> bool:
        if pool.cpu >= 0 and not pool.kind.startswith("bh") and self._hogged(pool.cpu):
            return False
        return True

    def settle(self) -> None:
        """Let every pool run until no worker can make progress."""
        progress = True
        while progress:
            progress = False
            for pool in self.pools:
                for worker in list(pool.workers):
                    if not self._can_start(pool):
                        break
                    if worker.current is not None and worker.current_behaviour == "returns":
                        self._finish(worker)  # released while its CPU was held
                        progress = True
                    if worker.current is None and worker.scheduled:
                        self._process_scheduled(worker)
                        progress = True
                while pool.worklist and self._can_start(pool):
                    work = pool.worklist[0]
                    collision = self.find_worker_executing_work(pool, work)
                    if collision is not None:
                        self.move_linked_works(work, collision.scheduled, "scheduled", collision)
                    else:
                        worker = next((w for w in pool.workers if w.idle), None)
                        if worker is None:
                            worker = MWorker(pool, len(pool.workers), address=next(self._addr))
                            pool.workers.append(worker)
                        self.move_linked_works(work, worker.scheduled, "scheduled", worker)
                        self._process_scheduled(worker)
                    progress = True

    def _process_scheduled(self, worker: MWorker) -> None:
        while worker.current is None and worker.scheduled:
            work = worker.scheduled.pop(0)
            # process_one_work(): the item leaves its list, PENDING is cleared, the pool is remembered.
            worker.current, worker.current_pwq = work, work.pwq
            worker.current_color, worker.current_inactive = work.color, work.inactive
            worker.current_behaviour, worker.current_func = work.behaviour, work.func
            work.where = work.holder = None
            work.pwq, work.pending, work.inactive, work.last_pool = None, False, False, worker.pool
            if work.is_barrier:
                self.blocked.pop(work.waiter, None)  # complete(&barr->done)
                self._finish(worker)
            elif work.behaviour == "returns":
                self._finish(worker)

    def _finish(self, worker: MWorker) -> None:
        work, pwq = worker.current, worker.current_pwq
        worker.current = worker.current_pwq = None
        if work.is_barrier:
            self.works.pop(work.name, None)
        self.pwq_dec_nr_in_flight(pwq, worker.current_color, worker.current_inactive)

    def release(self, work_name: str) -> None:
        """A blocked or spinning work function returns (once its worker gets a CPU)."""
        work = self.works[work_name]
        for pool in self.pools:
            for worker in pool.workers:
                if worker.current is work:
                    worker.current_behaviour = "returns"
        self.settle()

    # ---- flushing

    def flush_workqueue_prep_pwqs(self, wq: MWq, flush_color: int, work_color: int) -> bool:
        wait = False
        if flush_color >= 0:
            wq.nr_pwqs_to_flush = 1
        for pwq in wq.pwqs:
            if flush_color >= 0 and pwq.nr_in_flight[flush_color]:
                pwq.flush_color = flush_color
                wq.nr_pwqs_to_flush += 1
                wait = True
            if work_color >= 0:
                pwq.work_color = work_color
        if flush_color >= 0:
            wq.nr_pwqs_to_flush -= 1
            if wq.nr_pwqs_to_flush == 0:
                wq.first_flusher.done = True
        return wait

    def flush_workqueue(self, wq_name: str, task: str) -> None:
        """__flush_workqueue(): ``task`` stays blocked until its color is flushed."""
        wq = self.wqs[wq_name]
        me = MFlusher(task, address=next(self._addr))
        next_color = self._next_color(wq.work_color)
        if next_color != wq.flush_color:
            me.flush_color = wq.work_color
            wq.work_color = next_color
            if wq.first_flusher is None:
                wq.first_flusher = me
                if not self.flush_workqueue_prep_pwqs(wq, wq.flush_color, wq.work_color):
                    wq.flush_color = next_color
                    wq.first_flusher = None
                    self.settle()
                    return
            else:
                wq.flusher_queue.append(me)
                self.flush_workqueue_prep_pwqs(wq, -1, wq.work_color)
        else:
            wq.flusher_overflow.append(me)
        self.blocked[task] = me
        if me.done:
            self._flusher_woke(wq, me)
        self.settle()

    def _complete_first_flusher(self, wq: MWq) -> None:
        first = wq.first_flusher
        first.done = True
        self._flusher_woke(wq, first)

    def _flusher_woke(self, wq: MWq, me: MFlusher) -> None:
        """The rest of __flush_workqueue(), run by the first flusher once its color is done."""
        self.blocked.pop(me.task, None)
        if wq.first_flusher is not me:
            return
        wq.first_flusher = None
        while True:
            while wq.flusher_queue and wq.flusher_queue[0].flush_color == wq.flush_color:
                done = wq.flusher_queue.pop(0)
                done.done = True
                self.blocked.pop(done.task, None)
            wq.flush_color = self._next_color(wq.flush_color)
            if wq.flusher_overflow:
                for t in wq.flusher_overflow:
                    t.flush_color = wq.work_color
                wq.work_color = self._next_color(wq.work_color)
                wq.flusher_queue += wq.flusher_overflow
                wq.flusher_overflow = []
                self.flush_workqueue_prep_pwqs(wq, -1, wq.work_color)
            if not wq.flusher_queue:
                break
            nxt = wq.flusher_queue.pop(0)
            wq.first_flusher = nxt
            if self.flush_workqueue_prep_pwqs(wq, wq.flush_color, -1):
                break
            wq.first_flusher = None
            nxt.done = True
            self.blocked.pop(nxt.task, None)

    def flush_work(self, work_name: str, task: str) -> bool:
        """start_flush_work() + insert_wq_barrier(); False if there was nothing to wait for."""
        work = self.works[work_name]
        worker = None
        if work.pwq is not None:
            pwq = work.pwq
        else:
            pool = work.last_pool
            worker = self.find_worker_executing_work(pool, work) if pool is not None else None
            if worker is None:
                return False
            pwq = worker.current_pwq
        barr = MWork(f"barrier:{task}", "wq_barrier_func", "barrier", address=next(self._addr), pending=True,
                     waiter=task, pwq=pwq, inactive=self.f.no_color is None)
        self.works[barr.name] = barr
        if worker is not None:
            color = worker.current_color
            self._insert(barr, worker.scheduled, "scheduled", 0, worker)
        else:
            color = work.color
            barr.linked = work.linked
            work.linked = True
            lst = self._list_of(work)
            self._insert(barr, lst, work.where, lst.index(work) + 1, work.holder)
        if self.f.no_color is not None:
            color = self.f.no_color  # before v5.15: an uncolored barrier, counted nowhere
        else:
            pwq.nr_in_flight[color] += 1
        barr.color = color
        self.blocked[task] = barr
        self.settle()
        return True

    # ---- cancel and delayed works

    def cancel_work(self, work_name: str) -> bool:
        """try_to_grab_pending() without the wait: take the item off its list or its timer."""
        work = self.works[work_name]
        if work.where in ("delayed", "rcu"):
            if work.where == "rcu":
                return False  # an RCU callback cannot be taken back: try_to_grab_pending() fails
            work.where, work.pending, work.delayed_wq = None, False, None
            return True
        if work.pwq is None:
            return False
        pwq, color, inactive = work.pwq, work.color, work.inactive
        if inactive:
            # Barriers linked behind it go to the worklist, so that their flushers finish.
            nxt = self._list_of(work)
            i = nxt.index(work)
            linked = []
            if work.linked:
                for w in nxt[i + 1:]:
                    linked.append(w)
                    if not w.linked:
                        break
            for w in linked:
                nxt.remove(w)
                self._insert(w, pwq.pool.worklist, "worklist")
        self._list_of(work).remove(work)
        work.where = work.holder = work.pwq = None
        work.pending, work.linked, work.last_pool = False, False, pwq.pool
        self.pwq_dec_nr_in_flight(pwq, color, inactive)
        self.settle()
        return True

    def queue_delayed_work_on(self, cpu, wq_name: str, work_name: str, func: str = "", delay_s: float = 1,
                              behaviour: str = "returns") -> list[bool]:
        out = []
        cpus = [None] if cpu is None else self._cpu(cpu)
        for c in cpus:
            name = work_name if len(cpus) == 1 else f"{work_name}[{c}]"
            w = self.work(name, func, behaviour)
            if w.pending:
                out.append(False)
                continue
            w.pending = True
            if not delay_s:
                self.__queue_work(c if c is not None else self.f.online_cpus[0], self.wqs[wq_name], w)
            else:
                w.where, w.delayed_wq, w.delayed_cpu = "delayed", self.wqs[wq_name], c
            out.append(True)
        self.settle()
        return out

    def fire_timer(self, work_name: str, on_cpu: int | None = None) -> None:
        """delayed_work_timer_fn(): queue the delayed work now."""
        w = self.works[work_name]
        if w.where != "delayed":
            raise ModelError(f"{work_name} has no timer pending")
        wq, cpu = w.delayed_wq, w.delayed_cpu
        w.where, w.delayed_wq = None, None
        self.__queue_work(cpu if cpu is not None else (on_cpu if on_cpu is not None else self.f.online_cpus[0]),
                          wq, w)
        self.settle()

    def queue_rcu_work(self, wq_name: str, work_name: str, func: str = "", behaviour: str = "returns") -> bool:
        """queue_rcu_work(): the work waits for an RCU grace period, then is queued (rcu_work_rcufn())."""
        w = self.work(work_name, func, behaviour)
        if w.pending:
            return False
        w.pending, w.where, w.delayed_wq, w.delayed_cpu = True, "rcu", self.wqs[wq_name], None
        return True

    def rcu_grace_period(self) -> None:
        """A grace period ends: every waiting rcu_work is queued, on the CPU that ran its callback."""
        for w in [w for w in self.works.values() if w.where == "rcu"]:
            wq = w.delayed_wq
            w.where, w.delayed_wq = None, None
            self.__queue_work(self.f.online_cpus[0], wq, w)
        self.settle()

    # ---- scenario files

    def apply(self, op: dict, funcs: dict[str, str]) -> None:
        """Apply one operation of a fixtures/scenarios file."""
        kind = op["op"]
        if op.get("requires") and not getattr(self.f, op["requires"], False):
            return
        if kind == "alloc_workqueue":
            self.alloc_workqueue(op["wq"], op["flags"], op.get("max_active", 0))
        elif kind == "alloc_ordered_workqueue":
            self.alloc_ordered_workqueue(op["wq"], op.get("flags", []))
        elif kind == "queue_work_on":
            self.queue_work_on(op["cpu"], op["wq"], op["work"], op["func"], funcs.get(op["func"], "returns"),
                               op.get("count", 1))
        elif kind == "queue_delayed_work_on":
            self.queue_delayed_work_on(op["cpu"], op["wq"], op["work"], op["func"], op["delay_s"],
                                       funcs.get(op["func"], "returns"))
        elif kind == "flush_workqueue":
            self.flush_workqueue(op["wq"], op["task"])
        elif kind == "flush_work":
            self.flush_work(op["work"], op["task"])
        elif kind == "queue_rcu_work":
            for i in range(op.get("count", 1)):
                name = op["work"] if op.get("count", 1) == 1 else f"{op['work']}[{i}]"
                self.queue_rcu_work(op["wq"], name, op["func"], funcs.get(op["func"], "returns"))
        elif kind == "rcu_grace_period":
            self.rcu_grace_period()
        elif kind == "apply_attrs":
            self.apply_attrs(op["wq"])
        elif kind == "cancel_work":
            self.cancel_work(op["work"])
        elif kind == "release":
            self.release(op["work"])
        else:
            raise ModelError(f"unknown operation {kind!r}")
