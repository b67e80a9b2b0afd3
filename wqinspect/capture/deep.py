# SPDX-License-Identifier: LGPL-2.1-or-later
"""Deep captures: the workqueue messages of the kernel log, and the stacks diagnostics need.

Unwinding is the costly part of a deep capture, so only the tasks that can
explain a wait or a stall are unwound (:func:`stacks` says which).
"""

from drgn import Object, offsetof

from ..kernel import watchdog as kwd
from ..kernel.pool import task_walk_record
from ..kernel.walk import linked_records, list_node_addresses
from ..snapshot import LogRecord, Snapshot, TaskStack, Where
from .base import READ_ERRORS, Reader, fault_text
from .crash import panic_cpu

#: The most tasks (threads included) walked when looking for tasks blocked in a flush.
TASKS_LIMIT = 1 << 22
#: The most busy workers off the CPU unwound in one pool with queued work (longest-running first).
BUSY_STACKS_PER_POOL = 16
#: TASK_UNINTERRUPTIBLE.
_UNINTERRUPTIBLE = 2


def log(r: Reader) -> list[LogRecord]:
    try:
        return [LogRecord(t, text) for t, text in kwd.workqueue_log(r.prog)]
    except (LookupError,) + READ_ERRORS as e:
        r.warn("kernel log", f"{type(e).__name__}: {e}")
        return []


def stack(r: Reader, task: int, why: str, located: dict | None = None) -> TaskStack:
    """The stack of the task at ``task``; frames as ``function+0xoff/0xsize [module]``, as crash shows them."""
    from drgn.helpers.linux.sched import task_cpu

    st = TaskStack(r.task(task), why)
    obj = Object(r.prog, "struct task_struct *", task)
    try:
        st.cpu = task_cpu(obj)
        st.on_cpu = bool(obj.on_cpu.value_()) if r.lay.task_on_cpu else False
        for pc, name, where in kwd.task_frames(r.prog, obj, located=located):
            # The symbol lookup of r.func() only where the frame has no name of its own.
            module = r.module_of(pc)
            text = where or name or r.func(pc).name or f"{pc:#x}"
            st.frames.append(f"{text} [{module}]" if module else text)
    except Exception as e:  # noqa: BLE001 - drgn cannot unwind some tasks (e.g. running on a live CPU)
        st.error = f"{type(e).__name__}: {e}"
    return st


def frame_function(frame: str) -> str:
    """The function of a frame as :func:`stack` writes it."""
    return frame.split(" ", 1)[0].split("+", 1)[0]


def _tasks_with_state(r: Reader) -> dict[int, int]:
    """Every task but the idle ones, threads included, with its state: a bounded walk of
    ``init_task.tasks`` (thread group leaders) and of each group's threads.  Each task is read once,
    its state and links together; a group with one thread (every kworker) is known from its leader's
    ``thread_node`` alone, which points to the group's ``signal->thread_head`` both ways."""
    prog = r.prog
    signal_t = prog.type("struct signal_struct")
    rec = task_walk_record(prog)
    tasks_off, node_off = rec.offset("tasks"), rec.offset("thread_next")
    head_off = offsetof(signal_t, "thread_head")
    init = prog["init_task"].address_
    found: dict[int, int] = {}

    def unreadable(task: int, e: Exception) -> None:
        # A task that cannot be read whole is left out; its link alone goes on with the list.
        r.warn(f"task {task:#x}", fault_text(e))

    def walk_leaders():
        head = init + tasks_off
        first = prog.read_word(head)
        if first == head:
            yield from list_node_addresses(prog, head, TASKS_LIMIT, first=first)  # (WalkError: the head)
            return
        yield from linked_records(prog, head, first, tasks_off, rec.lo, rec.span, rec.decode, "tasks", TASKS_LIMIT,
                                  on_fault=unreadable)

    for leader, f in r.collect("tasks", walk_leaders()):
        with r.guard(f"task {leader:#x}"):
            head = f["signal"] + head_off
            if not (f["thread_next"] == head and f["thread_prev"] == head):
                for t in r.collect(f"threads of task {leader:#x}", list_node_addresses(prog, head, TASKS_LIMIT)):
                    thread = t - node_off
                    if thread not in found:
                        with r.guard(f"task {thread:#x}"):
                            found[thread] = rec.read(thread)["state"]
            found.setdefault(leader, f["state"])
    return found


def blocked_tasks(r: Reader) -> list[int]:
    """The tasks in TASK_UNINTERRUPTIBLE, in pid order (the order of drgn's for_each_task())."""
    out = {}
    for t, state in _tasks_with_state(r).items():
        if state == _UNINTERRUPTIBLE:
            try:
                out[t] = r.task_fields(t)["pid"]
            except READ_ERRORS:
                continue
    return sorted(out, key=out.__getitem__)


def stacks(r: Reader, snap: Snapshot) -> list[TaskStack]:
    """Stacks of the tasks diagnostics need: those waiting on barriers and flushes, what runs on
    each CPU (its idle task only where that may tell something), busy workers that hold an item
    someone waits for, run on a CPU or sit in a pool with queued work (there the
    BUSY_STACKS_PER_POOL longest-running), and other tasks blocked in a flush, drain or cancel of
    work.

    Unwinding is the costly part of a deep capture, so the thousands of workers that are merely
    blocked in their work function are left out.
    """
    from drgn.helpers.linux.sched import cpu_curr

    prog = r.prog
    out: dict[int, TaskStack] = {}

    located: dict = {}  # frame locations, shared by the stacks of this capture (task_frames)

    def add(task: int | None, why: str) -> None:
        if task and task not in out:
            out[task] = stack(r, task, why, located)

    waited = {b.barrier.target for b in snap.works if b.barrier is not None}
    pending_pools = {p.id for p in snap.pools if p.worklist_len}
    for wq in snap.workqueues:
        if not wq.flushing:
            continue
        colors = wq.flushed_colors
        waited |= {w.address for w in snap.works_of(wq) if w.where == Where.RUNNING and w.color in colors}
        for f in wq.flushers:
            for t in f.waiters:
                add(t.address, "flusher")
    for w in snap.works:
        if w.barrier is not None and w.barrier.waiter is not None:
            add(w.barrier.waiter.address, "barrier waiter")
    workers = set()
    sleeping: dict[int, list] = {}  # busy workers off the CPU in pools with queued work, by pool
    for w in snap.workers:
        if w.task is None:
            continue
        workers.add(w.task.address)
        if w.current_work is None:
            continue
        if w.current_work in waited or w.task.state == "R":
            add(w.task.address, "busy worker")
        elif w.pool_id in pending_pools:
            sleeping.setdefault(w.pool_id, []).append(w)
    for ws in sleeping.values():
        # A pool of thousands of blocked items has as many busy workers: the longest-running ones
        # tell why it does not progress (the kernel's watchdog prints the stacks of none of them).
        for w in snap.longest_running_first(ws)[:BUSY_STACKS_PER_POOL]:
            add(w.task.address, "busy worker")
    # What runs on each CPU.  An idle CPU runs its idle task, whose stack is the idle loop: left out (as the
    # kernel's NMI backtraces skip idle CPUs; every idle task has pid 0, so nothing looks one up), unless the
    # kernel panicked, a pool of the CPU has queued work, or a BH pool of it runs an item (softirq runs BH
    # items on whatever task it interrupts).  Each unwind costs drgn 5 ms or more.
    crashed = panic_cpu(prog) is not None
    watched = {p.cpu for p in snap.pools if p.cpu >= 0 and (p.worklist_len or (p.kind.bh and p.busy))}
    for cpu in snap.kernel.online_cpus:
        with r.guard(f"cpu {cpu}"):
            task = cpu_curr(prog, cpu).value_()
            if task and (crashed or cpu in watched or r.task_fields(task)["pid"] != 0):
                add(task, f"on cpu {cpu}")
    names = set(kwd.FLUSH_FRAMES)
    for task in blocked_tasks(r):
        if task in out or task in workers:
            continue  # workers waiting in a flush are found through their barrier or flusher
        st = stack(r, task, "blocked in flush", located)
        if any(frame_function(f) in names for f in st.frames):
            out[task] = st
    return list(out.values())
