# SPDX-License-Identifier: LGPL-2.1-or-later
"""Parity with the kernel's own tools/workqueue scripts, run from Debian's linux-source package.

Both sides read the same paused guest (with a burst of work behind it: the
"traffic" scenario), so their numbers must be equal, not close.  The kernel's
scripts exist from v6.5 on; on 6.1 the test checks what wqinspect shows instead.
"""

import ast
import json
import re

import pytest


def kernel_script(run, name):
    if "monitor" not in run.parity:
        pytest.skip("parity is read through QMP; MODES has no qmp")
    if name not in run.parity:
        return None
    return run.parity[name]


def test_monitor_matches_wq_monitor(run):
    out = kernel_script(run, "wq_monitor.py")
    ours = json.loads(run.parity["monitor"].splitlines()[0])
    if out is None:
        # 6.1: no pwq->stats[]; the monitor says so and shows what exists.
        assert ours["stats"] is False and all(w["started"] is None for w in ours["workqueues"])
        assert any(w["name"] == "wqi_saturate" and w["inactive"] == 5 for w in ours["workqueues"])
        return
    # wq_monitor.py -j prints Python dict reprs, one per workqueue, in list order.
    theirs = [ast.literal_eval(line) for line in out.splitlines() if line.startswith("{")]
    keys = ("name", "unbound", "mem_reclaim", "started", "completed", "cpu_time", "cpu_intensive", "cm_wakeup",
            "repatriated", "mayday", "rescued")
    assert sorted(tuple(w[k] for k in keys) for w in theirs) == sorted(tuple(w[k] for k in keys)
                                                                       for w in ours["workqueues"])
    traffic = {w["name"]: w for w in ours["workqueues"] if w["name"].startswith("wqi_traffic")}
    assert all(w["started"] >= 2000 for w in traffic.values()), traffic  # the workload is there
    assert traffic["wqi_traffic_reclaim"]["mayday"] is not None


def _sections(text: str) -> dict[str, list[str]]:
    out, name = {}, None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and lines[i + 1].startswith("===") and line.strip():
            name = line.strip()
            out[name] = []
        elif name and line.strip() and not line.startswith("==="):
            out[name].append(line)
    return out


def _addr(value) -> int:
    """An address or flags word of the commands' JSON: a "0x…" string (schema 2)."""
    assert isinstance(value, str) and value.startswith("0x"), value
    return int(value, 16)


def _mask(text: str) -> list[int]:
    v = int(text.replace(" ", "").replace("0x", "") or "0", 16)
    return [i for i in range(v.bit_length()) if v >> i & 1]


def test_topology_matches_wq_dump(run):
    out = kernel_script(run, "wq_dump.py")
    ours = json.loads(run.parity["topology"])
    if out is None:
        # 6.1: no affinity scopes; the per-node pool table of numa_pwq_tbl is shown instead.
        assert ours["topology"]["scopes"] == []
        assert any(w["node_pools"] for w in ours["workqueues"])
        return
    sec = _sections(out)
    # Affinity scopes
    scopes = {s["name"].upper(): s for s in ours["topology"]["scopes"]}
    current = None
    for line in sec["Affinity Scopes"]:
        m = re.match(r"([A-Z_]+)( \(default\))?$", line)
        if m:
            current = scopes[m.group(1)]
            assert current["default"] == bool(m.group(2)), line
        elif line.strip().startswith("nr_pods"):
            assert int(line.split()[1]) == current["nr_pods"]
        elif line.strip().startswith("pod_cpus"):
            assert [_mask(v) for v in re.findall(r"=(\w+)", line)] == current["pod_cpus"]
        elif line.strip().startswith("pod_node"):
            assert [int(v) for v in re.findall(r"=(-?\d+)", line)] == current["pod_node"]
        elif line.strip().startswith("cpu_pod"):
            cpu_pod = [int(v) for v in re.findall(r"=(-?\d+)", line)]
            assert cpu_pod == current["cpu_pod"][:len(cpu_pod)]
    # Worker pools
    pools = {p["id"]: p for p in ours["pools"]}
    seen = 0
    for line in sec["Worker Pools"]:
        m = re.match(r"pool\[(\d+)\] flags=0x(\w+) ref=\s*(\d+) nice=\s*(-?\d+) idle/workers=\s*(\d+)/\s*(\d+) (.*)",
                     line)
        p = pools[int(m.group(1))]
        assert (int(m.group(2), 16), int(m.group(3)), int(m.group(4)), int(m.group(5)), int(m.group(6))) == \
            (_addr(p["flags"]), p["refcnt"], p["nice"], p["nr_idle"], p["nr_workers"]), line
        rest = m.group(7)
        if rest.startswith("cpu="):
            assert int(rest.split("=")[1].split()[0]) == p["cpu"] and ("bh" in rest) == ("POOL_BH" in p["flag_names"])
        else:
            cpus = re.search(r"cpus=(\w+) pod_cpus=(\w+)", rest)
            assert (_mask(cpus.group(1)), _mask(cpus.group(2))) == (p["cpus"], p["pod_cpus"])
            assert ("strict" in rest) == bool(p["strict"])
        seen += 1
    assert seen == len(pools)
    # Workqueue CPU -> pool: rows in list order, name type pool-per-CPU [dfl]
    rows = [line.split() for line in sec["Workqueue CPU -> pool"][1:]]
    ncpu = len(ours["kernel"]["possible_cpus"])
    assert len(rows) == len(ours["workqueues"])
    for row, w in zip(rows, ours["workqueues"]):
        assert row[0] == w["name"] and row[1] == w["kind"], (row, w["name"], w["kind"])
        assert [int(x) for x in row[2:2 + ncpu]] == [w["cpu_pools"][str(c)] for c in range(ncpu)], row
        dfl = row[2 + ncpu:]
        assert (int(dfl[0]) if dfl else None) == w["dfl_pool"], row
    # Workqueue -> rescuer
    rescuers = {w["name"]: w for w in ours["workqueues"] if w["rescuer_pid"]}
    resc_rows = [line.split() for line in sec["Workqueue -> rescuer"][1:]]
    assert sorted(r[0] for r in resc_rows) == sorted(rescuers)
    for r in resc_rows:
        w = rescuers[r[0]]
        pid_at = 2 if w["unbound_cpus"] else 1
        assert int(r[pid_at]) == w["rescuer_pid"] and _mask(" ".join(r[pid_at + 1:])) == w["rescuer_cpus"]
    # Unbound workqueue -> node_nr/max_active
    nna_rows = [line.split() for line in sec["Unbound workqueue -> node_nr/max_active"]
                if not line.startswith(("online_cpus", "NODE[", "[")) and re.search(r"\d+/\s*\d+", line)]
    unbound = [w for w in ours["workqueues"] if w["node_nr_active"]]
    assert len(nna_rows) == len(unbound)
    for r, w in zip(nna_rows, unbound):
        assert r[0] == w["name"] and (int(r[1]), int(r[2])) == (w["min_active"], w["max_active"])
        # (6.12's script pads the max: "0/   1")
        assert re.findall(r"(-?\d+)/\s*(-?\d+)", " ".join(r[3:])) == \
            [(str(n["nr"]), str(n["max"])) for n in sorted(w["node_nr_active"], key=lambda n: n["index"])]


def test_sysfs_agrees_with_memory_on_the_running_kernel(run):
    """Read on /proc/kcore inside the guest, the snapshot holds the guest's /sys: the WQ_SYSFS workqueues'
    attributes and the global cpumask agree with memory."""
    from wqinspect.snapshot import Snapshot
    from wqinspect.sysfs import differences

    if ("scenarios", "kcore") not in run.readings:
        pytest.skip("kcore mode was not run")
    snap = Snapshot.from_dict(run.readings[("scenarios", "kcore")].snapshot)
    assert snap.sysfs is not None and "writeback" in snap.sysfs.workqueues
    assert "cpumask" in snap.sysfs.global_attrs
    assert differences(snap) == []
    for mode in ("qmp", "vmcore"):
        if ("scenarios", mode) in run.readings:
            assert run.readings[("scenarios", mode)].snapshot["sysfs"] is None  # not this host's kernel
