# SPDX-License-Identifier: LGPL-2.1-or-later
"""The monitor: wq_monitor.py's columns and meanings, rates between samples, NDJSON and OpenMetrics."""

import copy
import json

import pytest
from click.testing import CliRunner
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from wqinspect import monitor
from wqinspect.cli import main
from wqinspect.monitor import counters_from_snapshot
from wqinspect.snapshot import ReadWarning
from wqinspect.views.metrics import openmetrics

from .conftest import SNAPSHOTS, fixture_snapshot


@pytest.fixture
def sample(suite):
    return counters_from_snapshot(fixture_snapshot(f"{suite}-scenarios"))


def test_columns_follow_wq_monitor(suite, sample):
    rows = {r.wq.label: r for r in monitor.rows(sample)}
    if suite == "bookworm":
        assert not sample.has_stats
        r = rows["wqi_saturate"]
        assert r.total is None and (r.wq.nr_active, r.wq.inactive, r.wq.in_flight) == (1, 5, 6)
        return
    unbound = rows["wqi_saturate"]
    percpu = rows["wqi_flush"]
    reclaim = rows["wqi_reclaim"]
    assert unbound.cpu_intensive is None and unbound.cmw_rpr == unbound.stat("repatriated")
    assert percpu.cpu_intensive == percpu.stat("cpu_intensive") and percpu.cmw_rpr == percpu.stat("cm_wakeup")
    assert percpu.mayday is None and reclaim.mayday == reclaim.stat("mayday")
    # The blocker started and has not completed: in flight.
    assert percpu.total >= 1 and percpu.infl == percpu.total - percpu.stat("completed") >= 1


def test_rates(sample):
    if not sample.has_stats:
        pytest.skip("no counters before v6.5")
    later = copy.deepcopy(sample)
    later.time += 2.0
    w = next(w for w in later.workqueues if w.name == "wqi_flush")
    w.stats["started"] += 10
    w.stats["cpu_time"] += 500_000  # µs: 0.5 s of CPU in 2 s
    rows = {r.wq.name: r for r in monitor.rows(later, sample, pattern="^wqi_flush$")}
    assert list(rows) == ["wqi_flush"]
    assert rows["wqi_flush"].rates["total"] == 5.0 and rows["wqi_flush"].rates["cpu%"] == 25.0
    top = monitor.rows(later, sample, sort="total/s", top=1)
    assert [r.wq.name for r in top] == ["wqi_flush"]


def test_openmetrics_parses_both_ways(sample):
    text = openmetrics(monitor.rows(sample))
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(text)}
    assert "wqinspect_workqueue_in_flight" in families
    # node_exporter's textfile collector reads the Prometheus text format.
    classic = {f.name for f in parse_prometheus(text.replace("# EOF\n", ""))}
    assert "wqinspect_workqueue_active" in classic
    series = [s for s in families["wqinspect_workqueue_in_flight"].samples]
    assert len({tuple(sorted(s.labels.items())) for s in series}) == len(series)  # one series per workqueue
    if sample.has_stats:
        started = families["wqinspect_workqueue_started"]
        assert started.type == "counter" and all(s.name.endswith("_total") for s in started.samples)


def test_cli_json_and_prometheus(suite):
    f = str(SNAPSHOTS / f"{suite}-scenarios.json")
    r = CliRunner().invoke(main, ["monitor", "--json", "--from", f, "wqi"])
    assert r.exit_code == 0
    lines = r.output.strip().splitlines()
    assert len(lines) == 1  # a snapshot gives one sample
    obj = json.loads(lines[0])
    assert {w["name"] for w in obj["workqueues"]} >= {"wqi_flush", "wqi_saturate"}
    assert set(obj["workqueues"][0]) >= {"timestamp", "name", "unbound", "mem_reclaim", "started", "completed",
                                         "cpu_time", "cpu_intensive", "cm_wakeup", "repatriated", "mayday",
                                         "rescued"}
    r = CliRunner().invoke(main, ["monitor", "--prometheus", "--from", f])
    assert r.exit_code == 0 and "# EOF" in r.output


def test_prometheus_file_is_replaced_atomically(tmp_path):
    out = tmp_path / "wq.prom"
    r = CliRunner().invoke(main, ["monitor", "--prometheus", "-o", str(out), "--from",
                                  str(SNAPSHOTS / "sid-scenarios.json")])
    assert r.exit_code == 0 and out.read_text().endswith("# EOF\n") and not (tmp_path / "wq.prom.tmp").exists()
    r = CliRunner().invoke(main, ["monitor", "-o", str(out), "--from", str(SNAPSHOTS / "sid-scenarios.json")])
    assert r.exit_code == 2


def test_read_warnings_are_shown_with_the_rows(suite, tmp_path):
    """A list that changed under a live read costs rows, and the monitor says which, in every output."""
    snap = fixture_snapshot(f"{suite}-scenarios")
    snap.warnings.append(ReadWarning("workqueue 0xffff888004a2b000", "WalkError: list is a cycle"))
    f = tmp_path / "s.json"
    f.write_text(snap.dumps())
    r = CliRunner().invoke(main, ["monitor", "--from", str(f)], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "warning: workqueue 0xffff888004a2b000: WalkError: list is a cycle" in r.output
    r = CliRunner().invoke(main, ["monitor", "--json", "--from", str(f)])
    assert json.loads(r.output)["warnings"] == [{"object": "workqueue 0xffff888004a2b000",
                                                 "message": "WalkError: list is a cycle"}]
    r = CliRunner().invoke(main, ["monitor", "--prometheus", "--from", str(f)])
    assert r.exit_code == 0 and "WalkError" in r.stderr and "WalkError" not in r.stdout
