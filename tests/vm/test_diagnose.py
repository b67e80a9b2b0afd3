# SPDX-License-Identifier: LGPL-2.1-or-later
"""`wqinspect diagnose` on Debian's kernels: each finding from the scenario that produces it, none when idle."""

import json
import subprocess

import pytest

from testbed import scenarios

from .conftest import READINGS
from .kernelrun import wqinspect_argv


def findings(run, phase, mode):
    if (phase, mode) not in run.diagnoses:
        pytest.skip(f"no diagnose in {mode} mode for the {phase} phase (MODES has no {mode.split('-')[0]})")
    return run.diagnoses[(phase, mode)]


def diagnose_from(run, phase, mode, *args):
    path = run.dir / f"{phase}-{mode}.json"
    p = subprocess.run(wqinspect_argv() + ["diagnose", "--json", "--from", str(path), *args],
                       capture_output=True, text=True)
    assert p.returncode in (0, 1), p.stderr
    return p.returncode, json.loads(p.stdout)["findings"]


def test_idle_kernel_has_no_findings(run):
    """After rmmod, live on the running guest and from the paused snapshot: nothing."""
    d = findings(run, "unloaded", "qmp")
    assert d.exit_code == 0 and d.report["findings"] == [], d.report["findings"]
    rc, found = diagnose_from(run, "unloaded", "qmp")
    assert rc == 0 and found == []


@pytest.mark.parametrize("mode", [m for m in READINGS if m in ("qmp", "vmcore", "kcore")])
def test_waits_are_explained(run, mode):
    """The barrier and flush scenarios: each waiting task is named with the work it waits for."""
    if ("scenarios", mode) not in run.readings:
        pytest.skip(f"{mode} was not read")
    rc, found = diagnose_from(run, "scenarios", mode)
    waits = [f for f in found if f["kind"] == "wait"]
    whats = [f["what"] for f in waits]
    assert any(w.startswith("wqi_flush_run") and "wqi_block_fn" in w for w in whats), whats
    assert any(w.startswith("wqi_flush_inact") and "wqi_noop_fn" in w for w in whats), whats
    assert any(w.startswith("wqi_flush_wq") and "wqi_flush" in w for w in whats), whats
    running = next(f for f in waits if f["what"].startswith("wqi_flush_run"))
    assert any("runs on kworker/0:" in e and "wqi_block_fn" in e for e in running["evidence"])
    # Deep snapshots carry the waiting tasks' stacks.
    assert any("__flush_work" in e or "flush_work" in e for e in running["evidence"]), running["evidence"]
    # Waits are info findings: alone they exit 0 (--fail-on warning), and 1 with --fail-on info.
    # (On a loaded host the kernel may mark a blocker CPU_INTENSIVE before it sleeps: a hog warning.)
    assert not [f for f in found if f["severity"] == "critical"]
    assert rc == (1 if [f for f in found if f["severity"] == "warning"] else 0), found
    assert diagnose_from(run, "scenarios", mode, "--fail-on", "info")[0] == 1


def test_dangling_delayed_work_after_unload(run):
    d = findings(run, "stall", "vmcore")
    dangling = [f for f in d.report["findings"] if f["kind"] == "dangling"]
    assert dangling and dangling[0]["severity"] == "critical", d.report["findings"]
    f = dangling[0]
    assert f["data"]["last_unloaded_module"] == "wqi_leak"
    # The leaked timer lies in freed module memory; when wqi is loaded again afterwards (the stall
    # phase does), that memory may be reused, and the timer's pprev no longer points back.
    assert ("in module memory that no loaded module covers" in f["evidence"][0]
            or "module wqi uses now" in f["evidence"][0]), f["evidence"]
    # Addresses are hex strings in JSON; the module area comes from the architecture (x86_64, arm64).
    lo, hi = run.readings[("stall", "vmcore")].snapshot["kernel"]["module_area"]
    assert lo <= int(f["data"]["address"], 16) < hi, f["data"]
    assert f["signature"] == "wq-dangling-timer:wqi_leak"


def test_stall_replay(run):
    """The hog on CPU 1 stalls its pool: replayed with a 5 s threshold, the verdict is the kernel's wording."""
    d = findings(run, "stall", "vmcore")
    stall = [f for f in d.report["findings"] if f["kind"] == "stall" and f["severity"] == "critical"]
    assert len(stall) == 1, d.report["findings"]
    f = stall[0]
    assert f["what"].startswith("BUG: workqueue lockup - pool cpus=1 ") and "nice=0 stuck for" in f["what"]
    assert 5 <= f["data"]["seconds"] <= 9
    snap = run.readings[("stall", "vmcore")].snapshot
    pool = next(p for p in snap["pools"] if p["id"] == f["data"]["pool"])
    assert pool["cpu"] == 1 and pool["kind"] == "cpu"
    assert any("wqi_noop_fn" in e for e in f["evidence"])
    assert "wqi_hog_fn" in f["suggestion"]
    assert f["signature"] == "wq-lockup:wqi_hog_fn"


@pytest.mark.parametrize("name", ["stall", "rcu"])
def test_stall_phase_scenarios(run, name):
    """The hog holds CPU 1 (so no RCU grace period ends): its pool's items wait, and so do the rcu_works."""
    if ("stall", "vmcore") not in run.readings:
        pytest.skip("MODES has no vmcore")
    errors = scenarios.check(scenarios.load(name), run.readings[("stall", "vmcore")].views())
    assert not errors, "\n".join(errors)


def test_cpu_hog(run):
    """Kernels with automatic CPU-hog detection (v6.5+) mark the spinning worker CPU_INTENSIVE."""
    d = findings(run, "stall", "vmcore")
    snap = run.readings[("stall", "vmcore")].snapshot
    hogs = [f for f in d.report["findings"] if f["kind"] == "hog"]
    if snap["cpu_intensive"]["thresh_us"] is None:
        assert hogs == []  # 6.1: no detection, no timing; the stall replay shows the hog instead
        return
    assert any("wqi_hog_fn" in f["what"] and "CPU 1" in f["what"] for f in hogs), d.report["findings"]
    assert any("CPU_INTENSIVE" in e for f in hogs for e in f["evidence"])


def test_rescuer(run):
    """With worker creation failing, the pool calls the rescuer: found, and every invariant still holds
    (mayday.rescuer included)."""
    d = findings(run, "mayday", "qmp")
    rescuer = [f for f in d.report["findings"] if f["kind"] == "rescuer"]
    assert any(f["what"] == "the rescuer of wqi_mayday is running an item" for f in rescuer), d.report["findings"]
    errors = scenarios.check(scenarios.load("mayday"), run.readings[("mayday", "qmp")].views())
    assert not errors, "\n".join(errors)
    c = run.checks[("mayday", "qmp")]
    assert c.exit_code == 0, c.report["results"]


def test_delayed_work_stranded_on_an_offline_cpu(run):
    """CPU 1 offline, then queue_delayed_work_on(1, ...): the timer sits on a dead CPU's wheel and never fires
    (oracle-samples/drgn-tools#140). diagnose warns; rmmod cancels the work and brings the CPU back."""
    d = findings(run, "offline", "vmcore")
    reading = run.readings[("offline", "vmcore")]
    assert 1 not in reading.snapshot["kernel"]["online_cpus"]
    errors = scenarios.check(scenarios.load("offline"), reading.views())
    assert not errors, "\n".join(errors)
    work = next(w for w in reading.snapshot["works"] if w["wq_name"] == "wqi_offline")
    assert work["where"] == "delayed" and work["delayed"]["timer_cpu"] == 1, work
    stranded = [f for f in d.report["findings"] if f["kind"] == "stranded"]
    assert len(stranded) == 1, d.report["findings"]
    f = stranded[0]
    assert f["severity"] == "warning" and f["signature"] == "wq-offline-timer:wqi_delayed_fn"
    assert "CPU 1, which is offline" in f["what"] and f["data"]["timer_cpu"] == 1
    assert "expired" in f["evidence"][0], f["evidence"]  # its 1 s delay passed, and it never ran
    assert d.exit_code == 1  # a warning fails by default (--fail-on warning)
    assert not [x for x in d.report["findings"] if x["severity"] == "critical"], d.report["findings"]
    assert run.shell["offline: cpu1 online after rmmod"].strip() == "1", run.dmesg.get("offline", "")[-2000:]
