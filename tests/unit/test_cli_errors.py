# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every bad input gives one line on stderr and exit code 2, never a traceback."""

import json
import os
import shutil
import struct
import subprocess
import sys

import pytest

from .conftest import SNAPSHOTS


def wqinspect(*args, env=None):
    p = subprocess.run([sys.executable, "-m", "wqinspect", *args], capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout, p.stderr


def one_line_error(rc, err, pattern):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert pattern in lines[0], lines[0]


def elf_core(path, phdrs, size):
    """A minimal 64-bit ELF core with program headers (type, offset, filesz), padded to ``size`` bytes."""
    hdr = bytearray(64)
    hdr[:4] = b"\x7fELF"
    hdr[4], hdr[5], hdr[6] = 2, 1, 1
    struct.pack_into("<HHIQQQIHHHHHH", hdr, 16, 4, 62, 1, 0, 64, 0, 0, 64, 56, len(phdrs), 0, 0, 0)
    table = b"".join(struct.pack("<IIQQQQQQ", t, 0, off, 0, 0, sz, sz, 0) for t, off, sz in phdrs)
    data = bytes(hdr) + table
    path.write_bytes(data + b"\0" * max(0, size - len(data)))
    return str(path)


def test_missing_core(tmp_path):
    one_line_error(*wqinspect("workqueues", "-c", str(tmp_path / "nope"))[::2], "no such file")


def test_not_a_vmcore(tmp_path):
    f = tmp_path / "text"
    f.write_text("hello world\n" * 10)
    one_line_error(*wqinspect("pools", "-c", str(f))[::2], "is not a vmcore")


def test_empty_file(tmp_path):
    f = tmp_path / "empty"
    f.write_bytes(b"")
    one_line_error(*wqinspect("pools", "-c", str(f))[::2], "is empty")


def test_executable_is_not_a_vmcore():
    one_line_error(*wqinspect("pools", "-c", shutil.which("true") or "/bin/true")[::2], "not a vmcore")


def test_truncated_elf_core(tmp_path):
    core = elf_core(tmp_path / "core", [(4, 0x1000, 0x100), (1, 0x2000, 0x100000)], 0x3000)
    one_line_error(*wqinspect("workqueues", "-c", core)[::2], "is truncated: the dump needs")


def test_directory_is_not_a_vmcore(tmp_path):
    one_line_error(*wqinspect("workqueues", "-c", str(tmp_path))[::2], "not a regular file")


def test_missing_symbols_file(tmp_path):
    core = elf_core(tmp_path / "core", [(4, 0x1000, 0x100)], 0x2000)
    rc, _, err = wqinspect("workqueues", "-c", core, "-s", str(tmp_path / "vmlinux"))
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_qemu_socket_missing(tmp_path):
    one_line_error(*wqinspect("workqueues", "--qemu", str(tmp_path / "qmp.sock"))[::2], "no such QMP socket")


def test_qemu_not_a_socket(tmp_path):
    f = tmp_path / "f"
    f.write_text("")
    one_line_error(*wqinspect("workqueues", "--qemu", str(f))[::2], "is not a socket")


def test_qemu_nobody_listening(tmp_path):
    import socket
    path = str(tmp_path / "s")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()  # bound, never listening
    one_line_error(*wqinspect("workqueues", "--qemu", path)[::2], "nothing listens on")


def test_core_and_qemu_together(tmp_path):
    one_line_error(*wqinspect("workqueues", "-c", "a", "--qemu", "b")[::2], "either --core or --qemu")


def test_from_with_core():
    one_line_error(*wqinspect("workqueues", "--from", "x.json", "-c", "core")[::2], "takes no --core")


def test_from_bad_json(tmp_path):
    f = tmp_path / "s.json"
    f.write_text("[1, 2")
    one_line_error(*wqinspect("workqueues", "--from", str(f))[::2], "is not JSON")


def test_from_wrong_schema(tmp_path):
    f = tmp_path / "s.json"
    f.write_text('{"schema": 0}')
    one_line_error(*wqinspect("workqueues", "--from", str(f))[::2], "schema 0 is not supported")


def test_live_kernel_needs_root(monkeypatch):
    from click.testing import CliRunner

    from wqinspect.cli import main

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os.path, "exists", lambda p: True if p == "/proc/kcore" else os.path.lexists(p))
    r = CliRunner().invoke(main, ["workqueues"])
    assert r.exit_code == 2
    assert "needs root" in r.output and "sudo" in r.output


def test_usage_error_exit_code():
    rc, _, err = wqinspect("works", "--pool", "notanumber", "--from", str(SNAPSHOTS / "sid-scenarios.json"))
    assert rc == 2 and "Traceback" not in err


SID = str(SNAPSHOTS / "sid-scenarios.json")


def test_pattern_that_is_not_a_regex():
    for cmd in ("workqueues", "monitor"):
        rc, out, err = wqinspect(cmd, "[", "--from", SID, "--json")
        assert rc == 2 and out == "" and "not a regular expression" in err and "Traceback" not in err


def test_output_that_cannot_be_written(tmp_path):
    one_line_error(*wqinspect("snapshot", "-o", str(tmp_path / "no" / "s.json"), "--from", SID)[::2],
                   "cannot write")
    one_line_error(*wqinspect("snapshot", "-o", str(tmp_path), "--from", SID)[::2], "cannot write")
    one_line_error(*wqinspect("monitor", "--prometheus", "-o", str(tmp_path / "no" / "x.prom"), "--from", SID)[::2],
                   "cannot write")
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_monitor_formats_and_sort_keys():
    rc, _, err = wqinspect("monitor", "--json", "--prometheus", "--from", SID)
    assert rc == 2 and "choose one" in err
    rc, _, err = wqinspect("monitor", "--sort", "total", "--from", str(SNAPSHOTS / "bookworm-scenarios.json"))
    assert rc == 2 and "needs the workqueue statistics" in err
    rc, out, _ = wqinspect("monitor", "--sort", "inactive", "--top", "1", "--json", "--from",
                           str(SNAPSHOTS / "bookworm-scenarios.json"))
    assert rc == 0 and json.loads(out)["workqueues"][0]["name"] == "wqi_saturate"  # 5 inactive: the most on 6.1


def test_unknown_names_in_works():
    one_line_error(*wqinspect("works", "--wq", "nope", "--from", SID)[::2], "no workqueue named 'nope'")
    one_line_error(*wqinspect("works", "--pool", "999", "--from", SID)[::2], "no pool 999")


@pytest.mark.parametrize("text,message", [
    ('{"operations": 5}', "is not a scenario file"),
    ('{"operations": [{"op": "bogus"}]}', "allocates no workqueue"),
    ('{"operations": [{"op": "alloc_workqueue"}]}', 'operation 1 (alloc_workqueue) needs "wq"'),
    ('{"operations": [{"op": "alloc_workqueue", "wq": "x", "requires": 5}]}', 'needs "wq", a name (and "requires"'),
    ('{"operations": [{"op": "alloc_workqueue", "wq": "x"}], "funcs": [1]}', '"funcs" must be an object'),
    ('{"operations": [{"op": "alloc_workqueue", "wq": "x", "flags": []}, {"op": "bogus"}]}',
     "operation 2 (bogus): unknown operation 'bogus'"),
    ('{"operations": [{"op": "alloc_workqueue", "wq": "x", "flags": []}, {"op": "queue_work_on", "wq": "x"}]}',
     "operation 2 (queue_work_on): nothing named 'cpu'"),
    ('{"operations": [{"op": "alloc_workqueue", "wq": "x", "flags": []},'
     ' {"op": "queue_work_on", "cpu": 0, "wq": "system_wq", "work": "w", "func": "f"}]}',
     "workqueue 'system_wq' is not one the scenario allocates"),
])
def test_scenario_files_the_model_cannot_replay(tmp_path, text, message):
    f = tmp_path / "sc.json"
    f.write_text(text)
    one_line_error(*wqinspect("check", "--scenario", str(f), "--from", SID)[::2], message)


def test_shipped_scenarios_outside_the_model_are_refused():
    """stall queues on a system workqueue and mayday has no operations: neither can be predicted."""
    for name in ("stall", "mayday"):
        one_line_error(*wqinspect("check", "--scenario", str(SNAPSHOTS.parent / "scenarios" / f"{name}.json"), "--from",
                                  str(SNAPSHOTS / "sid-stall.json"))[::2], f"scenario {name} ")


@pytest.mark.parametrize("doctor,message", [
    (lambda d: d.__setitem__("kernel", None), "snapshot.kernel: expected `object`, got `null`"),
    (lambda d: d["workqueues"][0].__setitem__("name", 5), "snapshot.workqueues[0].name: expected `str`, got `int`"),
    (lambda d: d["pools"][0].__setitem__("cpu", None), "snapshot.pools[0].cpu: expected `int`, got `null`"),
    (lambda d: d["workqueues"][0]["pwqs"][0].__setitem__("nr_in_flight", None),
     "nr_in_flight: expected `array`, got `null`"),
    (lambda d: d["works"][0].__setitem__("where", "bogus"), "snapshot.works[0].where: invalid enum value 'bogus'"),
    (lambda d: d["target"].__setitem__("captured_at", "yesterday"), "snapshot.target.captured_at"),
    (lambda d: d["workqueues"][0]["pwqs"][0].__setitem__("stats", {"started": "5"}),
     "stats[...]: expected `int`, got `str`"),
])
def test_doctored_snapshot_is_one_error(tmp_path, doctor, message):
    import json

    d = json.loads((SNAPSHOTS / "sid-scenarios.json").read_text())
    doctor(d)
    f = tmp_path / "s.json"
    f.write_text(json.dumps(d))
    for cmd in ("workqueues", "monitor", "check"):
        one_line_error(*wqinspect(cmd, "--from", str(f))[::2], message)


def test_the_process_ends_with_its_exit_code_and_everything_written(tmp_path):
    """The entry point ends the process without the interpreter's teardown (cli.run): what a command wrote
    is all there, to a pipe and to a file, and the exit code is the command's."""
    from click.testing import CliRunner

    from wqinspect.cli import main

    snap = str(SNAPSHOTS / "sid-scenarios.json")
    whole = CliRunner().invoke(main, ["works", "--json", "--from", snap]).output
    rc, out, _ = wqinspect("works", "--json", "--from", snap)
    assert rc == 0 and out == whole and json.loads(out)
    with open(tmp_path / "out", "w") as f:
        assert subprocess.run([sys.executable, "-m", "wqinspect", "works", "--json", "--from", snap],
                              stdout=f).returncode == 0
    assert (tmp_path / "out").read_text() == whole
    rc, _, err = wqinspect("check", "--from", snap, "--scenario", "no-such-scenario")
    assert rc == 2 and err.strip()
    assert wqinspect("--version")[0] == 0
