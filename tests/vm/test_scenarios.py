# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every scenario's expected state is in wqinspect's JSON, on every kernel, in every mode."""

import re

import pytest

from testbed import scenarios

from .conftest import READINGS, reading
from .kernelrun import run_wqinspect


@pytest.mark.parametrize("mode", READINGS)
@pytest.mark.parametrize("name", scenarios.ALL)
def test_scenario(run, mode, name):
    r = reading(run, "scenarios", mode)
    errors = scenarios.check(scenarios.load(name), r.views())
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("mode", READINGS)
def test_snapshot_is_complete(run, mode):
    """The snapshot of each mode reads every object without a warning, and names the kernel."""
    r = reading(run, "scenarios", mode)
    snap = r.snapshot
    assert snap["kernel"]["release"] == run.prepared.kernel.release
    assert snap["warnings"] == []
    assert snap["target"]["mode"] == mode.split("-")[0]
    # The system workqueues are all there and told apart by their variables.
    system = {w["system_var"] for w in snap["workqueues"] if w["system_var"]}
    assert {"system_wq", "system_highpri_wq", "system_long_wq", "system_unbound_wq"} <= system
    events = [w for w in snap["workqueues"] if w["name"] == "events"]
    assert len({w["system_var"] for w in events}) == len(events)


def _comparable(snap: dict) -> dict:
    """Everything but how it was read, and the stacks of tasks running on a CPU: a live reader cannot
    unwind those (drgn: "cannot unwind stack of running task"), a dump has their registers."""
    out = {k: v for k, v in snap.items() if k != "target"}
    out["stacks"] = [s for s in snap["stacks"] if not s["on_cpu"]]
    return out


def test_modes_agree(run):
    """One paused guest, read live through QMP and from its vmcores, gives one snapshot."""
    modes = [m for m in ("qmp", "vmcore", "vmcore-elf") if m in READINGS]
    if len(modes) < 2:
        pytest.skip(f"needs two of qmp/vmcore/vmcore-elf, MODES has {modes}")
    first = _comparable(run.readings[("scenarios", modes[0])].snapshot)
    for m in modes[1:]:
        other = _comparable(run.readings[("scenarios", m)].snapshot)
        assert other == first, f"{m} differs from {modes[0]}"


def test_rmmod_leaves_nothing(run):
    """Unloading wqi releases every workqueue, work item and timer it made, without a kernel warning."""
    if "qmp" not in READINGS:
        pytest.skip("the state after rmmod is read through QMP; MODES has no qmp")
    snap = run.readings[("unloaded", "qmp")].snapshot
    assert [w["name"] for w in snap["workqueues"] if w["name"].startswith("wqi_")] == []
    assert [w for w in snap["works"] if w["func"]["module"] == "wqi"] == []
    # (Idle workers keep the name of the last workqueue they served: "-wqi_flush" is fine.)
    assert [w["name"] for w in snap["workers"] if (w["current_func"] or {}).get("module") == "wqi"
            or (w["rescuer_of"] or "").startswith("wqi_")] == []
    assert snap["broken_timers"] == []
    assert "wqi" not in [m["name"] for m in snap["modules"]]
    for bad in ("WARNING:", "BUG:", "Oops", "general protection"):
        assert bad not in run.dmesg["unloaded"], run.dmesg["unloaded"][-3000:]


def _workqueue_blocks(lines: list[str]) -> dict[str, list[str]]:
    """The kernel dump's lines of each workqueue (its line and its pwqs' lines), by name."""
    out, name = {}, None
    for line in lines:
        m = re.match(r"workqueue (\S+): flags=", line)
        if m:
            name = m.group(1)
            out[name] = [line]
        elif name and re.match(r" +(pwq \d+:|in-flight:|pending:|inactive:|delayed:)", line):
            out[name].append(line)
        else:
            name = None
    return out


def test_dump_is_what_the_kernel_printed(run):
    """sysrq-t printed the kernel's workqueue dump just before the guest was paused and read: `dump` on that
    reading prints the same lines for the scenarios' workqueues (their state holds still; the traffic
    scenario's and the system's do not)."""
    if ("scenarios", "qmp") not in run.readings:
        pytest.skip("the dump is compared on the QMP reading; MODES has no qmp")
    snap_file = run.dir / "scenarios-qmp.json"
    log = [r["text"] for r in run.readings[("scenarios", "qmp")].snapshot["log"]]
    start = max(i for i, x in enumerate(log) if x == "Showing busy workqueues and worker pools:")
    kernel = _workqueue_blocks(log[start + 1:])
    ours = _workqueue_blocks(run_wqinspect(["dump", "--from", str(snap_file)]).splitlines())
    names = sorted(n for n in kernel if n.startswith("wqi_") and not n.startswith("wqi_traffic"))
    assert names, kernel.keys()
    assert {n: ours.get(n) for n in names} == {n: kernel[n] for n in names}
