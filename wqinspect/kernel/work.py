# SPDX-License-Identifier: LGPL-2.1-or-later
"""Work items: the ``work_struct->data`` word, lists of work items, delayed works.

Work lists can hold 100,000 items, so they are read with raw word reads at
offsets taken from the debug info, not member by member.
"""

import struct
from dataclasses import dataclass
from typing import Iterator, NamedTuple

from drgn import FaultError, Program, offsetof, sizeof

from .cache import per_program
from .cpus import cpus
from .layout import layout
from .structs import byte_order, record
from .walk import WalkError


class RawWork(NamedTuple):
    address: int
    data: int
    func: int


class _WorkOffsets(NamedTuple):
    data: int
    entry: int
    func: int
    size: int
    #: ``unpack(buf, offset=0)``: (data, entry.next, func) of the work_struct at ``buf[offset:]``.
    unpack: object


def work_offsets(prog: Program) -> _WorkOffsets:
    """Offsets of data, entry and func in ``struct work_struct``, and how to unpack them from its bytes."""
    try:
        return prog.cache["wqinspect_work_offsets"]
    except KeyError:
        t = prog.type("struct work_struct")
        d, e, f = offsetof(t, "data"), offsetof(t, "entry"), offsetof(t, "func")
        fields = sorted([(d, "data"), (e, "next"), (f, "func")])
        fmt, pos = byte_order(prog), 0
        for off, _ in fields:
            fmt += f"{off - pos}xQ" if off > pos else "Q"
            pos = off + 8
        unpack = struct.Struct(fmt).unpack_from
        order = [name for _, name in fields]
        idx = (order.index("data"), order.index("next"), order.index("func"))

        def read3(buf, offset=0, _u=unpack, _i=idx):
            v = _u(buf, offset)
            return v[_i[0]], v[_i[1]], v[_i[2]]

        # data, entry and func are in that order in every kernel so far: unpack straight into them.
        offs = _WorkOffsets(d, e, f, pos, unpack if idx == (0, 1, 2) else read3)
        prog.cache["wqinspect_work_offsets"] = offs
        return offs


def read_work(prog: Program, address: int) -> RawWork:
    """Read a ``struct work_struct`` at ``address`` (one memory read)."""
    o = work_offsets(prog)
    data, _, func = o.unpack(prog.read(address, o.size))
    return RawWork(address, data, func)


def barrier_waiter(prog: Program, work: int) -> int:
    """
    The task waiting in flush_work() on a barrier item.

    :param work: address of a ``struct work_struct`` whose func is ``wq_barrier_func``
    :return: address of the ``struct task_struct``
    """
    t = prog.type("struct wq_barrier")
    return prog.read_word(work - offsetof(t, "work") + offsetof(t, "task"))


# ---- delayed works on the timer wheel

@dataclass(frozen=True)
class WheelTimer:
    """A timer found on a CPU's timer wheel, or a link that could not be read."""

    cpu: int
    base: int
    address: int
    #: None when the timer's memory could not be read (freed or corrupt).
    expires: int | None
    function: int | None
    error: str | None = None


def for_each_wheel_timer(prog: Program, limit: int = 100_000) -> Iterator[WheelTimer]:
    """
    Every timer on every possible CPU's timer wheel(s).  A link that points to
    memory that cannot be read, or to a node whose ``pprev`` does not point
    back to that link (freed and reused memory), ends its bucket's chain with
    an entry carrying ``error``: the classic trace of a module that left a
    timer behind on unload.
    """
    from drgn.helpers.linux.percpu import per_cpu

    word = sizeof(prog.type("void *"))
    order = "little" if byte_order(prog) == "<" else "big"
    for cpu in cpus(prog).possible:
        bases = per_cpu(prog["timer_bases"], cpu)
        for b in range(len(bases)):
            vectors = bases[b].vectors
            n = len(vectors)
            raw = prog.read(vectors.address_, n * word)
            for i in range(n):
                node = int.from_bytes(raw[i * word:(i + 1) * word], order)
                if node:
                    # the hlist_head's first pointer, then each node's next field
                    yield from wheel_bucket(prog, cpu, b, vectors.address_ + i * word, node, limit)


def wheel_bucket(prog: Program, cpu: int, base: int, link: int, node: int,
                 limit: int = 100_000) -> Iterator[WheelTimer]:
    """The timers of one timer-wheel bucket from ``node``, the pointer stored at ``link`` (the bucket's
    ``hlist_head``, or a timer's ``entry.next``).  Each node's ``pprev`` must point back to the link that led
    to it; the first one that does not, or cannot be read, ends the chain with an entry carrying ``error``."""
    entry_off, expires_off, func_off, pprev_off = per_program(prog, "offsets", "timer_list", lambda: (
        offsetof(prog.type("struct timer_list"), "entry"), offsetof(prog.type("struct timer_list"), "expires"),
        offsetof(prog.type("struct timer_list"), "function"), offsetof(prog.type("struct hlist_node"), "pprev")))
    read = prog.read_word
    seen = 0
    while node:
        timer = node - entry_off
        try:
            pprev = read(node + pprev_off)
            expires = read(timer + expires_off)
            func = read(timer + func_off)
            nxt = read(node)
        except FaultError as e:
            yield WheelTimer(cpu, base, timer, None, None, f"unreadable: {e}")
            return
        if pprev != link:
            yield WheelTimer(cpu, base, timer, expires, func,
                             f"its pprev {pprev:#x} does not point back to {link:#x}: "
                             "the memory was freed and reused, or the link is damaged")
            return
        yield WheelTimer(cpu, base, timer, expires, func)
        seen += 1
        if seen > limit:
            yield WheelTimer(cpu, base, timer, None, None, f"bucket longer than {limit} timers")
            return
        link, node = node, nxt


def timer_delayed_work(prog: Program, timer: int) -> tuple[RawWork, int, int]:
    """The ``struct delayed_work`` that embeds the timer at ``timer``: (its work, ->wq, ->cpu)."""
    dw = prog.type("struct delayed_work")
    base = timer - offsetof(dw, "timer")
    d = record(prog, "struct delayed_work", {"data": "work.data", "func": "work.func", "wq": "wq", "cpu": "cpu"})
    v = d.read(base)
    return RawWork(base + offsetof(dw, "work"), v["data"], v["func"]), v["wq"], v["cpu"]


# ---- rcu_works waiting for a grace period

def for_each_rcu_callback(prog: Program, limit: int = 1_000_000) -> Iterator[tuple[int, int, int]]:
    """
    Every RCU callback still waiting on a CPU: (cpu, ``struct rcu_head *`` address, function).

    Callbacks are on each CPU's ``rcu_data.cblist``, and on its ``nocb_bypass``
    list where callbacks are offloaded (CONFIG_RCU_NOCB_CPU).
    """
    from drgn.helpers.linux.percpu import per_cpu

    head_t = prog.type("struct callback_head")
    next_off, func_off = offsetof(head_t, "next"), offsetof(head_t, "func")
    bypass = layout(prog).rcu_nocb_bypass
    for cpu in cpus(prog).possible:
        rd = per_cpu(prog["rcu_data"], cpu)
        lists = [rd.cblist.head.value_()]
        if bypass:
            lists.append(rd.nocb_bypass.head.value_())
        for node in lists:
            seen = set()
            while node:
                if node in seen or len(seen) >= limit:
                    raise WalkError(f"RCU callbacks of CPU {cpu}: a cycle or more than {limit}")
                seen.add(node)
                yield cpu, node, prog.read_word(node + func_off)
                node = prog.read_word(node + next_off)


def rcu_work_of(prog: Program, head: int) -> tuple[RawWork, int]:
    """The ``struct rcu_work`` whose ``rcu`` member is at ``head``: (its work, ->wq)."""
    rw = prog.type("struct rcu_work")
    base = head - offsetof(rw, "rcu")
    v = record(prog, "struct rcu_work", {"data": "work.data", "func": "work.func", "wq": "wq"}).read(base)
    return RawWork(base + offsetof(rw, "work"), v["data"], v["func"]), v["wq"]
