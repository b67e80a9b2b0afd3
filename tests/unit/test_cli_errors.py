# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every bad input gives one line on stderr and exit code 2, never a traceback."""

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
