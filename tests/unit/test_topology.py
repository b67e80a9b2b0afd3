# SPDX-License-Identifier: LGPL-2.1-or-later
"""The topology view (wq_dump.py's facts) and the sysfs cross-check."""

import copy
import json
from pathlib import Path

from click.testing import CliRunner

from wqinspect.cli import main
from wqinspect.snapshot import Sysfs
from wqinspect.sysfs import differences, mask_cpus, read_sysfs
from wqinspect.views.models import cpu_pools
from wqinspect.views.tables import kind as wq_type

from .conftest import SNAPSHOTS, fixture_snapshot


def test_scopes_by_kernel(suite, scenarios_snap):
    topo = scenarios_snap.topology
    names = [s.name for s in topo.scopes]
    if suite == "bookworm":
        assert names == []  # affinity scopes came in v6.6
        assert any(wq.node_pools for wq in scenarios_snap.workqueues)  # numa_pwq_tbl instead
    else:
        assert names[:3] == ["cpu", "smt", "cache"] and "numa" in names and "system" in names
        assert ("cache_shard" in names) == (suite == "sid")  # v7.1
        assert [s.name for s in topo.scopes if s.default] == ["cache_shard" if suite == "sid" else "cache"]
        for s in topo.scopes:
            assert sorted(c for pod in s.pod_cpus for c in pod) == scenarios_snap.kernel.possible_cpus


def test_cpu_to_pool(scenarios_snap):
    wq = scenarios_snap.workqueues_named("wqi_flush")[0]
    pools = {p.id: p for p in scenarios_snap.pools}
    for cpu, pool in cpu_pools(wq).items():
        assert pools[pool].cpu == cpu and pools[pool].kind == "cpu"
    assert wq_type(scenarios_snap.workqueues_named("wqi_ordered")[0]) == "ordered"


def test_topology_command(suite):
    f = str(SNAPSHOTS / f"{suite}-scenarios.json")
    r = CliRunner().invoke(main, ["topology", "--from", f])
    assert r.exit_code == 0 and "workqueue CPU → pool" in r.output and "rescuers" in r.output
    assert ("node nr/max_active" in r.output) == (suite != "bookworm")
    data = json.loads(CliRunner().invoke(main, ["topology", "--json", "--from", f]).output)
    assert data["sysfs"] is None  # not read from the running kernel
    assert any(w["rescuer_pid"] for w in data["workqueues"])


def write_sysfs(root: Path, snap) -> None:
    """A /sys/devices/virtual/workqueue that agrees with the snapshot."""
    root.mkdir()
    (root / "cpumask").write_text(f"{sum(1 << c for c in snap.topology.unbound_cpus):x}\n")
    dfl = next((s.name for s in snap.topology.scopes if s.default), None)
    for wq in snap.workqueues:
        if "WQ_SYSFS" not in wq.flag_names:
            continue
        d = root / wq.name
        d.mkdir()
        unbound = "WQ_UNBOUND" in wq.flag_names
        (d / "per_cpu").write_text(f"{int(not unbound)}\n")
        (d / "max_active").write_text(f"{wq.saved_max_active}\n")
        if unbound:
            (d / "nice").write_text(f"{wq.nice}\n")
            (d / "cpumask").write_text(f"{sum(1 << c for c in wq.cpus):x}\n")
            if wq.affn_scope is not None:
                (d / "affinity_scope").write_text(
                    f"default ({dfl})\n" if wq.affn_scope == "default" else f"{wq.affn_scope}\n")
                (d / "affinity_strict").write_text(f"{int(wq.affn_strict)}\n")


def test_sysfs_agrees_then_differs(tmp_path, suite):
    snap = copy.deepcopy(fixture_snapshot(f"{suite}-idle"))
    write_sysfs(tmp_path / "wq", snap)
    snap.sysfs = read_sysfs(str(tmp_path / "wq"))
    assert "writeback" in snap.sysfs.workqueues and differences(snap) == []
    (tmp_path / "wq" / "writeback" / "max_active").write_text("7\n")
    snap.sysfs = read_sysfs(str(tmp_path / "wq"))
    diffs = differences(snap)
    assert [(d.object, d.attribute, d.sysfs) for d in diffs] == [("writeback", "max_active", "7")]
    snap.sysfs.workqueues.pop("writeback")
    assert [(d.object, d.sysfs) for d in differences(snap)] == [("writeback", "missing")]


def test_mask_parsing():
    assert mask_cpus("3") == [0, 1] and mask_cpus("00000001,00000000") == [32] and mask_cpus("0") == []


def test_no_sysfs_no_comparison(idle_snap):
    assert idle_snap.sysfs is None and differences(idle_snap) == []
    idle_snap.sysfs = Sysfs()
    assert differences(idle_snap) == [d for d in differences(idle_snap) if d.attribute == "directory"]
