# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small kernel with the workqueue watchdog, built from Debian's linux-source-6.12.

Debian's kernels are built without CONFIG_WQ_WATCHDOG, so the kernel's own
"BUG: workqueue lockup" verdict, which ``wqinspect diagnose`` must agree with,
needs a kernel of our own: ``make ARCH=x86_64 tinyconfig`` plus
``testbed/watchdog.config``, built with the host's gcc.  The result is
cached like the Debian kernels, under ``kernels/watchdog-<key>/``, where the
key covers the source package version, the fragment, the recipe version
(:data:`RECIPE`) and the compiler; only the current entry is kept.  The module build tree
(scripts/package/install-extmod-build) takes the place of the headers.
"""

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from . import TestbedError
from .debian import AptSuite
from .kernels import Kernel
from .paths import cache_dir
from .timing import TIMINGS

SOURCE_PACKAGE = "linux-source-6.12"
SUITE = "bookworm"  # bookworm-security carries linux-source-6.12
FRAGMENT = Path(__file__).with_name("watchdog.config")


def _apt() -> AptSuite:
    from .kernels import _apt_updated

    return _apt_updated(SUITE)


#: Bump when a change to _build() or _configure() changes what they produce.
RECIPE = 1


def _key(version: str) -> str:
    cc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    h = hashlib.sha256()
    for part in (version, FRAGMENT.read_text(), str(RECIPE), cc):
        h.update(part.encode())
    return h.hexdigest()[:12]


def _load(entry: Path) -> Kernel | None:
    try:
        meta = json.loads((entry / "complete.json").read_text())
    except (OSError, ValueError):
        return None
    return Kernel("watchdog", meta["release"], entry)


def ensure(jobs: int | None = None) -> Kernel:
    """The watchdog kernel, built if the cache lacks the current one (about 5 minutes on 2 cores)."""
    with TIMINGS.step("resolve", "watchdog kernel"):
        version = _apt().version(SOURCE_PACKAGE)
    kernels = cache_dir() / "kernels"
    entry = kernels / f"watchdog-{_key(version)}"
    k = _load(entry)
    if k is None:
        with TIMINGS.step("build watchdog kernel", version):
            k = _build(version, entry, jobs or os.cpu_count() or 1)
    for old in kernels.glob("watchdog-*"):
        if old != entry:
            shutil.rmtree(old, ignore_errors=True)
    return k


def _make(src: Path, build: Path, *targets: str, jobs: int = 1) -> None:
    p = subprocess.run(["make", "-C", str(src), f"O={build}", "ARCH=x86_64", f"-j{jobs}", *targets],
                       capture_output=True, text=True)
    (build / "make.log").open("a").write(p.stdout + p.stderr)
    if p.returncode != 0:
        tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-25:])
        raise TestbedError(f"building the watchdog kernel failed at 'make {' '.join(targets)}':\n{tail}")


def _configure(src: Path, build: Path) -> None:
    _make(src, build, "tinyconfig")
    wanted = {}
    for line in FRAGMENT.read_text().splitlines():
        m = re.match(r"(CONFIG_\w+)=(.*)", line)
        if m:
            wanted[m.group(1)] = m.group(2)
    config = build / ".config"
    for opt, val in wanted.items():
        # Choices need the other members off, hence -d for "n" and -e for "y".
        flag = {"y": ["-e", opt], "n": ["-d", opt]}.get(val, ["--set-val", opt, val])
        subprocess.run([str(src / "scripts" / "config"), "--file", str(config), *flag], check=True)
    _make(src, build, "olddefconfig")
    text = config.read_text()
    for opt, val in wanted.items():
        have = re.search(rf"^{opt}=(.*)$", text, re.M)
        if (val == "n" and have) or (val != "n" and (not have or have.group(1) != val)):
            raise TestbedError(f"the watchdog kernel's config did not take {opt}={val} "
                               f"(got {have.group(0) if have else 'unset'})")


def _build(version: str, entry: Path, jobs: int) -> Kernel:
    work = entry.parent / f".{entry.name}.tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        deb, = _apt().download([SOURCE_PACKAGE], work / "debs")
        src = work / "src"
        src.mkdir()
        t0 = time.monotonic()
        # The package holds one tarball, ./usr/src/linux-source-6.12.tar.xz: stream it out and unpack it.
        p = subprocess.run(f"dpkg-deb --fsys-tarfile {shlex.quote(str(deb))} | tar -xO --wildcards "
                           f"'./usr/src/linux-source-*.tar.xz' | tar -xJ -C {shlex.quote(str(src))}",
                           shell=True, capture_output=True, text=True)
        if p.returncode != 0:
            raise TestbedError(f"unpacking {deb.name} failed: {p.stderr.strip()[-500:]}")
        (src,) = [d for d in src.iterdir() if d.is_dir()]
        build = work / "build"
        build.mkdir()
        _configure(src, build)
        _make(src, build, "bzImage", "modules", jobs=jobs)  # modules: modpost writes Module.symvers
        release = (build / "include" / "config" / "kernel.release").read_text().strip()
        out = work / "out"
        out.mkdir()
        shutil.copy(build / "arch" / "x86" / "boot" / "bzImage", out / "vmlinuz")
        shutil.copy(build / "vmlinux", out / "vmlinux")
        shutil.copy(build / ".config", out / "config")
        shutil.copy(build / "System.map", out / "System.map")
        kbuild = out / "headers" / "usr" / "src" / f"linux-headers-{release}"
        env = dict(os.environ, srctree=str(src), SRCARCH="x86", CC="gcc", HOSTCC="gcc", MAKE="make")
        p = subprocess.run(["sh", str(src / "scripts" / "package" / "install-extmod-build"), str(kbuild)],
                           cwd=build, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            raise TestbedError(f"install-extmod-build failed: {p.stderr.strip()[-1500:]}")
        shutil.copy(build / ".config", kbuild / ".config")
        (out / "root" / "lib" / "modules" / release).mkdir(parents=True)
        (out / "complete.json").write_text(json.dumps({
            "suite": "watchdog", "release": release, "source": f"{SOURCE_PACKAGE} {version}",
            "build_seconds": round(time.monotonic() - t0, 1), "built": time.time()}, indent=1))
        shutil.rmtree(entry, ignore_errors=True)
        out.rename(entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    k = _load(entry)
    assert k is not None
    return k


STALL_SCRIPT = """
cs=/sys/devices/system/clocksource/clocksource0/current_clocksource; i=0
# The TSC clocksource switch runs stop_machine(): let it happen before CPU 1 is held.
while [ "$(cat $cs)" != tsc ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo 5 > /sys/module/workqueue/parameters/watchdog_thresh
taskset 1 insmod /test/wqi.ko scenarios=stall stall_cpu=1 stall_ms=40000
"""


#: The console's last line of a panic (printed before the final loop).
END_PANIC_LINE = "---[ end Kernel panic"


def run_stall(kernel: Kernel, out: Path, *, panic: bool = False) -> tuple[str, Path, list[Path]]:
    """Boot the watchdog kernel with the stall scenario, wait for the kernel's lockup report, dump.

    With ``panic``, the ``stall-panic`` crash scenario: the guest boots with
    ``workqueue.panic_on_stall=1``, so that the watchdog's first lockup report ends in ``BUG_ON()``
    (``panic_on_wq_watchdog()``, upstream commit 073107b39e55 "workqueue: add cmdline parameter
    workqueue.panic_on_stall", backported to 6.12.y) and a panic in the timer softirq; the dump is
    taken once the panic has printed its last line.  Returns the console text, the kdump file and
    the debug files (vmlinux, wqi.ko).
    """
    from . import initramfs, kbuild
    from .guest import Guest
    from .paths import BUILD

    with TIMINGS.step("build modules", kernel.release):
        mods = kbuild.build_modules(kernel, out=BUILD / "kmod" / f"watchdog-{kernel.release}")
    out.mkdir(parents=True, exist_ok=True)
    initrd = initramfs.build(out / "initrd.gz", [], {"/test/wqi.ko": mods["wqi"]})
    name = "stall-panic" if panic else "stall"
    core = out / f"{name}.kdump-zlib"
    # panic=0: a panicked guest stays in its final loop (the test bed's guests otherwise reboot, and
    # -no-reboot ends QEMU), to be dumped.
    cmdline = "panic=0 workqueue.panic_on_stall=1" if panic else ""
    with TIMINGS.step("boot", f"{kernel.release} {name}"):
        g = Guest(f"watchdog-{name}", kernel.vmlinuz, initrd, memory_mb=512, hostroot=False, agent=False,
                  run=STALL_SCRIPT, cmdline=cmdline).start()
    try:
        with TIMINGS.step("wait for lockup", f"{kernel.release} {name}"):
            deadline = time.monotonic() + 90
            done = (lambda text: END_PANIC_LINE in text) if panic else (lambda text: "BUG: workqueue lockup" in text)
            while not done(g.console_text()):
                if time.monotonic() > deadline:
                    what = "did not panic on its lockup report" if panic else "reported no lockup"
                    raise TestbedError(f"the watchdog kernel {what} within 90 s\n{g.tail()}")
                time.sleep(0.2)
            if not panic:
                time.sleep(2)  # let the workqueue dump that follows the report finish printing
        g.pause()
        with TIMINGS.step("dump kdump-zlib", f"{kernel.release} {name}"):
            g.dump(core, "kdump-zlib")
        (out / f"{name}.console.log").write_text(g.console_text())
        return g.console_text(), core, [kernel.vmlinux, mods["wqi"]]
    finally:
        g.stop()
