# SPDX-License-Identifier: LGPL-2.1-or-later
"""drgn's target conventions on each kernel's real vmcore: options before or after the command, -s DIR,
--kernel-directory, --vmcoreinfo, and the hint of the kernel's distribution."""

import json
import subprocess

import pytest

from .kernelrun import wqinspect_argv
from .test_errors import core, error


def wqinspect_json(*args):
    p = subprocess.run(wqinspect_argv() + list(args), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def workqueues(doc):
    return sorted((w["name"], w["address"]) for w in doc["workqueues"])


def functions(doc):
    return {w["func"]["name"] for w in doc["works"] if w.get("func") and w["func"].get("name")}


@pytest.fixture
def reference(run):
    """`workqueues` and `works`, options after the command, -s for each file: what the others must match."""
    c = str(core(run))
    return {cmd: wqinspect_json(cmd, "--json", "-c", c, *run.symbols()) for cmd in ("workqueues", "works")}


def test_options_before_the_command(run, reference):
    doc = wqinspect_json("-c", str(core(run)), *run.symbols(), "workqueues", "-j")
    assert workqueues(doc) == workqueues(reference["workqueues"]) and len(doc["workqueues"]) > 20


def test_symbols_directory_is_searched(run, reference, tmp_path):
    """-s DIR: vmlinux-RELEASE and the modules found under DIR (a /usr/lib/debug-like tree)."""
    release = run.prepared.kernel.release
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / f"vmlinux-{release}").symlink_to(run.prepared.kernel.vmlinux)
    mods = tmp_path / "lib" / "modules" / release / "extra"
    mods.mkdir(parents=True)
    for m in run.prepared.modules.values():
        (mods / m.name).symlink_to(m)
    doc = wqinspect_json("works", "-j", "-c", str(core(run)), "-s", str(tmp_path))
    assert workqueues(wqinspect_json("workqueues", "-j", "-c", str(core(run)), "-s", str(tmp_path))) == \
        workqueues(reference["workqueues"])
    # The module's functions have names: its debug file was found in the directory.
    assert functions(doc) == functions(reference["works"]) and any(f.startswith("wqi_") for f in functions(doc))


def test_symbols_directory_without_the_kernel(run, tmp_path):
    line = error("pools", "-c", str(core(run)), "-s", str(tmp_path))
    assert f"{tmp_path} holds no file that is the vmlinux of this kernel ({run.prepared.kernel.release}" in line


def test_kernel_directory(run, reference, tmp_path):
    (tmp_path / "vmlinux").symlink_to(run.prepared.kernel.vmlinux)
    doc = wqinspect_json("--kernel-directory", str(tmp_path), "workqueues", "-j", "-c", str(core(run)))
    assert workqueues(doc) == workqueues(reference["workqueues"])


def _vmcoreinfo(run) -> bytes:
    # The kdump file's own VMCOREINFO (libkdumpfile cannot open every kernel's: see wqinspect/kdump.py).
    from wqinspect.kdump import parse

    return parse(str(core(run))).vmcoreinfo.rstrip(b"\0")


def test_vmcoreinfo(run, reference, tmp_path):
    info = tmp_path / "vmcoreinfo"
    info.write_bytes(_vmcoreinfo(run))
    doc = wqinspect_json("workqueues", "-j", "-c", str(core(run)), "--vmcoreinfo", str(info), *run.symbols())
    assert workqueues(doc) == workqueues(reference["workqueues"])


def test_hint_follows_the_kernels_distribution(run, tmp_path):
    """The same dump, its VMCOREINFO naming a Fedora kernel: the hint is Fedora's, whatever the host."""
    release = run.prepared.kernel.release
    fedora = "6.8.5-301.fc40.x86_64"
    info = tmp_path / "vmcoreinfo"
    info.write_bytes(_vmcoreinfo(run).replace(f"OSRELEASE={release}".encode(), f"OSRELEASE={fedora}".encode()))
    line = error("pools", "-c", str(core(run)), "--vmcoreinfo", str(info))
    assert f"no debug info for kernel {fedora}: run 'dnf debuginfo-install kernel-{fedora}' (Fedora)" in line
    assert "linux-image" not in line
    # Its own: Debian's package.
    assert f"install linux-image-{release}-dbg (Debian)" in error("-c", str(core(run)), "pools")


def test_running_kernel_and_vmcore_together(run):
    assert "not both" in error("-k", "pools", "-c", str(core(run)))
