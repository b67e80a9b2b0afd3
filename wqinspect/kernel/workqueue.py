# SPDX-License-Identifier: LGPL-2.1-or-later
"""Workqueues and their pool_workqueues.

Helpers in drgn's style: they take a ``Program`` or an ``Object`` and return
objects or iterators of objects; they never print.  Kernel-version
differences come from :func:`wqinspect.kernel.layout.layout`.
"""

import re
from typing import Iterator

from drgn import Object, Program, TypeKind
from drgn.helpers.linux.cpumask import for_each_cpu, for_each_possible_cpu
from drgn.helpers.linux.nodemask import nr_node_ids
from drgn.helpers.linux.percpu import per_cpu, per_cpu_ptr

from .layout import layout
from .walk import list_for_each_entry_bounded


def for_each_workqueue(prog: Program) -> Iterator[Object]:
    """
    Iterate over every workqueue on the global ``workqueues`` list.

    :return: Iterator of ``struct workqueue_struct *`` objects.
    """
    return list_for_each_entry_bounded("struct workqueue_struct", prog["workqueues"].address_of_(), "list")


def workqueue_name(wq: Object) -> str:
    """:param wq: ``struct workqueue_struct *``"""
    return wq.name.string_().decode(errors="replace")


def workqueue_pwqs(wq: Object) -> Iterator[Object]:
    """
    Iterate over the pool_workqueues of a workqueue (``wq->pwqs``).

    :param wq: ``struct workqueue_struct *``
    :return: Iterator of ``struct pool_workqueue *`` objects.
    """
    return list_for_each_entry_bounded("struct pool_workqueue", wq.pwqs.address_of_(), "pwqs_node")


def workqueue_cpu_pwq(wq: Object, cpu: int) -> Object:
    """
    The pool_workqueue that work queued on ``cpu`` goes to.

    :param wq: ``struct workqueue_struct *``
    :return: ``struct pool_workqueue *`` (NULL if there is none)
    """
    lay = layout(wq.prog_)
    if lay.wq_cpu_pwq == "cpu_pwq":
        return per_cpu_ptr(wq.cpu_pwq, cpu)[0]
    if wq.cpu_pwqs:
        # Before v6.6 per-cpu workqueues embed their pwqs in per-cpu memory ...
        return per_cpu_ptr(wq.cpu_pwqs, cpu)
    # ... and unbound ones pick a pwq by the CPU's NUMA node.
    prog = wq.prog_
    node = cpu_to_node(prog, cpu)
    return wq.numa_pwq_tbl[node] if node >= 0 else wq.dfl_pwq


def cpu_to_node(prog: Program, cpu: int) -> int:
    """The NUMA node of ``cpu`` (per-cpu ``numa_node``; 0 without NUMA)."""
    try:
        return per_cpu(prog["numa_node"], cpu).value_()
    except (KeyError, LookupError):
        return 0


def workqueue_cpu_pwq_map(wq: Object) -> dict[int, Object]:
    """Every possible CPU's pool_workqueue: {cpu: ``struct pool_workqueue *``}."""
    return {cpu: workqueue_cpu_pwq(wq, cpu) for cpu in for_each_possible_cpu(wq.prog_)}


def workqueue_pwq_slots(wq: Object) -> list[int]:
    """
    Addresses of the pwqs the workqueue's slots point to, one entry per slot
    (each slot holds a reference): every possible CPU's ``cpu_pwq``, or before
    v6.6 the per-cpu pwqs or the ``numa_pwq_tbl`` node slots; then ``dfl_pwq``.
    """
    prog = wq.prog_
    out = []
    if layout(prog).wq_cpu_pwq == "cpu_pwq" or wq.cpu_pwqs:
        out += [p.value_() for p in workqueue_cpu_pwq_map(wq).values()]
    else:
        out += [wq.numa_pwq_tbl[node].value_() for node in range(nr_node_ids(prog))]
    if wq.dfl_pwq:
        out.append(wq.dfl_pwq.value_())
    return [p for p in out if p]


def workqueue_dfl_pwq(wq: Object) -> Object:
    """The default pool_workqueue of an unbound workqueue (else NULL)."""
    return wq.dfl_pwq


def workqueue_attrs(wq: Object) -> Object:
    """
    :return: ``struct workqueue_attrs *`` of the workqueue (NULL for per-cpu
        workqueues before v7.3).
    """
    return getattr(wq, layout(wq.prog_).wq_attrs)


def workqueue_max_active(wq: Object) -> tuple[int, int, int | None]:
    """
    The concurrency limits: (max_active in force, saved_max_active, min_active).

    Up to v6.8 the limit in force lives in each pwq (:func:`pwq_max_active`)
    and min_active does not exist.
    """
    saved = wq.saved_max_active.value_()
    if layout(wq.prog_).wq_max_active:
        return wq.max_active.value_(), saved, wq.min_active.value_()
    return saved, saved, None


def pwq_max_active(pwq: Object) -> int | None:
    """``pwq->max_active`` where it exists (up to v6.8), else None."""
    return None if layout(pwq.prog_).wq_max_active else pwq.max_active.value_()


def workqueue_node_nr_active(wq: Object) -> Iterator[tuple[int, Object]]:
    """
    The per-node active counters of an unbound workqueue (v6.9+): index and
    ``struct wq_node_nr_active *``.  The last index (``nr_node_ids``) is the
    counter of pools with no node.  Per-cpu workqueues have none: their array
    is not even allocated.
    """
    prog = wq.prog_
    if not layout(prog).wq_node_nr_active or not wq.flags.value_() & layout(prog).wq_flag("WQ_UNBOUND"):
        return
    for i in range(nr_node_ids(prog) + 1):
        nna = wq.node_nr_active[i]
        if nna:
            yield i, nna


def node_nr_active_pending_pwqs(nna: Object) -> Iterator[Object]:
    """:return: ``struct pool_workqueue *`` objects waiting on ``nna->pending_pwqs``."""
    return list_for_each_entry_bounded("struct pool_workqueue", nna.pending_pwqs.address_of_(), "pending_node")


def workqueue_maydays(wq: Object) -> Iterator[Object]:
    """:return: ``struct pool_workqueue *`` objects on ``wq->maydays`` (asking the rescuer for help)."""
    return list_for_each_entry_bounded("struct pool_workqueue", wq.maydays.address_of_(), "mayday_node")


def workqueue_flushers(wq: Object, which: str) -> Iterator[Object]:
    """
    :param which: ``"flusher_queue"`` or ``"flusher_overflow"``
    :return: ``struct wq_flusher *`` objects (they live on the flushing tasks' stacks).
    """
    return list_for_each_entry_bounded("struct wq_flusher", getattr(wq, which).address_of_(), "list")


def completion_waiters(done: Object) -> Iterator[Object]:
    """
    Tasks sleeping in ``wait_for_completion()`` on ``done``.

    :param done: ``struct completion``
    :return: Iterator of ``struct task_struct *`` objects.
    """
    wait = done.wait
    if wait.type_.has_member("task_list"):
        # swait queue (v5.7+: completions use simple wait queues)
        for q in list_for_each_entry_bounded("struct swait_queue", wait.task_list.address_of_(), "task_list", 4096):
            yield q.task
    else:
        for q in list_for_each_entry_bounded("struct wait_queue_entry", wait.head.address_of_(), "entry", 4096):
            yield Object(q.prog_, "struct task_struct *", q.private.value_())


def system_workqueues(prog: Program) -> dict[int, str]:
    """
    The kernel's system workqueues: {address of the workqueue: variable name}.

    Several share a name (two "events" since ``system_percpu_wq`` was added),
    so the variable that points to a workqueue is what tells them apart.
    """
    try:
        return prog.cache["wqinspect_system_wqs"]
    except KeyError:
        pass
    found: dict[int, str] = {}
    names = sorted({s.name for s in prog.symbols() if re.fullmatch(r"system_\w*wq", s.name)})
    for name in names:
        try:
            var = prog.variable(name)
        except (KeyError, LookupError):
            continue
        if var.type_.type_name() == "struct workqueue_struct *" and var.value_():
            found.setdefault(var.value_(), name)
    prog.cache["wqinspect_system_wqs"] = found
    return found


def cpumask_cpus(mask: Object) -> list[int]:
    """CPUs of a ``cpumask_var_t`` (pointer or one-element array) or ``struct cpumask *``."""
    if mask.type_.unqualified().kind == TypeKind.POINTER and not mask.value_():
        return []
    return list(for_each_cpu(mask[0].address_of_()))
