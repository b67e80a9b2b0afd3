# SPDX-License-Identifier: LGPL-2.1-or-later
"""A one-line status on stderr while drgn loads debug info and a capture runs: on a terminal only."""

import io
import os
import pty
import re
import subprocess
import sys
import time

from wqinspect import cli

from .test_cli_errors import elf_core


class Tty(io.StringIO):
    def isatty(self):
        return True

    def fileno(self):
        raise io.UnsupportedOperation


def test_status_on_a_terminal(monkeypatch):
    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.delenv("WQI_DEBUG", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    with cli.status("opening the kernel") as say:
        time.sleep(0.3)
        say("loading debug info for 6.12.0")
        time.sleep(0.3)
    text = err.getvalue()
    assert "wqinspect: opening the kernel" in text and "loading debug info for 6.12.0" in text


def test_nothing_when_stderr_is_not_a_terminal(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with cli.status("opening the kernel") as say:
        say("loading debug info")
    assert err.getvalue() == ""


def test_status_then_one_clean_error_line_on_a_terminal(tmp_path):
    """Through a real pseudo-terminal: the status shows while the kernel is opened, then is erased; the
    error stays one line."""
    info = tmp_path / "vmcoreinfo"
    info.write_text("OSRELEASE=6.8.5-301.fc40.x86_64\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffffffff82a0c000\n"
                    "KERNELOFFSET=0\n")
    core = elf_core(tmp_path / "core", [(4, 0x1000, 0x100)], 0x2000)
    main, sub = pty.openpty()
    p = subprocess.run([sys.executable, "-m", "wqinspect", "pools", "-c", core, "--vmcoreinfo", str(info)],
                       stdout=subprocess.PIPE, stderr=sub, text=True, timeout=120,
                       env={**os.environ, "TERM": "xterm", "WQI_DEBUG": ""})
    os.close(sub)
    err = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(main)
    text = err.decode(errors="replace")
    assert p.returncode == 2 and p.stdout == ""
    assert "opening core" in text or "loading debug info" in text, text
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("wqinspect: no debug info for kernel 6.8.5-301.fc40.x86_64"), text
