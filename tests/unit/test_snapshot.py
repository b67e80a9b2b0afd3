# SPDX-License-Identifier: LGPL-2.1-or-later
import copy
import json

import pytest

from wqinspect.snapshot import SCHEMA_VERSION, Snapshot, SnapshotError, link_barriers
from wqinspect.views.jsonout import jsonable


def test_round_trip(scenarios_snap):
    again = Snapshot.from_dict(json.loads(scenarios_snap.dumps()))
    assert again == scenarios_snap
    assert json.loads(again.dumps()) == json.loads(scenarios_snap.dumps())


def test_addresses_are_exact_integers_in_the_file_and_hex_in_json_output(scenarios_snap):
    d = json.loads(scenarios_snap.dumps())
    wq = d["workqueues"][0]
    assert isinstance(wq["address"], int) and wq["address"] == scenarios_snap.workqueues[0].address > 1 << 63
    out = jsonable(scenarios_snap.workqueues[0])
    assert out["address"] == f"{scenarios_snap.workqueues[0].address:#x}"
    assert all(p["address"].startswith("0x") and isinstance(p["refcnt"], int) for p in out["pwqs"])
    work = next(w for w in scenarios_snap.works if w.where == "inactive")
    assert jsonable(work)["data"].startswith("0x") and jsonable(work)["func"]["address"].startswith("0x")


def test_schema_1_files_still_load(scenarios_snap):
    """A schema-1 file (addresses as hex strings, kernel.features a plain object) upgrades on load."""
    d = json.loads(scenarios_snap.dumps())
    v1 = json.loads(json.dumps(d), object_hook=lambda o: o)
    v1["schema"] = 1
    v1["workqueues"][0]["address"] = hex(d["workqueues"][0]["address"])
    v1["works"][0]["func"]["address"] = hex(d["works"][0]["func"]["address"])
    v1["kernel_image"] = []
    again = Snapshot.from_dict(v1)
    assert again.workqueues[0].address == scenarios_snap.workqueues[0].address
    assert again.works[0].func.address == scenarios_snap.works[0].func.address
    assert again.kernel_image is None and again.schema == SCHEMA_VERSION


def test_other_schema_is_refused(scenarios_json):
    with pytest.raises(SnapshotError, match=f"schema 99 is not supported .*schemas 1 and {SCHEMA_VERSION}"):
        Snapshot.from_dict(dict(scenarios_json, schema=99))


def test_malformed_snapshot_is_one_error(scenarios_json):
    bad = dict(scenarios_json, workqueues=[{"name": "x", "max_active": "lots"}])
    with pytest.raises(SnapshotError, match="not a valid wqinspect snapshot"):
        Snapshot.from_dict(bad)
    with pytest.raises(SnapshotError):
        Snapshot.from_dict(dict(scenarios_json, pools="nope"))


@pytest.mark.parametrize("value", ["1" * 25, str(1 << 64)])
def test_more_than_64_bits_is_refused(tmp_path, scenarios_snap, value):
    text = scenarios_snap.dumps()
    addr = str(scenarios_snap.workqueues[0].address)
    f = tmp_path / "big.json"
    f.write_text(text.replace(addr, value, 1))
    with pytest.raises(SnapshotError, match=r"snapshot\.workqueues\[0\]\.address: more than 64 bits"):
        Snapshot.load(str(f))
    f.write_text(text.replace('"kind"', '"comm_with_digits_' + "9" * 30 + '": 0, "kind"', 1))
    assert Snapshot.load(str(f)) == scenarios_snap  # a long number elsewhere is no error


@pytest.mark.parametrize("value", [10 ** 30, -10 ** 30, -(1 << 63) - 1])
def test_an_unbounded_int_field_of_more_than_64_bits_is_refused_with_its_path(tmp_path, scenarios_snap, value):
    """Layout's plain int fields have no schema bound: a value outside [-2^63, 2^64 - 1] is refused all the
    same, with the path of the field, however far below zero it lies."""
    import msgspec

    doc = msgspec.json.decode(scenarios_snap.dumps())
    doc["kernel"]["features"]["hz"] = value
    f = tmp_path / "big.json"
    f.write_bytes(msgspec.json.encode(doc))
    with pytest.raises(SnapshotError, match=r"snapshot\.kernel\.features\.hz: more than 64 bits"):
        Snapshot.load(str(f))


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
    scenarios_snap.reindex()
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


def test_snapshot_files_indented_when_small_compact_and_in_pieces_when_large(monkeypatch, scenarios_snap):
    import io as _io

    import msgspec

    from wqinspect.snapshot import dumps_bytes, io as snapio

    from .bigsnap import big_snapshot

    small = _io.BytesIO()
    snapio.write(scenarios_snap, small)
    assert small.getvalue() == dumps_bytes(scenarios_snap) + b"\n" and b'\n "kernel"' in small.getvalue()
    monkeypatch.setattr(snapio, "INDENT_MAX_WORKS", 100)
    monkeypatch.setattr(snapio, "_CHUNK", 7)
    big = big_snapshot(250)
    big.target.captured_at = "2026-12-02T00:00:00+00:00"
    pieces = _io.BytesIO()
    snapio.write(big, pieces)
    assert pieces.getvalue() == dumps_bytes(big, None) + b"\n"
    assert snapio.decode(pieces.getvalue()) == msgspec.convert(msgspec.to_builtins(big), Snapshot)


def test_index_keeps_the_first_item_of_an_address(scenarios_snap):
    import msgspec

    snap = copy.deepcopy(scenarios_snap)
    first = snap.works[0]
    snap.works.append(msgspec.structs.replace(first, position=first.position + 100))
    snap.reindex()
    assert snap.ix.works[first.address] is first
    assert snap.ix.works_by_wq[first.wq][0] is first and len(snap.ix.works_by_wq[first.wq]) >= 2
    assert None not in snap.ix.works_by_pwq and None not in snap.ix.works_by_worker
