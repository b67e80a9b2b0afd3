# SPDX-License-Identifier: LGPL-2.1-or-later
"""`wqinspect check` on real kernels: every invariant holds, and the model predicts every scenario."""

import json
import subprocess

import pytest

from .conftest import READINGS, reading
from .kernelrun import scenario_args, wqinspect_argv


def violations(report: dict) -> list[str]:
    return [f"{r['check']} {r['object']}: expected {r['expected']}, found {r['found']}"
            for r in report["results"] if r["verdict"] == "violated"]


@pytest.mark.parametrize("mode", READINGS)
def test_check_and_predictions(run, mode):
    """The snapshot read in each mode passes every invariant and matches the model's prediction of every
    scenario, replayed with this kernel's features."""
    r = reading(run, "scenarios", mode)
    path = run.dir / f"scenarios-{mode}.json"
    p = subprocess.run(wqinspect_argv() + ["check", "--json", "--from", str(path), *scenario_args()],
                       capture_output=True, text=True)
    report = json.loads(p.stdout)
    assert p.returncode == 0, "\n".join(violations(report))
    checked = {c["check"]: c["checked"] for c in report["checks"]}
    assert all(checked[f"scenario.{n}"] == 1 for n in ("saturate", "flush", "barrier")), checked
    assert r.snapshot["kernel"]["release"] == report["kernel"]["release"]


def test_check_live(run):
    """Straight on the live guest through QMP (paused), with the scenarios: exit code 0."""
    if ("scenarios", "qmp") not in run.checks:
        pytest.skip("MODES has no qmp")
    c = run.checks[("scenarios", "qmp")]
    assert c.exit_code == 0 and c.report["ok"], "\n".join(violations(c.report))


def test_idle_kernel_passes_check(run):
    """After rmmod, read live while the guest runs: no violation (a race is re-read, at worst transient)."""
    if ("unloaded", "qmp") not in run.checks:
        pytest.skip("MODES has no qmp")
    c = run.checks[("unloaded", "qmp")]
    assert c.exit_code == 0, "\n".join(violations(c.report))
