# SPDX-License-Identifier: LGPL-2.1-or-later
"""Work items: the ``work_struct->data`` word, lists of work items, delayed works.

Work lists can hold 100,000 items, so they are read with raw word reads at
offsets taken from the debug info, not member by member.
"""

from dataclasses import dataclass
from typing import Iterator

from drgn import FaultError, Object, Program, container_of, offsetof, sizeof
from drgn.helpers.linux.cpumask import for_each_possible_cpu
from drgn.helpers.linux.percpu import per_cpu

from .walk import LIMIT, WalkError, list_node_addresses


@dataclass(frozen=True)
class RawWork:
    address: int
    data: int
    func: int


def _work_offsets(prog: Program) -> tuple[int, int, int]:
    try:
        return prog.cache["wqinspect_work_offsets"]
    except KeyError:
        t = prog.type("struct work_struct")
        offs = (offsetof(t, "data"), offsetof(t, "entry"), offsetof(t, "func"))
        prog.cache["wqinspect_work_offsets"] = offs
        return offs


def read_work(prog: Program, address: int) -> RawWork:
    """Read a ``struct work_struct`` at ``address``."""
    data_off, _, func_off = _work_offsets(prog)
    return RawWork(address, prog.read_word(address + data_off), prog.read_word(address + func_off))


def work_list(prog: Program, head: int, limit: int = LIMIT) -> Iterator[RawWork]:
    """
    The work items on a list linked through ``work_struct->entry``: a pool's
    worklist, a pwq's inactive_works or a worker's scheduled list.

    :param head: address of the ``struct list_head``
    """
    _, entry_off, _ = _work_offsets(prog)
    for node in list_node_addresses(prog, head, limit):
        yield read_work(prog, node - entry_off)


def barrier_waiter(work: Object) -> Object:
    """
    The task waiting in flush_work() on a barrier item.

    :param work: ``struct work_struct *`` whose func is ``wq_barrier_func``
    :return: ``struct task_struct *``
    """
    return container_of(work, "struct wq_barrier", "work").task


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
    tl = prog.type("struct timer_list")
    entry_off = offsetof(tl, "entry")
    expires_off = offsetof(tl, "expires")
    func_off = offsetof(tl, "function")
    word = sizeof(prog.type("void *"))
    pprev_off = offsetof(prog.type("struct hlist_node"), "pprev")
    for cpu in for_each_possible_cpu(prog):
        bases = per_cpu(prog["timer_bases"], cpu)
        for b in range(len(bases)):
            vectors = bases[b].vectors
            n = len(vectors)
            raw = prog.read(vectors.address_, n * word)
            for i in range(n):
                link = vectors.address_ + i * word  # the hlist_head, then each node's next field
                node = int.from_bytes(raw[i * word:(i + 1) * word], "little")
                seen = 0
                while node:
                    timer = node - entry_off
                    try:
                        pprev = prog.read_word(node + pprev_off)
                        expires = prog.read_word(timer + expires_off)
                        func = prog.read_word(timer + func_off)
                        nxt = prog.read_word(node)
                    except FaultError as e:
                        yield WheelTimer(cpu, b, timer, None, None, f"unreadable: {e}")
                        break
                    if pprev != link:
                        yield WheelTimer(cpu, b, timer, expires, func,
                                         f"its pprev {pprev:#x} does not point back to {link:#x}: "
                                         "the memory was freed and reused")
                        break
                    yield WheelTimer(cpu, b, timer, expires, func)
                    seen += 1
                    if seen > limit:
                        yield WheelTimer(cpu, b, timer, None, None, f"bucket longer than {limit} timers")
                        break
                    link, node = node, nxt


def timer_delayed_work(prog: Program, timer: int) -> Object:
    """:return: the ``struct delayed_work *`` that embeds the timer at ``timer``."""
    return container_of(Object(prog, "struct timer_list *", timer), "struct delayed_work", "timer")




# ---- rcu_works waiting for a grace period

def for_each_rcu_callback(prog: Program, limit: int = 1_000_000) -> Iterator[tuple[int, int, int]]:
    """
    Every RCU callback still waiting on a CPU: (cpu, ``struct rcu_head *`` address, function).

    Callbacks are on each CPU's ``rcu_data.cblist``, and on its ``nocb_bypass``
    list where callbacks are offloaded (CONFIG_RCU_NOCB_CPU).
    """
    head_t = prog.type("struct callback_head")
    next_off, func_off = offsetof(head_t, "next"), offsetof(head_t, "func")
    for cpu in for_each_possible_cpu(prog):
        rd = per_cpu(prog["rcu_data"], cpu)
        lists = [rd.cblist.head.value_()]
        if rd.type_.has_member("nocb_bypass"):
            lists.append(rd.nocb_bypass.head.value_())
        for node in lists:
            seen = set()
            while node:
                if node in seen or len(seen) >= limit:
                    raise WalkError(f"RCU callbacks of CPU {cpu}: a cycle or more than {limit}")
                seen.add(node)
                yield cpu, node, prog.read_word(node + func_off)
                node = prog.read_word(node + next_off)


def rcu_work_of(prog: Program, head: int) -> Object:
    """:return: the ``struct rcu_work *`` whose ``rcu`` member is at ``head``."""
    return container_of(Object(prog, "struct callback_head *", head), "struct rcu_work", "rcu")
