# SPDX-License-Identifier: LGPL-2.1-or-later
"""What this kernel's workqueue code looks like, found from its debug info.

Every difference between kernel versions that the readers care about is
detected here, once per program, by the presence of a member, a symbol or an
enumerator, never from a version number (distributions backport: Debian's
6.12 has 6.17's ``WQ_PERCPU`` and 7.0's ``mayday_cursor``).  The result is
the drgn-free record :class:`wqinspect.snapshot.layout.Layout`, whose fields
name the upstream commit that introduced each difference.  Readers ask
:func:`layout` instead of probing types themselves.
"""

import re

from drgn import Program, Type, TypeKind

from ..snapshot import SnapshotError
from ..snapshot.layout import Layout


def has_member(type: Type, member: str) -> bool:
    try:
        return type.has_member(member)
    except (TypeError, ValueError):
        return False


def enum_value(prog: Program, name: str) -> int | None:
    """The value of enumerator ``name``, or None if this kernel has none."""
    try:
        return prog.constant(name).value_()
    except (KeyError, LookupError):
        return None


def symbol_address(prog: Program, name: str) -> int | None:
    try:
        return prog.symbol(name).address
    except LookupError:
        return None


def _flag_enumerators(prog: Program, anchor: str, prefix: str, exclude: str) -> tuple[tuple[str, int], ...]:
    """Single-bit enumerators named ``prefix...`` in the enum that defines ``anchor``.

    In older kernels the flags share an anonymous enum with limits such as
    ``WQ_MAX_ACTIVE`` (512, a single bit too), hence ``exclude``.
    """
    try:
        enum = prog.constant(anchor).type_
    except (KeyError, LookupError):
        return ()
    return tuple(
        (e.name, e.value) for e in enum.enumerators or ()
        if re.match(prefix, e.name) and not re.search(exclude, e.name)
        and e.value > 0 and e.value & (e.value - 1) == 0
    )


def _underlying(t: Type) -> Type:
    t = t.unqualified()
    while t.kind == TypeKind.TYPEDEF:
        t = t.type.unqualified()
    return t


def _has_type(prog: Program, type_name: str) -> bool:
    try:
        prog.type(type_name)
        return True
    except LookupError:
        return False


def _has_type_member(prog: Program, type_name: str, member: str) -> bool:
    try:
        return has_member(prog.type(type_name), member)
    except LookupError:
        return False


def _last_unloaded_module_struct(prog: Program) -> bool:
    try:
        return _underlying(prog["last_unloaded_module"].type_).kind == TypeKind.STRUCT
    except (KeyError, LookupError):
        return True


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


def _need(value: int | None, name: str) -> int:
    if value is None:
        raise LookupError(f"the kernel's debug info has no {name}")
    return value


class UnknownLayout(SnapshotError):
    """The kernel lacks a type, member or enumerator the readers cannot do without (one line, exit 2)."""


def layout(prog: Program) -> Layout:
    """The :class:`Layout` of ``prog``'s kernel (cached per program).

    UnknownLayout names what is missing when the kernel's workqueue code is not one wqinspect
    knows how to read (never an internal error).
    """
    try:
        return prog.cache["wqinspect_layout"]
    except KeyError:
        pass
    try:
        lay = _detect(prog)
    except LookupError as e:
        raise UnknownLayout(f"this kernel's workqueue code is not one wqinspect knows how to read: {e}") from None
    prog.cache["wqinspect_layout"] = lay
    return lay


def _detect(prog: Program) -> Layout:
    wq = prog.type("struct workqueue_struct")
    pwq = prog.type("struct pool_workqueue")
    pool = prog.type("struct worker_pool")
    worker = prog.type("struct worker")
    attrs = prog.type("struct workqueue_attrs")
    task = prog.type("struct task_struct")
    ev = lambda name: enum_value(prog, name)  # noqa: E731

    color_shift = _need(ev("WORK_STRUCT_COLOR_SHIFT"), "WORK_STRUCT_COLOR_SHIFT")
    color_bits = _need(ev("WORK_STRUCT_COLOR_BITS"), "WORK_STRUCT_COLOR_BITS")
    pwq_shift = ev("WORK_STRUCT_PWQ_SHIFT")
    if pwq_shift is None:
        pwq_shift = color_shift + color_bits
    offq_flags = []
    for name, label in (("WORK_OFFQ_BH_BIT", "BH"), ("WORK_OFFQ_CANCELING_BIT", "CANCELING"),
                        ("__WORK_OFFQ_CANCELING", "CANCELING")):
        v = ev(name)
        if v is not None:
            offq_flags.append((label, v))
    disable_shift = ev("WORK_OFFQ_DISABLE_SHIFT")
    stats: tuple[str, ...] = ()
    nr_stats = ev("PWQ_NR_STATS")
    if nr_stats is not None and has_member(pwq, "stats"):
        enum = prog.constant("PWQ_NR_STATS").type_
        by_value = {e.value: e.name.removeprefix("PWQ_STAT_") for e in enum.enumerators
                    if e.name.startswith("PWQ_STAT_")}
        stats = tuple(by_value.get(i, str(i)).lower() for i in range(nr_stats))
    cooldown = ev("CREATE_COOLDOWN")
    lay = Layout(
        wq_cpu_pwq="cpu_pwq" if has_member(wq, "cpu_pwq") else "cpu_pwqs",
        wq_max_active=has_member(wq, "max_active"),
        wq_node_nr_active=has_member(wq, "node_nr_active"),
        wq_attrs="attrs" if has_member(wq, "attrs") else "unbound_attrs",
        pwq_plugged=has_member(pwq, "plugged"),
        pwq_stats=stats,
        pwq_mayday_cursor=has_member(pwq, "mayday_cursor"),
        pool_progress_ts="last_progress_ts" if has_member(pool, "last_progress_ts") else "watchdog_ts",
        pool_cpu_stall=has_member(pool, "cpu_stall"),
        bh_pools="bh_worker_pools" in prog,
        worker_current_at=has_member(worker, "current_at"),
        worker_current_start=has_member(worker, "current_start"),
        worker_full_id=ev("WORKER_ID_LEN") is not None,
        worker_current_color=has_member(worker, "current_color"),
        pwq_inactive_list="inactive_works" if has_member(pwq, "inactive_works") else "delayed_works",
        work_no_color=ev("WORK_NO_COLOR"),
        pool_nr_running_int=_underlying(pool.member("nr_running").type).kind != TypeKind.STRUCT,
        attrs_pod_cpumask=has_member(attrs, "__pod_cpumask"),
        attrs_affn_strict=has_member(attrs, "affn_strict"),
        attrs_affn_scope=has_member(attrs, "affn_scope") and "wq_affn_names" in prog,
        task_state="__state" if has_member(task, "__state") else "state",
        task_on_cpu=has_member(task, "on_cpu"),
        rcu_nocb_bypass=_has_type_member(prog, "struct rcu_data", "nocb_bypass"),
        completion_swait=_has_type_member(prog, "struct swait_queue_head", "task_list")
        and has_member(prog.type("struct completion").member("wait").type, "task_list"),
        last_unloaded_module_struct=_last_unloaded_module_struct(prog),
        dump_folds=_has_type(prog, "struct pr_cont_work_struct"),
        modules="modules" in prog and _has_type_member(prog, "struct module", "list"),
        cpumask_offstack=_underlying(prog.type("cpumask_var_t")).kind == TypeKind.POINTER,
        cpu_intensive_warning_thresh="wq_cpu_intensive_warning_thresh" in prog,
        cpu_intensive_report="wci_ents" in prog,
        work_pending_bit=_need(ev("WORK_STRUCT_PENDING_BIT"), "WORK_STRUCT_PENDING_BIT"),
        # WORK_STRUCT_DELAYED_BIT before commit f97a4a1a3f87 (v5.15): the same bit, renamed.
        work_inactive_bit=_need(_first(ev("WORK_STRUCT_INACTIVE_BIT"), ev("WORK_STRUCT_DELAYED_BIT")),
                                "WORK_STRUCT_INACTIVE_BIT"),
        work_pwq_bit=_need(ev("WORK_STRUCT_PWQ_BIT"), "WORK_STRUCT_PWQ_BIT"),
        work_linked_bit=_need(ev("WORK_STRUCT_LINKED_BIT"), "WORK_STRUCT_LINKED_BIT"),
        work_color_shift=color_shift,
        work_color_bits=color_bits,
        work_pwq_shift=pwq_shift,
        work_offq_pool_shift=_need(ev("WORK_OFFQ_POOL_SHIFT"), "WORK_OFFQ_POOL_SHIFT"),
        work_offq_pool_bits=ev("WORK_OFFQ_POOL_BITS") or 31,
        work_offq_flags=tuple(offq_flags),
        work_offq_disable=(disable_shift, ev("WORK_OFFQ_DISABLE_BITS") or 16) if disable_shift is not None else None,
        nr_colors=ev("WORK_NR_COLORS") or (1 << color_bits),
        wq_flags=_flag_enumerators(prog, "WQ_UNBOUND", r"_*WQ_", r"ACTIVE|PER_CPU|_LEN$|ALLOWS"),
        pool_flags=_flag_enumerators(prog, "POOL_DISASSOCIATED", r"POOL_", r"^$"),
        worker_flags=_flag_enumerators(prog, "WORKER_DIE", r"WORKER_", r"NOT_RUNNING"),
        wq_barrier_func=symbol_address(prog, "wq_barrier_func"),
        mayday_cursor_func=symbol_address(prog, "mayday_cursor_func"),
        delayed_work_timer_fn=symbol_address(prog, "delayed_work_timer_fn"),
        hz=cooldown,
        wq_max_active_limit=_need(ev("WQ_MAX_ACTIVE"), "WQ_MAX_ACTIVE"),
        wq_dfl_active=_need(ev("WQ_DFL_ACTIVE"), "WQ_DFL_ACTIVE"),
        wq_dfl_min_active=ev("WQ_DFL_MIN_ACTIVE"),
        wq_max_unbound_per_cpu=ev("WQ_MAX_UNBOUND_PER_CPU"),
        worker_not_running=_need(ev("WORKER_NOT_RUNNING"), "WORKER_NOT_RUNNING"),
        implicit_ordered=ev("__WQ_ORDERED_EXPLICIT") is not None,
    )
    return lay
