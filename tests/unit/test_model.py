# SPDX-License-Identifier: LGPL-2.1-or-later
"""The reference model: specific behaviours of the kernel's algorithm, and random operation sequences
after each of which every invariant holds."""

import dataclasses

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from wqinspect.model import invariants
from wqinspect.model.export import to_snapshot
from wqinspect.model.features import Features
from wqinspect.model.machine import Machine, ModelError

V7 = Features()
#: v6.6 to v6.8: per-cpu pwqs for unbound workqueues, limits still per pwq.
V66 = dataclasses.replace(V7, wq_max_active=False, node_nr_active=False, implicit_ordered=True, bh=False,
                          max_active_limit=512, dfl_active=256, dfl_min_active=None)
#: v6.1: no cpu_pwq for unbound workqueues, limits per pwq, implicit ordering.
V61 = dataclasses.replace(V66, unbound_pwq_per_cpu=False, max_unbound_per_cpu=4,
                          wq_flag_names=V7.wq_flag_names - {"WQ_BH", "WQ_PERCPU"} | {"__WQ_ORDERED_EXPLICIT"})
#: v5.10: before v5.15 barriers are uncolored (WORK_NO_COLOR, 15 colors) and a running item's color
#: is not recorded (no worker->current_color).
V510 = dataclasses.replace(V61, nr_colors=15, no_color=15, running_color=False)
ALL = {"v5.10": V510, "v6.1": V61, "v6.6": V66, "v7": V7}


def holds(m: Machine):
    bad = [r for r in invariants.evaluate(to_snapshot(m)) if not r.ok]
    assert bad == [], [str(r) for r in bad]


def where(m: Machine, name: str):
    return m.works[name].where


@pytest.mark.parametrize("f", ALL.values(), ids=ALL)
def test_max_active_and_fifo_activation(f):
    m = Machine(f)
    m.alloc_workqueue("w", [], 2)
    m.queue_work_on(0, "w", "a", "fa", "blocks")
    m.queue_work_on(0, "w", "b", "fb", "blocks")
    m.queue_work_on(0, "w", "c", "fc", "returns")
    m.queue_work_on(0, "w", "d", "fd", "returns")
    pwq = m.wqs["w"].cpu_pwq[0]
    assert pwq.nr_active == 2 and [w.name for w in pwq.inactive_works] == ["c", "d"]
    holds(m)
    m.release("a")  # frees a slot: c is activated first, runs, then d
    assert pwq.nr_active == 1 and pwq.inactive_works == [] and pwq.nr_in_flight[0] == 1
    holds(m)


def test_implicit_ordering_only_before_v69():
    assert "__WQ_ORDERED" in Machine(V61).alloc_workqueue("u", ["WQ_UNBOUND"], 1).flags
    assert "__WQ_ORDERED" not in Machine(V7).alloc_workqueue("u", ["WQ_UNBOUND"], 1).flags


def test_default_and_clamped_limits():
    assert Machine(V61).alloc_workqueue("u", ["WQ_UNBOUND"], 0).max_active == 256
    assert Machine(V61).alloc_workqueue("u", ["WQ_UNBOUND"], 9999).max_active == 512
    m = Machine(V7)
    wq = m.alloc_workqueue("p", ["WQ_PERCPU"], 0)
    assert (wq.max_active, wq.min_active) == (1024, 8)
    assert m.alloc_workqueue("b", ["WQ_BH"], 0).max_active == 2**31 - 1


def test_node_limit_is_shared_and_round_robin():
    """v6.9+: an unbound workqueue's max_active is per node, across its per-cpu pwqs."""
    m = Machine(V7)
    m.alloc_workqueue("u", ["WQ_UNBOUND"], 1)
    m.queue_work_on(0, "u", "blk", "f", "blocks")
    m.queue_work_on(1, "u", "a", "f", "blocks")
    m.queue_work_on(0, "u", "b", "f", "blocks")
    wq = m.wqs["u"]
    p0, p1 = wq.cpu_pwq[0], wq.cpu_pwq[1]
    nna = m._nna(p0)
    assert nna.nr == 1 and nna.pending == [p1, p0]
    holds(m)
    m.release("blk")  # the first pending pwq (cpu 1) gets the slot
    assert where(m, "a") is None and m.find_worker_executing_work(p1.pool, m.works["a"]) is not None
    assert nna.pending == [p0] and p0.inactive_works[0].name == "b"
    holds(m)


def test_flush_colors_and_overflow():
    """Fifteen flushers take the fifteen free colors; the sixteenth waits in the overflow list."""
    m = Machine(V7)
    m.alloc_workqueue("w", ["WQ_PERCPU"], 1)
    m.queue_work_on(0, "w", "blk", "f", "blocks")
    for i in range(16):
        m.flush_workqueue("w", f"flusher{i}")
        m.queue_work_on(0, "w", f"x{i}", "g", "returns")
        holds(m)
    wq = m.wqs["w"]
    assert wq.first_flusher.task == "flusher0" and len(wq.flusher_queue) == 14 and len(wq.flusher_overflow) == 1
    assert (wq.work_color + 1) % 16 == wq.flush_color
    m.release("blk")
    assert m.blocked == {} and wq.first_flusher is None and wq.flusher_overflow == []
    assert wq.flush_color == wq.work_color
    holds(m)


def test_overflow_flushers_share_the_color_that_frees_up():
    """flush_workqueue() moves every overflow flusher to the queue with one color: all hold."""
    m = Machine(V7)
    m.alloc_workqueue("w", ["WQ_PERCPU"], 0)
    for i in range(15):  # one item in flight per color, a flusher waiting on each
        m.queue_work_on(0, "w", f"a{i}", "f", "blocks")
        m.flush_workqueue("w", f"t{i}")
    m.flush_workqueue("w", "o1")
    m.flush_workqueue("w", "o2")
    wq = m.wqs["w"]
    assert [f.task for f in wq.flusher_overflow] == ["o1", "o2"]
    m.release("a0")
    colors = [f.flush_color for f in wq.flusher_queue]
    assert colors[-2] == colors[-1] and wq.flusher_overflow == []
    holds(m)


def test_flush_with_nothing_in_flight_returns_at_once():
    m = Machine(V61)
    m.alloc_workqueue("w", [], 1)
    m.flush_workqueue("w", "t")
    assert m.blocked == {} and m.wqs["w"].work_color == m.wqs["w"].flush_color == 1


@pytest.mark.parametrize("f", ALL.values(), ids=ALL)
def test_barriers(f):
    m = Machine(f)
    m.alloc_workqueue("w", [], 1)
    m.queue_work_on(0, "w", "blk", "f", "blocks")
    m.queue_work_on(0, "w", "x", "g", "returns")
    assert m.flush_work("blk", "t1") and m.flush_work("x", "t2")
    worker = m.find_worker_executing_work(m.wqs["w"].cpu_pwq[0].pool, m.works["blk"])
    assert [w.waiter for w in worker.scheduled] == ["t1"]
    assert [w.name for w in m.wqs["w"].cpu_pwq[0].inactive_works] == ["x", "barrier:t2"]
    assert m.works["x"].linked
    holds(m)
    m.release("blk")
    assert m.blocked == {}
    holds(m)
    assert not m.flush_work("x", "t3")  # nothing queued or running: nothing to wait for


def test_uncolored_barriers_and_unknown_running_color_before_v515():
    m = Machine(V510)
    m.alloc_workqueue("w", [], 1)
    m.queue_work_on(0, "w", "blk", "f", "blocks")
    m.queue_work_on(0, "w", "x", "g", "returns")
    assert m.flush_work("blk", "t1") and m.flush_work("x", "t2")
    pwq = m.wqs["w"].cpu_pwq[0]
    barriers = [w for w in m.works.values() if w.is_barrier]
    assert [(b.color, b.inactive) for b in barriers] == [(15, False), (15, False)]
    assert pwq.nr_in_flight[0] == 2 and pwq.nr_active == 1  # barriers count in neither
    snap = to_snapshot(m)
    p = next(p for wq in snap.workqueues if wq.name == "w" for p in wq.pwqs if p.address == pwq.address)
    assert p.refcnt == p.slots + 2 + 2  # insert_work() still takes a reference for each barrier
    assert [w.color for w in snap.works if w.where == "running"] == [None]
    holds(m)
    # The running item of unknown color explains one item in flight, not two.
    p.nr_in_flight[0] += 1
    assert [r.check for r in invariants.evaluate(snap) if not r.ok] == ["in_flight.count"]
    m.release("blk")
    assert m.blocked == {} and pwq.nr_in_flight[0] == 0
    holds(m)


def test_cancel_sends_linked_barriers_to_the_worklist():
    m = Machine(V7)
    m.alloc_workqueue("w", ["WQ_PERCPU"], 1)
    m.queue_work_on(0, "w", "blk", "f", "blocks")
    m.queue_work_on(0, "w", "x", "g", "returns")
    m.flush_work("x", "t")
    assert m.cancel_work("x")
    assert "t" not in m.blocked  # its barrier ran
    assert m.wqs["w"].cpu_pwq[0].inactive_works == [] and not m.works["x"].pending
    holds(m)


def test_requeue_while_running_goes_to_the_running_worker():
    m = Machine(V61)
    m.alloc_workqueue("w", [], 2)
    m.queue_work_on(0, "w", "a", "f", "blocks")
    m.queue_work_on(0, "w", "a", "f", "blocks")
    a = m.works["a"]
    assert a.where == "scheduled" and a.holder.current is a
    holds(m)


def test_requeue_with_another_function_is_a_new_item():
    """find_worker_executing_work() matches current_func too: with another function the work runs
    again on a second worker, concurrently."""
    m = Machine(V7)
    m.alloc_workqueue("w", ["WQ_PERCPU"], 0)
    m.queue_work_on(0, "w", "a", "f1", "blocks")
    m.queue_work_on(0, "w", "a", "f2", "blocks")
    runners = [w for p in m.pools for w in p.workers if w.current is m.works["a"]]
    assert sorted(w.current_func for w in runners) == ["f1", "f2"] and m.works["a"].where is None
    holds(m)


def test_requeue_on_another_cpu_follows_the_running_instance():
    """Non-reentrancy: queued from CPU 1 while running on CPU 0, it goes to CPU 0's pwq."""
    m = Machine(V7)
    m.alloc_workqueue("w", ["WQ_PERCPU"], 0)
    m.queue_work_on(0, "w", "a", "f", "blocks")
    m.queue_work_on(1, "w", "a", "f", "blocks")
    assert m.works["a"].where == "scheduled" and m.works["a"].holder.pool.cpu == 0


def test_spinning_item_holds_its_cpu():
    m = Machine(V7)
    m.alloc_workqueue("w", ["WQ_PERCPU"], 0)
    m.queue_work_on(1, "w", "hog", "h", "spins")
    m.queue_work_on(1, "w", "small", "s", "returns")
    assert where(m, "small") == "worklist"
    snap = to_snapshot(m)
    pool = next(p for p in snap.pools if p.cpu == 1 and p.kind == "cpu")
    assert pool.nr_running == 1 and pool.worklist_len == 1
    holds(m)
    m.release("hog")
    assert where(m, "small") is None


def test_ordered_attrs_change_plugs_the_new_pwq():
    """v6.9+: items queued after an attribute change wait (plugged) until the old pwq drains."""
    m = Machine(V7)
    m.alloc_ordered_workqueue("o")
    m.queue_work_on(0, "o", "old", "f", "blocks")
    old = m.wqs["o"].dfl_pwq
    m.apply_attrs("o")
    new = m.wqs["o"].dfl_pwq
    m.queue_work_on(1, "o", "next", "g", "returns")
    assert new is not old and new.plugged and [w.name for w in new.inactive_works] == ["next"]
    assert m.wqs["o"].pwqs == [old, new]
    holds(m)
    m.release("old")
    assert m.wqs["o"].pwqs == [new] and not new.plugged and m.works["next"].where is None
    holds(m)
    m61 = Machine(V61)
    m61.alloc_ordered_workqueue("o")
    with pytest.raises(ModelError, match="ordered"):  # before v6.9 the kernel refuses the change
        m61.apply_attrs("o")


def test_watchdog_rule():
    from wqinspect.model.watchdog import check_pool

    hz, now = 250, 1000
    v = check_pool(now, now - 31 * hz, None, 30, hz)
    assert v.fires and v.seconds == 31
    assert not check_pool(now, now - 31 * hz, now - hz, 30, hz).fires  # touched 1 s ago
    assert check_pool(now, now - 29 * hz, None, 30, hz).until == hz
    wrapped = check_pool(5, (1 << 64) - 40 * hz + 5, None, 30, hz)  # progress stamped before jiffies wrapped
    assert wrapped.fires and wrapped.seconds == 40
    assert not check_pool(now, 0, None, 0, hz).fires  # threshold 0 disables the watchdog


def test_rcu_work_waits_for_a_grace_period():
    m = Machine(V7)
    m.alloc_workqueue("w", ["WQ_PERCPU"], 0)
    assert m.queue_rcu_work("w", "r", "f") and not m.queue_rcu_work("w", "r", "f")
    assert where(m, "r") == "rcu" and not m.cancel_work("r")
    holds(m)
    m.rcu_grace_period()
    assert where(m, "r") is None and not m.works["r"].pending


def test_delayed_work():
    m = Machine(V7)
    m.alloc_workqueue("w", ["WQ_UNBOUND"], 0)
    m.queue_delayed_work_on(None, "w", "d", "f", 60)
    assert where(m, "d") == "delayed" and m.works["d"].pending
    assert m.queue_delayed_work_on(None, "w", "d", "f", 60) == [False]
    m.fire_timer("d")
    assert where(m, "d") is None and not m.works["d"].pending


# ---- random operation sequences

WORKS = [f"w{i}" for i in range(6)]


class RandomOps(RuleBasedStateMachine):
    @initialize(kernel=st.sampled_from(sorted(ALL)))
    def setup(self, kernel):
        self.m = Machine(ALL[kernel])
        self.m.alloc_workqueue("pc1", [], 1)
        self.m.alloc_workqueue("pc3", [], 3)
        self.m.alloc_workqueue("ub1", ["WQ_UNBOUND"], 1)
        self.m.alloc_workqueue("ub2", ["WQ_UNBOUND"], 2)
        self.m.alloc_ordered_workqueue("ord")
        self.wqs = ["pc1", "pc3", "ub1", "ub2", "ord"]
        self.tasks = 0

    @rule(wq=st.integers(0, 4), work=st.sampled_from(WORKS), cpu=st.integers(0, 1),
          behaviour=st.sampled_from(["returns", "blocks", "blocks", "spins"]))
    def queue(self, wq, work, cpu, behaviour):
        self.m.queue_work_on(cpu, self.wqs[wq], work, f"fn_{behaviour}", behaviour)

    @rule(work=st.sampled_from(WORKS))
    def release(self, work):
        if work in self.m.works:
            self.m.release(work)

    @rule(wq=st.integers(0, 4))
    def flush_workqueue(self, wq):
        self.tasks += 1
        self.m.flush_workqueue(self.wqs[wq], f"flusher{self.tasks}")

    @rule(work=st.sampled_from(WORKS))
    def flush_work(self, work):
        if work in self.m.works:
            self.tasks += 1
            self.m.flush_work(work, f"waiter{self.tasks}")

    @rule(work=st.sampled_from(WORKS))
    def cancel(self, work):
        if work in self.m.works:
            self.m.cancel_work(work)

    @rule(wq=st.integers(0, 4), work=st.sampled_from(WORKS), cpu=st.sampled_from([None, 0, 1]))
    def queue_delayed(self, wq, work, cpu):
        self.m.queue_delayed_work_on(cpu, self.wqs[wq], work, "fn_delayed", 10)

    @rule(wq=st.integers(0, 4), work=st.sampled_from(WORKS))
    def queue_rcu(self, wq, work):
        self.m.queue_rcu_work(self.wqs[wq], work, "fn_rcu")

    @rule()
    def grace_period(self):
        self.m.rcu_grace_period()

    @precondition(lambda self: self.m.f.wq_max_active)
    @rule()
    def change_ordered_attrs(self):
        self.m.apply_attrs("ord")

    @precondition(lambda self: any(w.where == "delayed" for w in self.m.works.values()))
    @rule(data=st.data())
    def fire(self, data):
        name = data.draw(st.sampled_from(sorted(n for n, w in self.m.works.items() if w.where == "delayed")))
        self.m.fire_timer(name)

    @invariant()
    def every_invariant_holds(self):
        holds(self.m)

    @invariant()
    def blocked_tasks_wait_for_something_in_flight(self):
        # A task blocked in a flush waits for a barrier still queued or a flusher not yet done.
        for task, what in self.m.blocked.items():
            assert getattr(what, "where", None) is not None or getattr(what, "done", None) is False, task


RandomOps.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
test_random_operations = RandomOps.TestCase


def test_jiffies_to_msecs_is_the_kernels():
    from wqinspect.snapshot import jiffies_to_msecs

    assert jiffies_to_msecs(1250, 250) == 5000                  # HZ divides 1000: exact
    assert jiffies_to_msecs(1, 300) == 4                        # else rounded up (DIV_ROUND_UP)
    assert jiffies_to_msecs(1 << 30, 250) == 0                  # an unsigned int: 2^32 ms wraps to 0
    assert jiffies_to_msecs(-1, 250) == 0xFFFFFFFC              # of an unsigned long
