# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every invariant holds on real kernels' snapshots, and each is caught alone by a one-field doctoring."""

import copy

import pytest
from click.testing import CliRunner

from wqinspect import check as checks
from wqinspect.cli import main
from wqinspect.model import invariants
from wqinspect.snapshot import Flusher, ReadWarning

from .conftest import SNAPSHOTS, fixture_snapshot


def failing(snap):
    return [r for r in invariants.evaluate(snap) if not r.ok]


def test_real_kernels_hold_every_invariant(scenarios_snap, idle_snap):
    assert failing(scenarios_snap) == []
    assert failing(idle_snap) == []


def test_every_check_looks_at_something(suite):
    """Each check examines at least one object across the captured states (no vacuous checks)."""
    seen = set()
    for name in ("scenarios", "idle"):
        seen |= {r.check for r in invariants.evaluate(fixture_snapshot(f"{suite}-{name}"))}
    unused = set(invariants.CHECKS) - seen - {"flush.overflow", "mayday.rescuer"}  # only when they occur
    if suite == "bookworm":
        unused -= {"node.nr_sum"}  # per-node counters came in v6.9
    assert unused == set()


def wq(snap, name):
    return snap.workqueues_named(name)[0]


def pwq_cpu(snap, name, cpu):
    return next(p for p in wq(snap, name).pwqs if cpu in p.cpus)


def item(snap, wq_name, where, n=0):
    return [w for w in snap.works if w.wq_name == wq_name and w.where == where][n]


def pool_of(snap, kind, cpu):
    return next(p for p in snap.pools if p.kind == kind and p.cpu == cpu)


def idle_worker(snap):
    pool = pool_of(snap, "cpu", 0)
    return snap.worker(pool.idle[0])


def add_stray_item(s):
    """A copy of a queued item, in the same pool, whose data word names a pwq no workqueue has."""
    stray = copy.deepcopy(item(s, "wqi_flush", "worklist") if any(
        w.where == "worklist" and w.wq_name == "wqi_flush" for w in s.works) else item(s, "wqi_barrier", "scheduled"))
    stray.address, stray.pwq, stray.barrier = 0xdead000, 0xbad0000, None
    s.works = s.works + [stray]


def add_overflow(s):
    wq(s, "wqi_flush").flusher_overflow.append(Flusher(0x1234, -1, "overflow"))


# check name -> (doctoring, text the failure's "expected" must contain)
DOCTORINGS = {
    "colors.range": (lambda s: setattr(wq(s, "wqi_barrier"), "work_color", 16), "colors in 0..15"),
    "colors.pwq_work_color": (lambda s: setattr(pwq_cpu(s, "wqi_barrier", 1), "work_color", 3), "0"),
    "colors.pwq_flush_color": (lambda s: setattr(pwq_cpu(s, "wqi_flush", 0), "flush_color", 5), "-1 or 0"),
    "colors.window": (lambda s: pwq_cpu(s, "wqi_barrier", 1).nr_in_flight.__setitem__(5, 1),
                      "nr_in_flight only in colors [0]"),
    "flush.idle": (lambda s: setattr(wq(s, "wqi_barrier"), "nr_pwqs_to_flush", 1), "nr_pwqs_to_flush 0"),
    "flush.nr_pwqs_to_flush": (lambda s: setattr(wq(s, "wqi_flush"), "nr_pwqs_to_flush", 2), "1"),
    "flush.flusher_colors": (lambda s: setattr(wq(s, "wqi_flush").first_flusher, "flush_color", 1), "first 0"),
    "flush.overflow": (add_overflow, "flush_color 2"),
    "in_flight.count": (lambda s: setattr(item(s, "wqi_flush", "inactive"), "color", 0), "items by color c0:2, c1:1"),
    "nr_active.count": (lambda s: setattr(pwq_cpu(s, "wqi_flush", 0), "nr_active", 2), "nr_active 1"),
    "inactive.flag": (lambda s: item(s, "wqi_saturate", "inactive").flag_names.remove("INACTIVE"), "INACTIVE set"),
    "inactive.activation": (lambda s: setattr(wq(s, "wqi_flush"), "max_active", 5),
                            "2 inactive only if nr_active 1 >= max_active 5"),
    "node.nr_sum": (lambda s: setattr(wq(s, "wqi_delayed_unbound").node_nr_active[0], "nr", 1), "nr 0"),
    "pwq.refcnt": (lambda s: setattr(pwq_cpu(s, "wqi_barrier", 0), "refcnt", 2), ">= 5 (1 slots, 4 items"),
    "pool.nr_idle": (lambda s: setattr(pool_of(s, "cpu", 0), "nr_idle", 7), "nr_idle"),
    "pool.idle_flags": (lambda s: idle_worker(s).flag_names.remove("WORKER_IDLE"),
                        "idle list = workers with WORKER_IDLE"),
    "pool.nr_workers": (lambda s: setattr(pool_of(s, "cpu", 1), "nr_workers", 99), "nr_workers"),
    "pool.nr_running": (lambda s: setattr(pool_of(s, "cpu", 1), "nr_running", pool_of(s, "cpu", 1).nr_running + 3),
                        lambda s: f"nr_running {pool_of(s, 'cpu', 1).nr_running}"),
    "worker.busy": (lambda s: pool_of(s, "cpu", 0).busy.pop(), "busy_hash = workers running an item"),
    "mayday.rescuer": (lambda s: wq(s, "wqi_flush").maydays.append(pwq_cpu(s, "wqi_flush", 0).address),
                       "WQ_MEM_RECLAIM and a rescuer"),
    "barrier.waiter": (lambda s: setattr(item(s, "wqi_barrier", "scheduled").barrier, "waiter", None),
                       "a waiting task"),
    "works.pwq": (add_stray_item, "a pwq on a workqueue's pwqs list"),
    "read.complete": (lambda s: s.warnings.append(ReadWarning("pool 3 worklist", "FaultError: could not read")),
                      "read without warnings"),
}


def test_every_check_has_a_doctoring():
    assert set(DOCTORINGS) == set(invariants.CHECKS)


@pytest.mark.parametrize("name", sorted(DOCTORINGS))
def test_doctored_field_is_caught_by_exactly_its_check(name):
    snap = copy.deepcopy(fixture_snapshot("trixie-scenarios"))
    doctor, expected = DOCTORINGS[name]
    if callable(expected):
        expected = expected(snap)  # what the undoctored snapshot says
    doctor(snap)
    bad = failing(snap)
    assert {r.check for r in bad} == {name}, [str(r) for r in bad]
    assert any(expected in r.expected for r in bad), [r.expected for r in bad]


def test_unknown_pwq_after_an_incomplete_read_is_read_complete_s_business():
    """An item naming a pwq that a faulted read may have missed is not judged on its own: read.complete
    fails on the warning, once, not works.pwq once per item."""
    snap = copy.deepcopy(fixture_snapshot("trixie-scenarios"))
    add_stray_item(snap)
    snap.warnings.append(ReadWarning("workqueues", "FaultError: could not read memory (read 40 entries)"))
    assert [r.check for r in failing(snap)] == ["read.complete"]


def test_activation_with_per_pwq_limits():
    """Up to v6.8 the limit is pwq->max_active."""
    snap = copy.deepcopy(fixture_snapshot("bookworm-scenarios"))
    pwq_cpu(snap, "wqi_flush", 0).max_active = 4
    bad = failing(snap)
    assert [r.check for r in bad] == ["inactive.activation"]
    assert "nr_active 1 >= max_active 4" in bad[0].expected


def test_running_item_that_requeued_itself_as_inactive_still_counts_as_active(suite):
    """The ordered work running on a real kernel queues itself again while three items wait.

    __queue_work() then puts it on the inactive list with INACTIVE set in the word the running
    copy shares; process_one_work() still accounts the running copy with the word it saved at
    its start, so nr_active stays 1 and every invariant must keep holding.
    """
    snap = copy.deepcopy(fixture_snapshot(f"{suite}-scenarios"))
    run = item(snap, "wqi_ordered", "running")
    p = next(p for p in wq(snap, "wqi_ordered").pwqs if p.address == run.pwq)
    waiting = [w for w in snap.works if w.where == "inactive" and w.pwq == p.address]
    again = copy.deepcopy(waiting[-1])
    again.address, again.position = run.address, again.position + 1
    run.data, run.flag_names = again.data, list(again.flag_names)  # the word as it is now
    snap.works.append(again)
    p.nr_in_flight[again.color] += 1
    p.refcnt += 1
    p.nr_inactive += 1
    assert "INACTIVE" in run.flag_names and p.nr_active == 1
    assert failing(snap) == []


def test_unbound_activation_is_the_pending_queue(suite):
    """v6.9+: the saturated unbound pwq waits on its node's pending_pwqs; a raised max (CPU hotplug
    raises it without activating) leaves nr below max, which is legal; leaving the queue is not."""
    snap = copy.deepcopy(fixture_snapshot(f"{suite}-scenarios"))
    w = wq(snap, "wqi_saturate")
    if not w.node_nr_active:
        pytest.skip("per-node counters came in v6.9")
    p = next(p for p in w.pwqs if p.nr_inactive)
    n = next(n for n in w.node_nr_active if p.address in n.pending_pwqs)
    n.max += 3
    assert failing(snap) == []
    n.pending_pwqs.remove(p.address)
    bad = failing(snap)
    assert [r.check for r in bad] == ["inactive.activation"] and "pending_pwqs" in bad[0].expected


def test_scenario_prediction_mismatch_is_caught():
    snap = copy.deepcopy(fixture_snapshot("sid-scenarios"))
    item(snap, "wqi_ordered", "inactive", 2).func.name = "something_else"
    scenario = checks.load_scenario("fixtures/scenarios/ordered.json")
    results = checks.evaluate(snap, [scenario])
    bad = [r for r in results if not r.ok]
    assert {r.check for r in bad} == {"scenario.ordered"}
    assert any("something_else" in r.found for r in bad)


def test_check_command_exit_codes(tmp_path):
    ok = CliRunner().invoke(main, ["check", "--from", str(SNAPSHOTS / "trixie-scenarios.json")])
    assert ok.exit_code == 0 and "every invariant holds" in ok.output
    snap = copy.deepcopy(fixture_snapshot("trixie-scenarios"))
    pwq_cpu(snap, "wqi_flush", 0).nr_active = 2
    f = tmp_path / "bad.json"
    f.write_text(snap.dumps())
    bad = CliRunner().invoke(main, ["check", "--from", str(f)])
    assert bad.exit_code == 1 and "nr_active.count" in bad.output and "violated" in bad.output
    js = CliRunner().invoke(main, ["check", "--json", "--from", str(f)])
    import json
    out = json.loads(js.output)
    assert js.exit_code == 1 and out["ok"] is False
    assert out["results"] == [{"check": "nr_active.count", "object": out["results"][0]["object"],
                               "expected": "nr_active 1", "found": "nr_active 2", "verdict": "violated"}]


def test_transient_violations_are_told_apart():
    """On a live target a violation that a re-read no longer shows is transient, and does not fail."""
    good = fixture_snapshot("trixie-scenarios")
    bad = copy.deepcopy(good)
    bad.target.live = True
    pwq_cpu(bad, "wqi_flush", 0).nr_active = 2
    report = checks.run(bad, reread=lambda: good, pause=0)
    assert report.violated == [] and [r.check for r in report.transient] == ["nr_active.count"]
    assert report.reads == 2
    lasting = checks.run(bad, reread=lambda: bad, pause=0)
    assert [r.check for r in lasting.violated] == ["nr_active.count"] and lasting.reads == 3


def test_check_is_not_ok_over_what_it_could_not_read(tmp_path):
    """A read warning about an object the checks cover fails read.complete; one about a deep-capture
    extra (the log, stacks, modules) does not; an implausible value counts as unread (issue 14.3)."""
    import json

    def run(snap):
        f = tmp_path / "snap.json"
        f.write_text(snap.dumps())
        r = CliRunner().invoke(main, ["check", "--json", "--from", str(f)])
        return r.exit_code, json.loads(r.output)

    snap = copy.deepcopy(fixture_snapshot("trixie-scenarios"))
    snap.warnings.append(ReadWarning("kernel log", "FaultError: could not read the printk ring buffer"))
    rc, out = run(snap)
    assert rc == 0 and out["ok"] is True and len(out["warnings"]) == 1
    snap.warnings.append(ReadWarning("pool 2 worklist", "FaultError: could not read memory at 0x10"))
    rc, out = run(snap)
    assert rc == 1 and out["ok"] is False
    assert out["results"] == [{"check": "read.complete", "object": "pool 2 worklist",
                               "expected": "read without warnings",
                               "found": "FaultError: could not read memory at 0x10", "verdict": "violated"}]
    snap = copy.deepcopy(fixture_snapshot("trixie-scenarios"))
    pool_of(snap, "cpu", 1).nice = -7
    rc, out = run(snap)
    assert rc == 1 and [(r["check"], r["object"]) for r in out["results"]] == [
        ("read.complete", f"pool {pool_of(snap, 'cpu', 1).id}")]


def test_read_warning_objects():
    assert invariants.covered("pool 3 worklist") and invariants.covered("workqueue events pwqs")
    assert invariants.covered("worker_pool_idr") and invariants.covered("something new")
    assert not invariants.covered("kernel log") and not invariants.covered("modules")
    assert not invariants.covered("cpu 1") and not invariants.covered("RCU callbacks")


def test_result_text_made_when_read():
    made = []

    def label():
        made.append(1)
        return "pwq 0x10"

    r = invariants.Result("nr_active.count", label, "nr_active 1", "nr_active 2", False)
    assert not made and r.verdict == "violated" and r.check == "nr_active.count"
    assert r.object == "pwq 0x10" and r.key == ("nr_active.count", "pwq 0x10") and made == [1]
    assert r.object == "pwq 0x10" and made == [1]  # made once
    assert r == invariants.Result("nr_active.count", "pwq 0x10", "nr_active 1", "nr_active 2", False)
    assert r != invariants.Result("nr_active.count", "pwq 0x10", "nr_active 1", "nr_active 3", False)
    assert "found='nr_active 2'" in repr(r)
    r.verdict = "transient"
    assert r.verdict == "transient"


@pytest.mark.parametrize("keep_ok", [True, False])
def test_check_without_all_keeps_only_what_fails_and_counts_the_rest(keep_ok):
    """``check`` without --all keeps the failing results only, and counts every result by check: the same
    summary, the same violations and the same count as when every result is kept, on a doctored state."""
    good = fixture_snapshot("trixie-scenarios")
    bad = copy.deepcopy(good)
    pwq_cpu(bad, "wqi_flush", 0).nr_active = 2
    everything = checks.run(bad)
    report = checks.run(bad, keep_ok=keep_ok)
    assert report.summary() == everything.summary()
    assert [r.key for r in report.violated] == [r.key for r in everything.violated] != []
    assert report.checked == len(everything.results) > 100
    assert len(report.results) == (len(everything.results) if keep_ok else len(everything.violated))


def test_checks_that_count_what_holds_count_and_report_as_every_result_does():
    """Without --all the checks of every pwq and item count the objects that hold instead of making their
    results: on a state doctored to break each of them, the same violations and the same count by check."""
    from collections import Counter

    bad = copy.deepcopy(fixture_snapshot("trixie-scenarios"))
    n = bad.kernel.features.nr_colors
    idle = [(w, p) for w in bad.workqueues for p in w.pwqs if not any(p.nr_in_flight)]
    (w0, p0), (w1, p1), (_, p2), (_, p3), (_, p4) = idle[:5]
    p0.work_color = (w0.work_color + 1) % n  # colors.pwq_work_color
    p1.flush_color = (w1.flush_color + 1) % n  # colors.pwq_flush_color
    p2.nr_in_flight = [1] * n  # colors.window, in_flight.count
    p3.nr_active = 7  # nr_active.count
    p4.refcnt = 0  # pwq.refcnt
    inactive = next(x for x in bad.works if x.where == "inactive")
    inactive.flag_names = [f for f in inactive.flag_names if f != "INACTIVE"]  # inactive.flag
    counts = Counter()
    kept = invariants.evaluate(bad, counts=counts)
    everything = invariants.evaluate(bad)
    assert counts == Counter(r.check for r in everything)
    assert [(r.check, r.object) for r in kept] == [(r.check, r.object) for r in everything if not r.ok]
    assert {r.check for r in kept} >= {"colors.pwq_work_color", "colors.pwq_flush_color", "colors.window",
                                       "in_flight.count", "nr_active.count", "pwq.refcnt", "inactive.flag"}
