# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every command renders a saved snapshot as a table and as valid JSON."""

import json

import pytest
from click.testing import CliRunner

from wqinspect.cli import main
from wqinspect.snapshot import SCHEMA_VERSION
from wqinspect.snapshot import cpulist

from .conftest import SNAPSHOTS


def run(*args):
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.output


@pytest.fixture
def snapfile(suite):
    return str(SNAPSHOTS / f"{suite}-scenarios.json")


@pytest.mark.parametrize("cmd", [["workqueues"], ["pools"], ["workers"], ["works"], ["show", "wqi_flush"]])
def test_json_is_valid_and_names_the_kernel(cmd, snapfile, scenarios_snap):
    code, out = run(*cmd, "--json", "--from", snapfile)
    assert code == 0
    data = json.loads(out)
    assert data["kernel"]["release"] == scenarios_snap.kernel.release
    assert data["schema"] == SCHEMA_VERSION


def test_workqueue_totals_are_the_sums_of_their_pwqs(snapfile, scenarios_snap):
    _, out = run("workqueues", "--json", "--from", snapfile)
    for wq in json.loads(out)["workqueues"]:
        assert wq["active"] == sum(p["nr_active"] for p in wq["pwqs"])
        assert wq["inactive"] == sum(p["nr_inactive"] for p in wq["pwqs"])
        assert wq["in_flight"] == sum(sum(p["nr_in_flight"]) for p in wq["pwqs"])
    assert len(json.loads(out)["workqueues"]) == len(scenarios_snap.workqueues)


def test_pattern_filters_workqueues(snapfile):
    _, out = run("workqueues", "^wqi_(flush|barrier)$", "--json", "--from", snapfile)
    assert sorted(w["name"] for w in json.loads(out)["workqueues"]) == ["wqi_barrier", "wqi_flush"]


def test_shared_names_are_told_apart(suite, snapfile):
    code, out = run("workqueues", "^events$", "--from", snapfile)
    assert "events (system_wq)" in out
    if suite != "bookworm":  # system_percpu_wq: 6.17, backported to Debian's 6.12
        assert "events (system_percpu_wq)" in out


def test_tables(snapfile, scenarios_snap):
    _, out = run("workqueues", "--from", snapfile)
    assert "wqi_saturate" in out and "flushing 0→1" in out and scenarios_snap.kernel.release in out
    _, out = run("pools", "--from", snapfile)
    assert "cpu-highpri" in out and "unbound" in out
    _, out = run("workers", "--from", snapfile)
    assert "+wqi_barrier" in out and "wqi_block_fn" in out
    _, out = run("works", "--wq", "wqi_barrier", "--from", snapfile)
    assert "BAR(" in out and "wqi_flush_run" in out and "wqi_flush_inact" in out
    _, out = run("show", "wqi_flush", "--from", snapfile)
    assert "flusher (first) color 0" in out and "wqi_flush_wq" in out


def test_works_filters(snapfile):
    _, out = run("works", "--wq", "wqi_delayed", "--json", "--from", snapfile)
    works = json.loads(out)["works"]
    assert works and all(w["wq_name"] == "wqi_delayed" and w["where"] == "delayed" for w in works)
    assert all(3000 < w["expires_in_seconds"] <= 3600 for w in works)
    _, out = run("works", "--pool", "0", "--json", "--from", snapfile)
    assert all(w["pool_id"] == 0 for w in json.loads(out)["works"])


def test_show_unknown_workqueue(snapfile):
    code, out = run("show", "no_such_wq", "--from", snapfile)
    assert code == 2


def test_bh_pseudo_workers_have_no_task(suite, scenarios_snap, snapfile):
    bh = [w for w in scenarios_snap.workers if w.task is None]
    if suite == "bookworm":
        assert bh == []  # BH pools came in v6.9
    else:
        pools = {p.id: p for p in scenarios_snap.pools}
        assert bh and all(pools[w.pool_id].kind.startswith("bh") for w in bh)
        _, out = run("workers", "--from", snapfile)
        assert "BH pseudo-worker, no task" in out


def test_cpulist():
    assert cpulist([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert cpulist([3]) == "3"
    assert cpulist([]) == "-"


def test_jiffies_wrap(scenarios_snap):
    hz = scenarios_snap.kernel.hz
    scenarios_snap.kernel.jiffies = 5
    assert scenarios_snap.jiffies_ago((1 << 64) - 2 * hz + 5) == 2.0  # taken before the wrap
    assert scenarios_snap.jiffies_ago(5 + hz) == -1.0


def test_barrier_details(scenarios_snap):
    from wqinspect.views.models import work_detail

    run = next(w for w in scenarios_snap.works if w.wq_name == "wqi_barrier" and w.where == "running")
    bar = next(w for w in scenarios_snap.works if w.where == "scheduled" and w.worker == run.worker and w.barrier)
    pid = bar.barrier.waiter.pid
    assert work_detail(scenarios_snap, bar) == f"BAR({pid} {bar.barrier.waiter.comm}) flushing {run.func}"
    bar.barrier.target = None
    assert "has finished" in work_detail(scenarios_snap, bar)
    bar.where = "running"
    assert "completes the flush" in work_detail(scenarios_snap, bar)
