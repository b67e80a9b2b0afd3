# SPDX-License-Identifier: LGPL-2.1-or-later
"""One clear line and exit code 2 for bad inputs, on each kernel's real vmcore."""

import subprocess

import pytest

from testbed import kernels

from .kernelrun import wqinspect_argv


def error(*args):
    p = subprocess.run(wqinspect_argv() + list(args), capture_output=True, text=True)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    return lines[0]


def core(run):
    path = run.dir / "scenarios.kdump-zlib"
    if not path.exists():
        pytest.skip("no vmcore was taken (MODES has no vmcore)")
    return path


def test_no_debug_info_names_the_dbg_package(run):
    release = run.prepared.kernel.release
    line = error("workqueues", "-c", str(core(run)))  # drgn's own search finds nothing on this host
    assert f"linux-image-{release}-dbg" in line


def test_wrong_vmlinux(run):
    others = [k for k in (kernels.cached(d.name) for d in (run.prepared.kernel.path.parent).iterdir())
              if k is not None and k.release != run.prepared.kernel.release and k.vmlinux.exists()]
    if not others:
        pytest.skip("no other kernel's vmlinux in the cache")
    line = error("workqueues", "-c", str(core(run)), "-s", str(others[0].vmlinux))
    assert f"is the vmlinux of this kernel ({run.prepared.kernel.release}, build ID" in line


def test_truncated_vmcore(run, tmp_path):
    data = core(run).read_bytes()
    cut = tmp_path / "cut.kdump"
    cut.write_bytes(data[:len(data) // 3])
    line = error("workqueues", "-c", str(cut), "-s", str(run.prepared.kernel.vmlinux))
    assert "truncated" in line
