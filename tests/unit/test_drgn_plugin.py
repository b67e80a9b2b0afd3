# SPDX-License-Identifier: LGPL-2.1-or-later
"""The ``wq`` commands inside drgn and the Python API, offline (tests/vm/test_drgn.py runs them in drgn's CLI)."""

import importlib.metadata
import json
import tomllib
from pathlib import Path

import drgn
import pytest
from drgn.commands import DEFAULT_COMMAND_NAMESPACE

from wqinspect import api, drgn_plugin

from .conftest import SNAPSHOTS

SNAP = str(SNAPSHOTS / "sid-scenarios.json")
REPO = Path(__file__).resolve().parents[2]


def test_entry_point_is_declared_and_installed():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["drgn.plugins"] == {"wqinspect": "wqinspect.drgn_plugin"}
    installed = {e.name: e.value for e in importlib.metadata.entry_points(group="drgn.plugins")}
    assert installed.get("wqinspect") == "wqinspect.drgn_plugin", "reinstall: pip install -e ."


def test_wq_is_a_linux_kernel_command():
    cmd = DEFAULT_COMMAND_NAMESPACE._commands["wq"]
    assert not cmd.enabled(drgn.Program())  # drgn's convention: kernel commands only on a kernel
    assert "workqueues" in cmd.description()
    help_text = cmd.format_help()
    lines = help_text.splitlines()
    for name, text in drgn_plugin.SUBCOMMANDS:
        assert any(line.split() == [name, *text.split()] for line in lines), name
    assert cmd.format_usage().startswith("wq ")


def test_crash_mode_has_wq_too():
    common = pytest.importorskip("drgn.commands._crash.common")
    assert "wq" in common.CRASH_COMMAND_NAMESPACE._commands


def test_subcommands_are_the_command_lines():
    from wqinspect.cli import main

    for name, _ in drgn_plugin.SUBCOMMANDS:
        assert name in main.commands, name


def run(args, capsys):
    rc = drgn_plugin.run(drgn.Program(), args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_a_command_runs_and_returns_its_exit_code(capsys):
    rc, out, err = run(["workqueues", "--from", SNAP, "-j"], capsys)
    assert rc == 0, err
    assert {w["name"] for w in json.loads(out)["workqueues"]} >= {"events", "wqi_flush"}
    rc, out, err = run(["check", "--from", SNAP], capsys)
    assert rc == 0, err


def test_drgn_chooses_the_kernel(capsys):
    for opt in (["-c", "vmcore"], ["-s", "vmlinux"], ["-k"], ["--qemu", "sock"], ["--debuginfod"]):
        rc, _, err = run(["pools", *opt], capsys)
        assert rc == 2 and "inside drgn, wq reads drgn's program" in err, (opt, err)
        assert len(err.strip().splitlines()) == 1


def test_help_hides_what_drgn_chooses(capsys):
    rc, out, _ = run(["help", "pools"], capsys)
    assert rc == 0 and "Usage: wq pools" in out and "--from" in out
    assert "--core" not in out and "--vmcoreinfo" not in out
    # ... and only inside drgn.
    from wqinspect.cli import main

    assert not any(p.hidden for p in main.commands["pools"].params if p.name == "core")


def test_overview(capsys):
    for args in ([], ["help"], ["--help"]):
        rc, out, _ = run(args, capsys)
        assert rc == 0 and "wq help COMMAND" in out
        assert all(name in out for name, _ in drgn_plugin.SUBCOMMANDS)


def test_usage_error_is_exit_2(capsys):
    rc, _, err = run(["works", "--no-such-option"], capsys)
    assert rc == 2 and "No such option" in err
    rc, _, err = run(["nonsense"], capsys)
    assert rc == 2


@pytest.mark.parametrize("args,argv", [
    (["monitor"], ["monitor", "-i", "0"]),
    (["monitor", "events"], ["monitor", "events", "-i", "0"]),
    (["monitor", "1", "5"], ["monitor", "1", "5"]),
    (["monitor", "-i", "2"], ["monitor", "-i", "2"]),
    (["pools", "-j"], ["pools", "-j"]),
    (["help", "works"], ["works", "--help"]),
])
def test_monitor_prints_one_sample_unless_told(args, argv):
    assert drgn_plugin._argv(args) == argv


def test_api_on_a_snapshot(tmp_path):
    snap = api.load(SNAP)
    assert isinstance(snap, api.Snapshot) and snap.workqueues and isinstance(snap.workqueues[0], api.Workqueue)
    report = api.check(snap)
    assert report.results and not report.violated
    found = api.diagnose(snap)
    assert found and all(isinstance(f, api.Finding) for f in found)
    api.save(snap, str(tmp_path / "s.json"))
    assert api.load(str(tmp_path / "s.json")).workqueues == snap.workqueues
    with pytest.raises(api.SnapshotError):
        api.load(str(tmp_path / "missing.json"))
    assert issubclass(api.TargetError, Exception)
    for name in api.__all__:
        assert getattr(api, name) is not None, name
