# SPDX-License-Identifier: LGPL-2.1-or-later
import copy
import json

import pytest

from wqinspect.snapshot import SCHEMA_VERSION, Snapshot, SnapshotError, link_barriers


def test_round_trip(scenarios_json):
    snap = Snapshot.from_dict(scenarios_json)
    assert json.loads(snap.dumps()) == scenarios_json


def test_addresses_are_hex_strings(scenarios_json):
    wq = scenarios_json["workqueues"][0]
    assert isinstance(wq["address"], str) and wq["address"].startswith("0x")
    assert all(isinstance(p["address"], str) for p in wq["pwqs"])
    assert isinstance(Snapshot.from_dict(scenarios_json).workqueues[0].address, int)


def test_other_schema_is_refused(scenarios_json):
    with pytest.raises(SnapshotError, match=f"schema 99 is not supported .*schema {SCHEMA_VERSION}"):
        Snapshot.from_dict(dict(scenarios_json, schema=99))


def test_malformed_snapshot_is_one_error(scenarios_json):
    bad = dict(scenarios_json, workqueues=[{"name": "x", "max_active": "lots"}])
    with pytest.raises(SnapshotError, match="not a valid wqinspect snapshot"):
        Snapshot.from_dict(bad)
    with pytest.raises(SnapshotError):
        Snapshot.from_dict(dict(scenarios_json, pools="nope"))


def test_load_errors(tmp_path):
    with pytest.raises(SnapshotError, match="cannot read"):
        Snapshot.load(str(tmp_path / "missing.json"))
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(SnapshotError, match="is not JSON"):
        Snapshot.load(str(tmp_path / "x.json"))


def test_lookups(scenarios_snap):
    wq = scenarios_snap.workqueues_named("wqi_flush")[0]
    pwq = wq.pwqs[0]
    assert scenarios_snap.pwq(pwq.address) == (wq, pwq)
    assert scenarios_snap.pool(pwq.pool_id).address == pwq.pool
    assert all(w.wq == wq.address for w in scenarios_snap.works_of(wq))


def _barrier_scenario(snap):
    """The barrier scenario's running work and the flusher's barrier on that worker's ->scheduled."""
    run = next(w for w in snap.works if w.wq_name == "wqi_barrier" and w.where == "running")
    sched = [w for w in snap.works if w.where == "scheduled" and w.worker == run.worker]
    return run, sched


def test_barrier_targets_as_captured(scenarios_snap):
    run, sched = _barrier_scenario(scenarios_snap)
    assert [b.barrier.target for b in sched if b.barrier] == [run.address]
    link_barriers(scenarios_snap)
    assert [b.barrier.target for b in sched if b.barrier] == [run.address]


def test_second_flusher_of_a_running_work(scenarios_snap):
    """insert_wq_barrier() puts each new barrier for a running item at the head of ->scheduled, unlinked."""
    run, sched = _barrier_scenario(scenarios_snap)
    first = sched[0]
    second = copy.deepcopy(first)
    second.address += 0x1000
    for w in sched:
        w.position += 1
    second.position = 0
    scenarios_snap.works.append(second)
    for b in (first, second):
        b.barrier.target = None
    link_barriers(scenarios_snap)
    assert "LINKED" not in first.flag_names
    assert (second.barrier.target, first.barrier.target) == (run.address, run.address)


def test_barrier_behind_a_running_barrier_has_no_target(scenarios_snap):
    """Once the flushed item is done and the newer barrier runs, the older one flushes nothing left."""
    run, sched = _barrier_scenario(scenarios_snap)
    run.barrier = copy.deepcopy(sched[0].barrier)
    link_barriers(scenarios_snap)
    assert sched[0].barrier.target is None
