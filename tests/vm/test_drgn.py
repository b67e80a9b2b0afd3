# SPDX-License-Identifier: LGPL-2.1-or-later
"""wqinspect inside drgn's own CLI, on each kernel's real vmcore: the `wq` commands (drgn plugin) and the
Python API, against what the wqinspect command prints for the same dump."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .kernelrun import wqinspect_argv
from .test_errors import core

DRGN = Path(sys.executable).parent / "drgn"

SCRIPT = """
import json
from drgn.commands import run_command
from wqinspect import api

out = {OUT!r}
rcs = {{}}
for name, cmd in [("workqueues", "wq workqueues -j"), ("works", "wq works -j"), ("check", "wq check -j"),
                  ("diagnose", "wq diagnose -j"), ("monitor", "wq monitor -j wqi"),
                  ("crash", "crash wq pools -j"), ("bad", "wq pools -c elsewhere")]:
    rcs[name] = run_command(prog, f"{{cmd}} > {{out}}/{{name}}.out 2> {{out}}/{{name}}.err")
run_command(prog, f"wq help works > {{out}}/help.out")
snap = api.capture(prog, deep=True)
api.save(snap, f"{{out}}/api.json")
report, found = api.check(snap), api.diagnose(snap)
with open(f"{{out}}/result.json", "w") as f:
    json.dump({{"rcs": rcs, "violated": len(report.violated), "checked": len(report.results),
               "findings": sorted(x.signature for x in found)}}, f)
"""


@pytest.fixture(scope="module")
def in_drgn(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("drgn")
    c = core(run)
    from wqinspect.kdump import libkdumpfile_reason, symbols_platform

    reason = libkdumpfile_reason(str(c), symbols_platform([str(run.prepared.kernel.vmlinux)]))
    if reason:  # drgn's own CLI reads kdump files only with libkdumpfile
        pytest.skip(f"drgn's CLI cannot open this kernel's kdump file: {reason} (wqinspect reads it itself)")
    # drgn's own options choose the kernel (QEMU's kdump files name no architecture).
    p = subprocess.run([str(DRGN), "-q", "--architecture", "x86_64", "-c", str(c), *run.symbols(),
                        "-e", SCRIPT.format(OUT=str(out))], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    return out, result


def cli(run, *args, ok=(0,)):
    p = subprocess.run(wqinspect_argv() + [*args, "-c", str(core(run)), *run.symbols()], capture_output=True,
                       text=True, timeout=600)
    assert p.returncode in ok, p.stderr
    return p


def test_wq_commands_print_what_wqinspect_prints(run, in_drgn):
    out, result = in_drgn
    assert result["rcs"]["workqueues"] == 0 and result["rcs"]["works"] == 0
    for cmd, key in (("workqueues", "workqueues"), ("works", "works")):
        inside = json.loads((out / f"{cmd}.out").read_text())
        outside = json.loads(cli(run, cmd, "-j").stdout)
        assert inside[key] == outside[key], cmd
        assert inside["target"]["mode"] == "vmcore" and inside["target"]["source"] == str(core(run).resolve())
    # The scenarios' work items, with their functions' names (wqi.ko's debug info, given to drgn with -s).
    assert any(((w["func"] or {}).get("name") or "").startswith("wqi_") for w in inside["works"])


def test_check_and_diagnose_return_their_exit_codes(run, in_drgn):
    out, result = in_drgn
    outside = cli(run, "check", "-j", ok=(0, 1))
    assert result["rcs"]["check"] == outside.returncode
    inside = json.loads((out / "check.out").read_text())
    assert {k: inside[k] for k in ("checks", "results", "ok")} == \
        {k: json.loads(outside.stdout)[k] for k in ("checks", "results", "ok")}
    outside = cli(run, "diagnose", "-j", ok=(0, 1))
    assert result["rcs"]["diagnose"] == outside.returncode
    signatures = sorted(f["signature"] for f in json.loads(outside.stdout)["findings"])
    assert sorted(f["signature"] for f in json.loads((out / "diagnose.out").read_text())["findings"]) == signatures
    # The API finds the same.
    assert result["findings"] == signatures and result["checked"] > 100


def test_monitor_prints_one_sample(in_drgn):
    out, result = in_drgn
    lines = (out / "monitor.out").read_text().splitlines()
    assert result["rcs"]["monitor"] == 0 and len(lines) == 1
    names = [w["name"] for w in json.loads(lines[0])["workqueues"]]
    assert names and all("wqi" in n for n in names)


def test_crash_mode_and_errors(in_drgn):
    out, result = in_drgn
    assert result["rcs"]["crash"] == 0 and json.loads((out / "crash.out").read_text())["pools"]
    assert result["rcs"]["bad"] == 2
    assert (out / "bad.err").read_text().strip() == \
        "wqinspect: inside drgn, wq reads drgn's program: give --core to drgn itself"
    help_text = (out / "help.out").read_text()
    assert "Usage: wq works" in help_text and "--vmcoreinfo" not in help_text


def test_api_snapshot_loads_in_wqinspect(run, in_drgn):
    out, _ = in_drgn
    p = subprocess.run(wqinspect_argv() + ["workqueues", "-j", "--from", str(out / "api.json")], capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    outside = json.loads(cli(run, "workqueues", "-j").stdout)
    assert json.loads(p.stdout)["workqueues"] == outside["workqueues"]
