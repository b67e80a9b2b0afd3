# SPDX-License-Identifier: LGPL-2.1-or-later
"""Read a kernel's workqueue state into a :class:`~wqinspect.snapshot.Snapshot`.

This is the only place that turns drgn objects into snapshot data.  Nothing
is written to the target.  A fault or an endless list while reading one object
becomes a :class:`~wqinspect.snapshot.ReadWarning` on that object and the rest
of the capture goes on: a live kernel changes under the reader, and a vmcore
may be corrupt.
"""

import datetime
from contextlib import contextmanager
from typing import Iterable

from drgn import FaultError, Object, Program
from drgn.helpers.linux.cpumask import for_each_online_cpu, for_each_possible_cpu
from drgn.helpers.linux.module import for_each_module, module_address_regions
from drgn.helpers.linux.nodemask import nr_node_ids
from drgn.helpers.linux.sched import task_state_to_char

from . import __version__
from .kernel import memory as kmem
from .kernel import pool as kpool
from .kernel import stats as kstats
from .kernel import topology as ktopo
from .kernel import watchdog as kwd
from .kernel import workqueue as kwq
from .kernel.layout import enum_value, layout, symbol_address
from .kernel.walk import WalkError
from .kernel.work import (barrier_waiter, for_each_rcu_callback, for_each_wheel_timer,
                          RawWork, rcu_work_of, read_work, timer_delayed_work, work_list)
from .snapshot import (Barrier, BrokenTimer, CountersSample, CpuIntensive, DelayedTimer, Flusher, FuncRef, HogEntry,
                       KernelInfo, LogRecord, Module, NodeNrActive, Pool, Pwq, ReadWarning, Scope, Snapshot, Target,
                       TaskRef, TaskStack, Topology, Watchdog, Work, Worker, WqCounters, Workqueue, link_works)
from .snapshot.layout import decode_flags, decode_work_data

#: Errors a racing live kernel or a corrupt dump produce while reading.
READ_ERRORS = (FaultError, WalkError, ValueError, OverflowError)


class _Reader:
    def __init__(self, prog: Program):
        self.prog = prog
        self.lay = layout(prog)
        self.warnings: list[ReadWarning] = []
        self.modules: list[Module] = []
        self.image: tuple[int, int] | None = None
        self._funcs: dict[int, FuncRef] = {}
        self.pwq_owner: dict[int, Workqueue] = {}

    def warn(self, obj: str, message: str) -> None:
        self.warnings.append(ReadWarning(obj, message))

    @contextmanager
    def guard(self, obj: str):
        """Turn a read error inside the block into a warning about ``obj``."""
        try:
            yield
        except READ_ERRORS as e:
            self.warn(obj, f"{type(e).__name__}: {e}")

    def collect(self, obj: str, items: Iterable) -> list:
        """Everything an iterator yields before a read error (which becomes a warning)."""
        out = []
        try:
            for x in items:
                out.append(x)
        except READ_ERRORS as e:
            self.warn(obj, f"{type(e).__name__}: {e} (read {len(out)} entries)")
        return out

    # ---- small readers

    def func(self, address: int) -> FuncRef:
        ref = self._funcs.get(address)
        if ref is None:
            try:
                name = self.prog.symbol(address).name
            except LookupError:
                name = None
            module = next((m.name for m in self.modules if any(a <= address < b for a, b in m.ranges)), None)
            ref = self._funcs[address] = FuncRef(address, name, module)
        return ref

    def is_code(self, address: int, image: tuple[int, int] | None) -> bool:
        """Whether ``address`` is in the kernel image or in a loaded module."""
        if image and image[0] <= address < image[1]:
            return True
        return any(a <= address < b for m in self.modules for a, b in m.ranges)

    def task(self, task: Object) -> TaskRef | None:
        if not task.value_():
            return None
        try:
            state = task_state_to_char(task)
        except READ_ERRORS + (LookupError,):
            state = None
        return TaskRef(task.pid.value_(), task.comm.string_().decode(errors="replace"), task.value_(), state)

    # ---- kernel

    def kernel_info(self) -> KernelInfo:
        prog = self.prog
        uts = prog["init_uts_ns"].name
        hz = self.lay.hz
        if hz is None:
            try:
                hz = round(1e9 / prog["tick_nsec"].value_())
            except (KeyError, LookupError, ZeroDivisionError):
                self.warn("kernel", "HZ could not be determined: durations are not shown")
        return KernelInfo(
            release=uts.release.string_().decode(),
            version=uts.version.string_().decode(),
            machine=uts.machine.string_().decode(),
            hz=hz,
            jiffies=prog["jiffies"].value_(),
            nr_cpu_ids=prog["nr_cpu_ids"].value_(),
            possible_cpus=list(for_each_possible_cpu(prog)),
            online_cpus=list(for_each_online_cpu(prog)),
            nr_node_ids=nr_node_ids(prog),
            module_area=kmem.module_area(prog),
            features=self.lay,
        )

    def read_modules(self) -> tuple[list[Module], list[int], str | None]:
        prog = self.prog
        mods = []
        with self.guard("modules"):
            for mod in self.collect("modules", for_each_module(prog)):
                with self.guard("module"):
                    regions = [(start, start + size) for start, size in module_address_regions(mod) if size]
                    mods.append(Module(mod.name.string_().decode(errors="replace"), regions))
        self.modules = mods
        image = None
        start, end = symbol_address(prog, "_text"), symbol_address(prog, "_end")
        if start is not None and end is not None:
            image = (start, end)
        self.image = image
        last = None
        with self.guard("last_unloaded_module"):
            obj = prog["last_unloaded_module"]
            # A struct with name and taints since v6.0, a plain string before.
            name = obj.name if obj.type_.unqualified().kind.name == "STRUCT" else obj
            last = name.string_().decode(errors="replace") or None
        return mods, image, last

    # ---- pools, workers and what they hold

    def pool(self, p: Object) -> tuple[Pool, list[Worker], list[Work]]:
        lay = self.lay
        pid = p.id.value_()
        flags = p.flags.value_()
        cpu = p.cpu.value_()
        attrs = p.attrs
        nice = attrs.nice.value_()
        bh = bool(flags & lay.pool_flag("POOL_BH"))
        kind = ("bh" if bh else "cpu") + ("-highpri" if nice < 0 else "") if cpu >= 0 else "unbound"
        nr_running = p.nr_running
        nr_running = nr_running.counter.value_() if nr_running.type_.unqualified().kind.name == "STRUCT" \
            else nr_running.value_()
        pool = Pool(
            address=p.value_(), id=pid, cpu=cpu, node=p.node.value_(), flags=flags,
            flag_names=decode_flags(flags, lay.pool_flags), kind=kind, nice=nice,
            cpus=[cpu] if cpu >= 0 else kwq.cpumask_cpus(attrs.cpumask),
            pod_cpus=kwq.cpumask_cpus(attrs.member_("__pod_cpumask")) if attrs.type_.type.has_member("__pod_cpumask") else None,
            strict=attrs.affn_strict.value_() if attrs.type_.type.has_member("affn_strict") else None,
            nr_workers=p.nr_workers.value_(), nr_idle=p.nr_idle.value_(), nr_running=nr_running,
            progress_ts=kpool.pool_progress_ts(p),
            cpu_stall=bool(p.cpu_stall.value_()) if lay.pool_cpu_stall else None,
            manager=p.manager.value_() or None, refcnt=p.refcnt.value_(),
        )
        what = f"pool {pid}"
        works: list[Work] = []
        for i, raw in enumerate(self.collect(f"{what} worklist", work_list(self.prog, p.worklist.address_of_().value_()))):
            if lay.mayday_cursor_func is not None and raw.func == lay.mayday_cursor_func:
                continue  # the rescuer's bookmark, not a work item
            works.append(self.work(raw, "worklist", i, pid))
        pool.worklist_len = len(works)
        attached = self.collect(f"{what} workers", kpool.pool_workers(p))
        pool.workers = [w.value_() for w in attached]
        pool.idle = [w.value_() for w in self.collect(f"{what} idle_list", kpool.pool_idle_workers(p))]
        busy = self.collect(f"{what} busy_hash", kpool.pool_busy_workers(p))
        pool.busy = [w.value_() for w in busy]
        workers = []
        for w in attached + [b for b in busy if b.value_() not in pool.workers]:
            with self.guard(f"worker {w.value_():#x} of {what}"):
                worker, wworks = self.worker(w, p)
                worker.is_manager = worker.address == pool.manager
                workers.append(worker)
                works += wworks
        return pool, workers, works

    def worker(self, w: Object, pool: Object | None) -> tuple[Worker, list[Work]]:
        lay = self.lay
        flags = w.flags.value_()
        task = kpool.worker_task(w)
        cur = w.current_work.value_() or None
        rescue_wq = w.rescue_wq.value_() or None
        worker = Worker(
            address=w.value_(), pool_id=pool.id.value_() if pool is not None else None, id=w.id.value_(),
            flags=flags, flag_names=decode_flags(flags, lay.worker_flags),
            task=self.task(task) if task is not None else None,
            name=kpool.worker_comm(w, pool), desc=w.desc.string_().decode(errors="replace"),
            rescuer_of=kwq.workqueue_name(w.rescue_wq) if rescue_wq else None, rescue_wq=rescue_wq,
            current_work=cur, sleeping=bool(w.sleeping.value_()),
            last_func=self.func(w.last_func.value_()) if w.last_func.value_() else None,
            last_active=w.last_active.value_(),
        )
        works: list[Work] = []
        if cur is not None:
            worker.current_func = self.func(w.current_func.value_())
            worker.current_pwq = w.current_pwq.value_() or None
            worker.current_color = w.current_color.value_()
            if lay.worker_current_start:
                worker.current_start = w.current_start.value_()
            if lay.worker_current_at and task is not None:
                worker.current_cpu_ns = task.se.sum_exec_runtime.value_() - w.current_at.value_()
            # process_one_work() accounts the item with the data word it saved at the start (and
            # current_color); the word in memory now is off-queue, or belongs to the item's next
            # queueing if it requeued itself, or to freed memory if the function freed its work.
            # So only func, color and pwq come from the worker; data is shown as it is now.
            data = 0
            with self.guard(f"work {cur:#x} run by {worker.name}"):
                data = read_work(self.prog, cur).data
            running = self.work(RawWork(cur, data, w.current_func.value_()), "running", 0, worker.pool_id,
                                worker.address)
            running.color, running.pwq, running.pool_id = worker.current_color, worker.current_pwq, worker.pool_id
            works.append(running)
        what = f"worker {worker.name or hex(worker.address)}"
        for i, raw in enumerate(self.collect(f"{what} scheduled", work_list(self.prog, w.scheduled.address_of_().value_()))):
            works.append(self.work(raw, "scheduled", i, worker.pool_id, worker.address))
        return worker, works

    def work(self, raw, where: str, position: int, pool_id: int | None, worker: int | None = None) -> Work:
        d = decode_work_data(self.lay, raw.data)
        work = Work(address=raw.address, func=self.func(raw.func), data=d.raw, flag_names=d.flag_names(),
                    color=d.color, where=where, position=position, pwq=d.pwq or None,
                    pool_id=pool_id if pool_id is not None else d.pool_id, worker=worker)
        if self.lay.wq_barrier_func is not None and raw.func == self.lay.wq_barrier_func:
            barrier = Barrier()
            with self.guard(f"barrier {raw.address:#x}"):
                barrier.waiter = self.task(barrier_waiter(Object(self.prog, "struct work_struct *", raw.address)))
            work.barrier = barrier
        return work

    # ---- workqueues

    def workqueue(self, wq: Object, system: dict[int, str]) -> tuple[Workqueue, list[Work]]:
        lay = self.lay
        flags = wq.flags.value_()
        max_active, saved, min_active = kwq.workqueue_max_active(wq)
        kind = lay.wq_kind(flags)
        rescuer = wq.rescuer
        out = Workqueue(
            address=wq.value_(), name=kwq.workqueue_name(wq), system_var=system.get(wq.value_()), flags=flags,
            flag_names=decode_flags(flags, lay.wq_flags), kind=kind, max_active=max_active,
            saved_max_active=saved, min_active=min_active, work_color=wq.work_color.value_(),
            flush_color=wq.flush_color.value_(), nr_pwqs_to_flush=wq.nr_pwqs_to_flush.counter.value_(),
            nr_drainers=wq.nr_drainers.value_(), rescuer=rescuer.value_() or None,
            rescuer_pid=rescuer.task.pid.value_() if rescuer and rescuer.task else None,
            dfl_pwq=wq.dfl_pwq.value_() or None,
        )
        what = f"workqueue {out.name}"
        attrs = kwq.workqueue_attrs(wq)
        if attrs.value_() and flags & lay.wq_flag("WQ_UNBOUND"):
            with self.guard(what):
                out.cpus = kwq.cpumask_cpus(attrs.cpumask)
                at = attrs.type_.type
                if at.has_member("affn_scope"):
                    scope = attrs.affn_scope.value_()
                    names = self.prog["wq_affn_names"]
                    out.affn_scope = names[scope].string_().decode() if 0 <= scope < len(names) else str(scope)
                if at.has_member("affn_strict"):
                    out.affn_strict = bool(attrs.affn_strict.value_())
                out.nice = attrs.nice.value_()
            if lay.wq_cpu_pwq == "cpu_pwqs" and not wq.cpu_pwqs:
                # Before v6.6: unbound workqueues pick a pwq per NUMA node.
                with self.guard(what):
                    out.node_pools = [[n, wq.numa_pwq_tbl[n].pool.id.value_()] for n in range(nr_node_ids(self.prog))
                                      if wq.numa_pwq_tbl[n]]
        if rescuer and rescuer.task:
            with self.guard(f"rescuer of {out.name}"):
                out.rescuer_cpus = ktopo.task_cpus(rescuer.task)
        with self.guard(f"{what} flushers"):
            if wq.first_flusher:
                out.first_flusher = self.flusher(wq.first_flusher, "first")
            out.flusher_queue = [self.flusher(f, "queue")
                                 for f in self.collect(what, kwq.workqueue_flushers(wq, "flusher_queue"))]
            out.flusher_overflow = [self.flusher(f, "overflow")
                                    for f in self.collect(what, kwq.workqueue_flushers(wq, "flusher_overflow"))]
        maydays = {p.value_() for p in self.collect(f"{what} maydays", kwq.workqueue_maydays(wq))}
        out.maydays = sorted(maydays)
        pending: set[int] = set()
        with self.guard(f"{what} node_nr_active"):
            nodes = nr_node_ids(self.prog)
            for i, nna in kwq.workqueue_node_nr_active(wq):
                waiting = [p.value_() for p in self.collect(what, kwq.node_nr_active_pending_pwqs(nna))]
                pending.update(waiting)
                out.node_nr_active.append(NodeNrActive(i, i if i < nodes else None, nna.nr.counter.value_(),
                                                       nna.max.value_(), waiting))
        cpu_map: dict[int, list[int]] = {}
        slots: dict[int, int] = {}
        with self.guard(f"{what} per-cpu pwqs"):
            for cpu, p in kwq.workqueue_cpu_pwq_map(wq).items():
                cpu_map.setdefault(p.value_(), []).append(cpu)
            for p in kwq.workqueue_pwq_slots(wq):
                slots[p] = slots.get(p, 0) + 1
        works: list[Work] = []
        for p in self.collect(f"{what} pwqs", kwq.workqueue_pwqs(wq)):
            with self.guard(f"pwq {p.value_():#x} of {what}"):
                pwq, inactive = self.pwq(p, out, cpu_map, maydays, pending)
                pwq.slots = slots.get(pwq.address, 0)
                out.pwqs.append(pwq)
                works += inactive
        return out, works

    def pwq(self, p: Object, wq: Workqueue, cpu_map, maydays, pending) -> tuple[Pwq, list[Work]]:
        lay = self.lay
        addr = p.value_()
        self.pwq_owner[addr] = wq
        pool_id = p.pool.id.value_()
        pwq = Pwq(
            address=addr, pool_id=pool_id, pool=p.pool.value_(), work_color=p.work_color.value_(),
            flush_color=p.flush_color.value_(), refcnt=p.refcnt.value_(),
            nr_in_flight=list(p.nr_in_flight.value_()), nr_active=p.nr_active.value_(),
            max_active=kwq.pwq_max_active(p), plugged=bool(p.plugged.value_()) if lay.pwq_plugged else None,
            on_mayday=addr in maydays, pending=addr in pending, cpus=cpu_map.get(addr, []),
            is_default=addr == wq.dfl_pwq,
            stats=dict(zip(lay.pwq_stats, p.stats.value_())) if lay.pwq_stats else None,
        )
        works = [self.work(raw, "inactive", i, pool_id)
                 for i, raw in enumerate(self.collect(f"pwq {addr:#x} inactive_works",
                                                      work_list(self.prog, p.inactive_works.address_of_().value_())))]
        pwq.nr_inactive = len(works)
        return pwq, works

    def flusher(self, f: Object, where: str) -> Flusher:
        waiters = [t for t in (self.task(t) for t in self.collect("flusher", kwq.completion_waiters(f.done))) if t]
        return Flusher(f.value_(), f.flush_color.value_(), where, waiters)

    # ---- delayed works

    def delayed_works(self) -> tuple[list[Work], list[BrokenTimer]]:
        lay = self.lay
        works, broken = [], []
        unbound_cpu = enum_value(self.prog, "WORK_CPU_UNBOUND")
        timers = self.collect("timer wheel", for_each_wheel_timer(self.prog))
        image = self.image
        for t in timers:
            if t.error is None and t.function is not None and not self.is_code(t.function, image):
                t = t.__class__(t.cpu, t.base, t.address, t.expires, t.function,
                                f"its function {t.function:#x} is in no loaded module and not in the kernel")
            if t.error is not None:
                broken.append(BrokenTimer(t.cpu, t.base, t.address, t.error))
                continue
            if lay.delayed_work_timer_fn is None or t.function != lay.delayed_work_timer_fn:
                continue
            with self.guard(f"delayed work timer {t.address:#x}"):
                dw = timer_delayed_work(self.prog, t.address)
                raw = read_work(self.prog, dw.work.address_of_().value_())
                d = decode_work_data(lay, raw.data)
                target = dw.cpu.value_()
                wq = dw.wq.value_() or None
                works.append(Work(
                    address=raw.address, func=self.func(raw.func), data=d.raw, flag_names=d.flag_names(),
                    where="delayed", wq=wq, pool_id=d.pool_id,
                    delayed=DelayedTimer(t.address, t.expires, t.cpu, None if target == unbound_cpu else target),
                ))
        return works, broken


    # ---- topology

    def topology(self, nr_cpu_ids: int, nr_nodes: int) -> Topology:
        topo = Topology()
        with self.guard("topology"):
            topo.unbound_cpus = ktopo.unbound_cpus(self.prog)
            dfl = ktopo.default_affinity_scope(self.prog)
            for index, name, pt in ktopo.for_each_affinity_scope(self.prog):
                nr, pods, nodes, cpu_pod = ktopo.pod_type(pt, nr_cpu_ids)
                topo.scopes.append(Scope(index, name, index == dfl, nr, pods, nodes, cpu_pod))
            topo.node_cpus = ktopo.node_cpus(self.prog, nr_nodes)
        return topo

    # ---- what diagnostics need

    def watchdog(self) -> Watchdog:
        wd = Watchdog(thresh=kwd.watchdog_thresh(self.prog))
        if wd.thresh is not None:
            with self.guard("workqueue watchdog"):
                wd.touched, per_cpu_touched = kwd.watchdog_touched(self.prog)
                wd.touched_cpu = sorted(per_cpu_touched.items())
        return wd

    def cpu_intensive(self) -> CpuIntensive:
        ci = CpuIntensive(thresh_us=kwd.cpu_intensive_thresh_us(self.prog))
        if ci.thresh_us is not None:
            with self.guard("cpu intensive detection"):
                ci.warning_thresh = self.prog["wq_cpu_intensive_warning_thresh"].value_() \
                    if "wq_cpu_intensive_warning_thresh" in self.prog else None
        if "wci_ents" in self.prog:
            ci.report = True
            for func, count in self.collect("hog table", kwd.for_each_hog(self.prog)):
                ci.hogs.append(HogEntry(self.func(func), count))
        return ci

    def uptime(self) -> float | None:
        from drgn.helpers.linux.timekeeping import ktime_get_coarse_boottime_ns

        try:
            return ktime_get_coarse_boottime_ns(self.prog).value_() / 1e9
        except (LookupError,) + READ_ERRORS as e:
            self.warn("uptime", f"{type(e).__name__}: {e}")
            return None

    def log(self) -> list[LogRecord]:
        try:
            return [LogRecord(t, text) for t, text in kwd.workqueue_log(self.prog)]
        except (LookupError,) + READ_ERRORS as e:
            self.warn("kernel log", f"{type(e).__name__}: {e}")
            return []

    def stack(self, task: Object, why: str) -> TaskStack:
        from drgn.helpers.linux.sched import task_cpu

        ref = self.task(task)
        st = TaskStack(ref, why)
        try:
            st.cpu = task_cpu(task)
            st.on_cpu = bool(task.on_cpu.value_()) if task.type_.type.has_member("on_cpu") else False
            for pc, name in kwd.task_frames(self.prog, task):
                ref = self.func(pc)
                name = name or ref.name or f"{pc:#x}"
                st.frames.append(f"{name} [{ref.module}]" if ref.module else name)
        except Exception as e:  # noqa: BLE001 - drgn cannot unwind some tasks (e.g. running on a live CPU)
            st.error = f"{type(e).__name__}: {e}"
        return st

    def stacks(self, snap: Snapshot) -> list[TaskStack]:
        """Stacks of the tasks diagnostics need: those waiting on barriers and flushes, what runs on
        each CPU, busy workers that hold an item someone waits for, run on a CPU or sit in a pool with
        queued work, and other tasks blocked in a flush, drain or cancel of work.

        Unwinding is the costly part of a deep capture, so the thousands of workers that are merely
        blocked in their work function are left out.
        """
        from drgn.helpers.linux.pid import for_each_task
        from drgn.helpers.linux.sched import cpu_curr

        prog = self.prog
        out: dict[int, TaskStack] = {}

        def add(task, why):
            if task is not None and task.value_() and task.value_() not in out:
                out[task.value_()] = self.stack(task, why)

        waited = {b.barrier.target for b in snap.works if b.barrier is not None}
        pending_pools = {p.id for p in snap.pools if p.worklist_len}
        for wq in snap.workqueues:
            if not wq.flushing:
                continue
            colors = {f.flush_color for f in ([wq.first_flusher] if wq.first_flusher else []) + wq.flusher_queue}
            waited |= {w.address for w in snap.works_of(wq) if w.where == "running" and w.color in colors}
            for f in ([wq.first_flusher] if wq.first_flusher else []) + wq.flusher_queue + wq.flusher_overflow:
                for t in f.waiters:
                    add(Object(prog, "struct task_struct *", t.address), "flusher")
        for w in snap.works:
            if w.barrier is not None and w.barrier.waiter is not None:
                add(Object(prog, "struct task_struct *", w.barrier.waiter.address), "barrier waiter")
        workers = set()
        for w in snap.workers:
            if w.task is None:
                continue
            workers.add(w.task.address)
            if w.current_work is not None and (w.current_work in waited or w.pool_id in pending_pools
                                               or w.task.state == "R"):
                add(Object(prog, "struct task_struct *", w.task.address), "busy worker")
        for cpu in snap.kernel.online_cpus:
            with self.guard(f"cpu {cpu}"):
                add(cpu_curr(prog, cpu), f"on cpu {cpu}")
        names = set(kwd.FLUSH_FRAMES)
        with self.guard("tasks"):
            for task in for_each_task(prog):
                if task.value_() in out or task.value_() in workers:
                    continue  # workers waiting in a flush are found through their barrier or flusher
                try:
                    # task->state became task->__state in v5.14.
                    state = task.member_("__state") if task.type_.type.has_member("__state") else task.state
                    if state.value_() != 2:
                        continue  # TASK_UNINTERRUPTIBLE only
                except READ_ERRORS:
                    continue
                st = self.stack(task, "blocked in flush")
                if any(f.split(" ")[0] in names for f in st.frames):
                    out[task.value_()] = st
        return list(out.values())

    def rcu_works(self) -> list[Work]:
        """rcu_works whose RCU callback (rcu_work_rcufn) still waits for a grace period."""
        fn = symbol_address(self.prog, "rcu_work_rcufn")
        if fn is None:
            return []
        out = []
        for cpu, head, func in self.collect("RCU callbacks", for_each_rcu_callback(self.prog)):
            if func != fn:
                continue
            with self.guard(f"rcu_work {head:#x}"):
                rw = rcu_work_of(self.prog, head)
                raw = read_work(self.prog, rw.work.address_of_().value_())
                d = decode_work_data(self.lay, raw.data)
                out.append(Work(address=raw.address, func=self.func(raw.func), data=d.raw,
                                flag_names=d.flag_names(), where="rcu", wq=rw.wq.value_() or None,
                                pool_id=d.pool_id, rcu_cpu=cpu))
        return out


def capture(prog: Program, target: Target, deep: bool = False) -> Snapshot:
    """Read everything wqinspect shows from ``prog`` (whose debug info is loaded).

    ``deep`` also reads what diagnostics use: workqueue messages of the kernel
    log and the stacks of busy workers and of tasks waiting for work.
    """
    r = _Reader(prog)
    snap = Snapshot(kernel=r.kernel_info(), target=target)
    snap.target.captured_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    snap.target.wqinspect_version = __version__
    snap.modules, snap.kernel_image, snap.last_unloaded_module = r.read_modules()
    system = {}
    with r.guard("system workqueues"):
        system = kwq.system_workqueues(prog)
    seen_workers: set[int] = set()
    for p in r.collect("worker_pool_idr", kpool.for_each_pool(prog)):
        with r.guard(f"pool {p.value_():#x}"):
            pool, workers, works = r.pool(p)
            snap.pools.append(pool)
            for w in workers:
                if w.address not in seen_workers:
                    seen_workers.add(w.address)
                    snap.workers.append(w)
            snap.works += works
    for wq in r.collect("workqueues", kwq.for_each_workqueue(prog)):
        with r.guard(f"workqueue {wq.value_():#x}"):
            out, works = r.workqueue(wq, system)
            snap.workqueues.append(out)
            snap.works += works
            # A rescuer that is not attached to a pool is on no pool's list.
            if out.rescuer and out.rescuer not in seen_workers:
                with r.guard(f"rescuer of {out.name}"):
                    worker, wworks = r.worker(wq.rescuer, None)
                    seen_workers.add(worker.address)
                    snap.workers.append(worker)
                    snap.works += wworks
    delayed, broken = r.delayed_works()
    snap.works += delayed + r.rcu_works()
    snap.broken_timers = broken
    link_works(snap, r.pwq_owner)
    snap.topology = r.topology(snap.kernel.nr_cpu_ids, snap.kernel.nr_node_ids)
    if target.mode == "kcore":
        # The running kernel's sysfs is this host's /sys: keep what it says, to compare with memory.
        from .sysfs import read_sysfs

        snap.sysfs = read_sysfs()
    snap.watchdog = r.watchdog()
    snap.cpu_intensive = r.cpu_intensive()
    snap.uptime = r.uptime()
    if deep:
        snap.log = r.log()
        snap.stacks = r.stacks(snap)
    snap.warnings = r.warnings
    return snap


def sample_counters(prog: Program) -> CountersSample:
    """Read the monitor's counters (cheap: no list of work items is walked on kernels with stats)."""
    import time

    lay = layout(prog)
    system = kwq.system_workqueues(prog)
    has = kstats.has_stats(prog)
    reclaim = lay.wq_flag("WQ_MEM_RECLAIM")
    t = time.time()
    # A list that changes under a live read (a workqueue destroyed, an inactive item activated
    # or cancelled) costs that workqueue's row or the rest of the list for this interval, with a
    # warning; the next interval reads again.
    r = _Reader(prog)
    rows = []
    for wq in r.collect("workqueues list", kstats.workqueue_addresses(prog)):
        with r.guard(f"workqueue {wq:#x}"):
            c = kstats.workqueue_counters(prog, wq, count_inactive=not has)
            rows.append(WqCounters(c.address, c.name, system.get(c.address), lay.wq_kind(c.flags),
                                   bool(c.flags & reclaim), c.stats, c.nr_active, c.in_flight, c.inactive))
    return CountersSample(prog["init_uts_ns"].name.release.string_().decode(), t, prog["jiffies"].value_(),
                          lay.hz, has, rows, r.warnings)
