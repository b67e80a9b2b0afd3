# SPDX-License-Identifier: LGPL-2.1-or-later
"""Work items in no pool yet: delayed works on the timer wheels, rcu_works on the RCU callback lists."""

from ..kernel.layout import enum_value, symbol_address
from ..kernel.work import for_each_rcu_callback, for_each_wheel_timer, rcu_work_of, timer_delayed_work
from ..snapshot import BrokenTimer, DelayedTimer, Work, Where
from .base import Reader


def delayed_works(r: Reader) -> tuple[list[Work], list[BrokenTimer]]:
    """The delayed works whose timer is pending, and the timer wheel links that could not be followed."""
    lay = r.lay
    works, broken = [], []
    unbound_cpu = enum_value(r.prog, "WORK_CPU_UNBOUND")
    for t in r.collect("timer wheel", for_each_wheel_timer(r.prog)):
        if t.error is None and t.function is not None and not r.is_code(t.function):
            t = t.__class__(t.cpu, t.base, t.address, t.expires, t.function,
                            f"its function {t.function:#x} is in no loaded module and not in the kernel")
        if t.error is not None:
            broken.append(BrokenTimer(t.cpu, t.base, t.address, t.error))
            continue
        if lay.delayed_work_timer_fn is None or t.function != lay.delayed_work_timer_fn:
            continue
        with r.guard(f"delayed work timer {t.address:#x}"):
            raw, wq, target = timer_delayed_work(r.prog, t.address)
            d, names = r.decoded(raw.data)
            works.append(Work(
                address=raw.address, func=r.func(raw.func), data=d.raw, flag_names=list(names),
                where=Where.DELAYED, wq=wq or None, pool_id=d.pool_id,
                delayed=DelayedTimer(t.address, t.expires, t.cpu, None if target == unbound_cpu else target),
            ))
    return works, broken


def rcu_works(r: Reader) -> list[Work]:
    """rcu_works whose RCU callback (rcu_work_rcufn) still waits for a grace period."""
    fn = symbol_address(r.prog, "rcu_work_rcufn")
    if fn is None:
        return []
    out = []
    for cpu, head, func in r.collect("RCU callbacks", for_each_rcu_callback(r.prog)):
        if func != fn:
            continue
        with r.guard(f"rcu_work {head:#x}"):
            raw, wq = rcu_work_of(r.prog, head)
            d, names = r.decoded(raw.data)
            out.append(Work(address=raw.address, func=r.func(raw.func), data=d.raw, flag_names=list(names),
                            where=Where.RCU, wq=wq or None, pool_id=d.pool_id, rcu_cpu=cpu))
    return out
