# SPDX-License-Identifier: LGPL-2.1-or-later
"""Build the scenario modules of ``fixtures/kmod`` for a cached kernel.

The host compiler is gcc-12 (bookworm); trixie's and sid's kernels were built
with newer gcc releases, whose options gcc-12 rejects.  When the kernel's
``CONFIG_CC_VERSION_TEXT`` names another gcc major version, the build goes
through a small wrapper that maps ``-fmin-function-alignment`` to
``-falign-functions`` and drops any other option gcc-12 reports as
unrecognized.  That is fine for a test fixture of plain C; it is not a
supported way to build production modules.  Module BTF is skipped (no pahole).
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

from . import TestbedError
from .kernels import Kernel
from .paths import BUILD, KMOD_SRC

COMPAT_CC = r'''#!/usr/bin/env python3
# gcc wrapper written by testbed/kbuild.py: run the host gcc with the options of
# a kernel built by a newer gcc, dropping those the host gcc does not know.
import os, re, subprocess, sys
args = [re.sub(r"^-fmin-function-alignment=", "-falign-functions=", a) for a in sys.argv[1:]]
dropped = set()
env = dict(os.environ, LC_ALL="C")
while True:
    p = subprocess.run([os.environ.get("WQI_HOST_CC", "gcc")] + [a for a in args if a not in dropped],
                       stderr=subprocess.PIPE, env=env)
    bad = {b.decode() for b in re.findall(rb"unrecognized command-line option '([^']+)'", p.stderr)}
    if p.returncode == 0 or not bad - dropped:
        sys.stderr.buffer.write(p.stderr)
        sys.exit(p.returncode)
    dropped |= bad
'''


def _gcc_major(text: str) -> int | None:
    m = re.search(r"gcc[^ ]* \([^)]*\) (\d+)\.", text)
    return int(m.group(1)) if m else None


#: Cross compilers (bookworm's gcc-<arch>-linux-gnu packages) for kernels of another architecture.
CROSS = {"arm64": ("arm64", "aarch64-linux-gnu-")}


def host_cc(arch: str = "amd64") -> str:
    if arch in CROSS:
        return os.environ.get("CROSS_CC", CROSS[arch][1] + "gcc")
    return os.environ.get("CC", "gcc")


def needs_compat_cc(kernel: Kernel) -> bool:
    kernel_cc = _gcc_major(kernel.config_value("CONFIG_CC_VERSION_TEXT") or "")
    if shutil.which(host_cc(kernel.arch)) is None:
        raise TestbedError(f"{host_cc(kernel.arch)} is missing: install gcc-aarch64-linux-gnu (make deps)")
    p = subprocess.run([host_cc(kernel.arch), "--version"], capture_output=True, text=True)
    host = _gcc_major(p.stdout.splitlines()[0] if p.stdout else "")
    return kernel_cc is not None and host is not None and kernel_cc != host


def build_modules(kernel: Kernel, headers: Path | None = None, out: Path | None = None) -> dict[str, Path]:
    """Build every module of fixtures/kmod; return name -> .ko path.

    ``headers`` defaults to the Debian headers in the kernel's cache entry; a
    self-built kernel passes its own module build tree.
    """
    headers = headers or kernel.headers
    out = out or BUILD / "kmod" / kernel.release
    out.mkdir(parents=True, exist_ok=True)
    for src in KMOD_SRC.iterdir():
        if src.suffix in (".c", ".h") or src.name == "Kbuild":
            if not (out / src.name).exists() or (out / src.name).read_bytes() != src.read_bytes():
                shutil.copy(src, out / src.name)
    cc = host_cc(kernel.arch)
    env = dict(os.environ)
    if needs_compat_cc(kernel):
        wrapper = out / "cc-compat"
        wrapper.write_text(COMPAT_CC)
        wrapper.chmod(0o755)
        env["WQI_HOST_CC"] = cc
        cc = str(wrapper)
    cross = [f"ARCH={CROSS[kernel.arch][0]}", f"CROSS_COMPILE={CROSS[kernel.arch][1]}"] if kernel.arch in CROSS else []
    if kernel.arch == "arm64" and cc != host_cc(kernel.arch):
        # arm64's DYNAMIC_FTRACE_WITH_CALL_OPS writes an 8-byte literal before each traced function;
        # gcc-12 does not align gcc-14's patchable entries for it and loading oopses in
        # ftrace_init_nop(): build the test modules without ftrace call sites.
        cross.append("CC_FLAGS_FTRACE=")
    cmd = ["make", "-C", str(headers), f"M={out}", *cross, f"CC={cc}", "CONFIG_DEBUG_INFO_BTF_MODULES=",
           f"-j{os.cpu_count() or 1}", "modules"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    (out / "build.log").write_text(p.stdout + p.stderr)
    kos = {ko.stem: ko for ko in out.glob("*.ko")}
    expected = {Path(s.name).stem for s in KMOD_SRC.glob("*.c")}
    if p.returncode != 0 or not expected <= set(kos):
        tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-25:])
        raise TestbedError(f"building the test modules for {kernel.describe()} failed "
                           f"(log: {out / 'build.log'}):\n{tail}")
    return kos
