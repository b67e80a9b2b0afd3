# SPDX-License-Identifier: LGPL-2.1-or-later
"""The kernel's own drgn scripts (tools/workqueue/wq_monitor.py, wq_dump.py), from Debian's linux-source.

wqinspect's monitor and topology are tested for parity with these scripts,
taken from the linux-source package of the kernel's own suite and release
series (e.g. linux-source-7.2 from sid for a sid 7.2 kernel), kept in
``<cache>/tools/<package version>/`` and never copied into the project.
Kernels whose source has no tools/workqueue (before v6.5) have none.
"""

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from . import TestbedError
from .kernels import KERNEL_SUITES, Kernel, _apt_updated
from .paths import cache_dir

SCRIPTS = ("wq_monitor.py", "wq_dump.py")


def source_package(kernel: Kernel) -> str:
    m = re.match(r"(\d+\.\d+)", kernel.release)
    if not m:
        raise TestbedError(f"cannot tell the source series of {kernel.release}")
    return f"linux-source-{m.group(1)}"


def workqueue_tools(kernel: Kernel) -> dict[str, Path]:
    """{script name: path} of tools/workqueue in the kernel's source package ({} if it has none)."""
    apt = _apt_updated(KERNEL_SUITES.get(kernel.suite, kernel.suite))
    pkg = source_package(kernel)
    version = apt.version(pkg)
    d = cache_dir() / "tools" / f"{pkg}_{version}"
    meta = d / "complete.json"
    if not meta.exists():
        tmp = d.with_name(d.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            deb, = apt.download([pkg], tmp)
            # The package holds one tarball of the whole source tree: unpack only tools/workqueue.
            cmd = (f"dpkg-deb --fsys-tarfile {shlex.quote(str(deb))} | tar -xO --wildcards "
                   f"'./usr/src/linux-source-*.tar.xz' | tar -xJ -C {shlex.quote(str(tmp))} "
                   f"--wildcards '*/tools/workqueue/*'")
            subprocess.run(cmd, shell=True, capture_output=True)  # no match (before v6.5) is not an error
            found = []
            for name in SCRIPTS:
                hits = list(tmp.glob(f"*/tools/workqueue/{name}"))
                if hits:
                    hits[0].rename(tmp / name)
                    found.append(name)
            deb.unlink()
            (tmp / "complete.json").write_text(json.dumps({"package": pkg, "version": version, "scripts": found}))
            shutil.rmtree(d, ignore_errors=True)
            tmp.rename(d)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for old in d.parent.glob(f"{pkg}_*"):
            if old != d:
                shutil.rmtree(old, ignore_errors=True)
    scripts = json.loads(meta.read_text())["scripts"]
    return {name: d / name for name in scripts}
