# SPDX-License-Identifier: LGPL-2.1-or-later
"""Work items in no pool yet: delayed works on the timer wheels, rcu_works on the RCU callback lists."""

from typing import Iterator

from drgn import FaultError, Program, offsetof

from ..kernel.layout import enum_value, symbol_address
from ..kernel.work import (WheelTimer, for_each_rcu_callback, for_each_wheel_timer, rcu_work_of, timer_delayed_work,
                           wheel_bucket)
from ..snapshot import BrokenTimer, DelayedTimer, Work, Where
from .base import Reader


def _bad_link(t: WheelTimer) -> bool:
    """A timer read whole whose ``pprev`` does not point back to the link that led to it (for_each_wheel_timer
    reads its expires and function then): freed and reused memory, or a damaged link."""
    return t.error is not None and t.expires is not None and t.function is not None


def _timers_after(prog: Program, t: WheelTimer, limit: int = 100_000) -> Iterator[WheelTimer]:
    """The timers after ``t`` in its bucket, from ``t``'s own ``next`` link (when only ``t``'s ``pprev`` is bad),
    checked as every bucket is (:func:`wheel_bucket`)."""
    link = t.address + offsetof(prog.type("struct timer_list"), "entry")  # hlist_node.next: the node's first word
    return wheel_bucket(prog, t.cpu, t.base, link, prog.read_word(link), limit)


def delayed_works(r: Reader) -> tuple[list[Work], list[BrokenTimer]]:
    """The delayed works whose timer is pending, and the timer wheel links that could not be followed.

    A delayed work whose timer's ``pprev`` is damaged is still listed when the timer and its work read as a
    live delayed work (the timer function is delayed_work_timer_fn, the work's function is code and its
    PENDING bit is set), with a warning on it; the timers after it in its bucket are then read from its
    ``next`` link.  Otherwise the link is a broken timer, and a warning names the delayed work it lost.
    """
    lay = r.lay
    works, broken = [], []
    unbound_cpu = enum_value(r.prog, "WORK_CPU_UNBOUND")
    queue = r.collect("timer wheel", for_each_wheel_timer(r.prog))
    done: set[int] = set()
    i = 0
    while i < len(queue):
        t = queue[i]
        i += 1
        if t.address in done and (t.error is None or _bad_link(t)):
            if t.error is not None:  # a damaged link that leads back to a timer already read
                r.warn(f"timer wheel of CPU {t.cpu} base {t.base}",
                       f"a link leads to timer {t.address:#x}, which was already read ({t.error}); the timers "
                       "after it on this link are not read")
            continue  # listed once
        if t.error is None and t.function is not None and not r.is_code(t.function):
            t = t.__class__(t.cpu, t.base, t.address, t.expires, t.function,
                            f"its function {t.function:#x} is in no loaded module and not in the kernel")
        elif _bad_link(t) and lay.delayed_work_timer_fn is not None and t.function == lay.delayed_work_timer_fn:
            work = _live_delayed_work(r, t, unbound_cpu)
            if work is not None:
                r.warn(f"delayed work {work.address:#x} (timer {t.address:#x}, CPU {t.cpu} base {t.base})",
                       f"its timer's wheel link is damaged ({t.error}); the work is listed from the timer, "
                       "and its bucket is read on from the timer's next link")
                works.append(work)
                done.add(t.address)
                queue += r.collect(f"timer wheel of CPU {t.cpu} base {t.base} after timer {t.address:#x}",
                                   _timers_after(r.prog, t))
                continue
            r.warn(f"delayed work of timer {t.address:#x} (CPU {t.cpu} base {t.base})",
                   f"not listed: its timer's wheel link is damaged ({t.error}) and the work does not read as a "
                   "pending delayed work; the timers after it in its bucket are not read")
        if t.error is not None:
            broken.append(BrokenTimer(t.cpu, t.base, t.address, t.error))
            continue
        done.add(t.address)
        if lay.delayed_work_timer_fn is None or t.function != lay.delayed_work_timer_fn:
            continue
        with r.guard(f"delayed work timer {t.address:#x}"):
            raw, wq, target = timer_delayed_work(r.prog, t.address)
            d, names = r.decoded(raw.data)
            works.append(Work(
                address=raw.address, func=r.func(raw.func), data=d.raw, flag_names=names,
                where=Where.DELAYED, wq=wq or None, pool_id=d.pool_id,
                delayed=DelayedTimer(t.address, t.expires, t.cpu, None if target == unbound_cpu else target),
            ))
    return works, broken


def _live_delayed_work(r: Reader, t: WheelTimer, unbound_cpu: int | None) -> Work | None:
    """The delayed work of timer ``t`` if it reads as one still pending, else None."""
    try:
        raw, wq, target = timer_delayed_work(r.prog, t.address)
    except FaultError:
        return None
    d, names = r.decoded(raw.data)
    if not r.is_code(raw.func) or "PENDING" not in names:
        return None
    return Work(address=raw.address, func=r.func(raw.func), data=d.raw, flag_names=names,
                where=Where.DELAYED, wq=wq or None, pool_id=d.pool_id,
                delayed=DelayedTimer(t.address, t.expires, t.cpu, None if target == unbound_cpu else target))


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
            out.append(Work(address=raw.address, func=r.func(raw.func), data=d.raw, flag_names=names,
                            where=Where.RCU, wq=wq or None, pool_id=d.pool_id, rcu_cpu=cpu))
    return out
