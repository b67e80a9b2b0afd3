# SPDX-License-Identifier: LGPL-2.1-or-later
"""The test bed's expectation checker accepts the captured scenario states and rejects doctored ones."""

import copy

import pytest

from testbed import scenarios
from wqinspect.views import data, models
from wqinspect.views.render import Options


def views(snap):
    o = Options()
    return scenarios.views_from_commands({
        "workqueues": data.doc(models.workqueues(snap, o)).dict(), "works": data.doc(models.works(snap, o)).dict(),
        "workers": data.doc(models.workers(snap, o)).dict(), "pools": data.doc(models.pools(snap, o)).dict(),
    })


@pytest.mark.parametrize("name", scenarios.ALL)
def test_captured_state_matches(name, scenarios_snap):
    assert scenarios.check(scenarios.load(name), views(scenarios_snap)) == []


def test_idle_kernel_has_no_scenario(idle_snap):
    errors = scenarios.check(scenarios.load("saturate"), views(idle_snap))
    assert errors == ["wqi_saturate: expected one workqueue of that name, found 0"]


def doctored(snap, fn):
    snap = copy.deepcopy(snap)
    fn(snap)
    return views(snap)


def test_wrong_color_is_caught(scenarios_snap):
    def recolor(s):
        w = next(w for w in s.works if w.wq_name == "wqi_flush" and w.where == "inactive")
        w.color = 0
    errors = scenarios.check(scenarios.load("flush"), doctored(scenarios_snap, recolor))
    assert len(errors) == 1 and "no inactive wqi_noop_fn" in errors[0] and "'color': 1" in errors[0]


def test_wrong_count_is_caught(scenarios_snap):
    def activate(s):
        s.workqueues_named("wqi_saturate")[0].pwqs[0].nr_active += 1
    errors = scenarios.check(scenarios.load("saturate"), doctored(scenarios_snap, activate))
    assert errors == ["wqi_saturate: active is 2, expected 1"]


def test_missing_barrier_waiter_is_caught(scenarios_snap):
    def forget(s):
        b = next(w for w in s.works if w.is_barrier and w.where == "scheduled")
        b.barrier.waiter = None
    errors = scenarios.check(scenarios.load("barrier"), doctored(scenarios_snap, forget))
    assert len(errors) == 1 and "barrier_waiter': 'wqi_flush_run'" in errors[0]


def test_extra_item_is_caught(scenarios_snap):
    def extra(s):
        w = next(w for w in s.works if w.wq_name == "wqi_ordered" and w.where == "inactive")
        s.works.append(copy.deepcopy(w))
    errors = scenarios.check(scenarios.load("ordered"), doctored(scenarios_snap, extra))
    assert errors and "5 work items, expected 4" in errors[-1]


def test_missing_rescuer_is_caught(scenarios_snap):
    def no_rescuer(s):
        s.workqueues_named("wqi_reclaim")[0].rescuer_pid = None
        for w in s.workers:
            w.rescuer_of = None
    errors = scenarios.check(scenarios.load("reclaim"), doctored(scenarios_snap, no_rescuer))
    assert "wqi_reclaim: rescuer pid is None, expected one" in errors
    assert any(e.startswith("no worker matches") for e in errors)


@pytest.mark.parametrize("name", ["stall", "rcu"])
def test_stall_phase_state_matches(name, suite):
    from .conftest import fixture_snapshot

    snap = fixture_snapshot(f"{suite}-stall")
    assert scenarios.check(scenarios.load(name), views(snap)) == []
