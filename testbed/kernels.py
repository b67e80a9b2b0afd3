# SPDX-License-Identifier: LGPL-2.1-or-later
"""Debian cloud kernels, resolved each run and kept in a bounded cache.

A cache entry is ``<cache>/kernels/<release>/`` and holds::

    vmlinuz  config  System.map      the kernel image and its build facts
    vmlinux                          with DWARF, from the -dbg package
    root/lib/modules/<release>/      modules, with depmod run on them
    headers/usr/src/linux-headers-<release>/   for building the test modules
    hostlibc/                        only when the kbuild helpers need a newer glibc
    complete.json                    written last: an entry without it is never used

Entries are built in a temporary directory and renamed into place, so an
interrupted download leaves nothing that looks complete.  When a suite moves
to a new release, the suite's older entries are deleted.
"""

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import TestbedError
from .debian import AptSuite
from .paths import cache_dir

META_PACKAGE = "linux-image-cloud-amd64"


@dataclass(frozen=True)
class Kernel:
    suite: str
    release: str
    path: Path

    @property
    def vmlinuz(self) -> Path:
        return self.path / "vmlinuz"

    @property
    def vmlinux(self) -> Path:
        return self.path / "vmlinux"

    @property
    def config(self) -> Path:
        return self.path / "config"

    @property
    def modules_root(self) -> Path:
        """The directory that holds ``lib/modules/<release>``."""
        return self.path / "root"

    @property
    def headers(self) -> Path:
        return self.path / "headers" / "usr" / "src" / f"linux-headers-{self.release}"

    def config_value(self, option: str) -> str | None:
        m = re.search(rf"^{re.escape(option)}=(.*)$", self.config.read_text(), re.M)
        return m.group(1).strip('"') if m else None

    def describe(self) -> str:
        return f"{self.suite} {self.release}"


def _apt(suite: str) -> AptSuite:
    return AptSuite(suite, cache_dir() / "apt" / suite)


_updated: set[str] = set()


def _apt_updated(suite: str) -> AptSuite:
    apt = _apt(suite)
    if suite not in _updated:
        apt.update()
        _updated.add(suite)
    return apt


def resolve(suite: str) -> str:
    """The release (``uname -r``) of ``suite``'s current cloud kernel."""
    apt = _apt_updated(suite)
    for dep in apt.depends(META_PACKAGE):
        if re.match(r"linux-image-\d", dep):
            return dep.removeprefix("linux-image-")
    raise TestbedError(f"{META_PACKAGE} in {suite} depends on no linux-image package")


def cached(release: str) -> Kernel | None:
    d = cache_dir() / "kernels" / release
    try:
        meta = json.loads((d / "complete.json").read_text())
    except (OSError, ValueError):
        return None
    return Kernel(meta["suite"], release, d)


def ensure(suite: str, timings=None) -> Kernel:
    """Return ``suite``'s current kernel, downloading it if the cache lacks it."""
    from .timing import TIMINGS

    timings = timings or TIMINGS
    with timings.step("resolve", suite):
        release = resolve(suite)
    k = cached(release)
    if k is None:
        with timings.step("fetch kernel", release):
            k = _fetch(suite, release)
    _prune(suite, release)
    return k


def _packages(apt: AptSuite, release: str) -> tuple[list[str], str, list[str]]:
    image = f"linux-image-{release}"
    # 7.x splits the image into linux-binary/-modules/-base packages.
    split = [d for d in apt.depends(image) if re.fullmatch(rf"linux-(binary|modules|base)-{re.escape(release)}", d)]
    headers = f"linux-headers-{release}"
    hdeps = [d for d in apt.depends(headers)
             if re.fullmatch(r"linux-headers-.*-common(-rt)?", d) or d.startswith("linux-kbuild-")]
    return split or [image], f"{image}-dbg", [headers, *hdeps]


def _fetch(suite: str, release: str) -> Kernel:
    apt = _apt_updated(suite)
    kernels = cache_dir() / "kernels"
    final = kernels / release
    tmp = kernels / f".{release}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "x").mkdir(parents=True)
    try:
        image_pkgs, dbg_pkg, header_pkgs = _packages(apt, release)
        image_debs = apt.download(image_pkgs, tmp / "debs")
        header_debs = apt.download(header_pkgs, tmp / "debs")
        dbg_deb, = apt.download([dbg_pkg], tmp / "debs")
        for deb in image_debs:
            _run(["dpkg-deb", "-x", str(deb), str(tmp / "x")])
        _install_image(tmp, release)
        _extract_vmlinux(dbg_deb, release, tmp / "vmlinux")
        for deb in header_debs:
            _run(["dpkg-deb", "-x", str(deb), str(tmp / "headers")])
        _fix_headers(apt, tmp, final, release)
        versions = {p: apt.version(p) for p in [*image_pkgs, dbg_pkg, *header_pkgs]}
        shutil.rmtree(tmp / "x")
        shutil.rmtree(tmp / "debs")
        (tmp / "complete.json").write_text(json.dumps(
            {"suite": suite, "release": release, "packages": versions, "fetched": time.time()}, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        try:
            tmp.rename(final)
        except OSError:
            if cached(release) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    k = cached(release)
    assert k is not None
    return k


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise TestbedError(f"{' '.join(cmd[:3])} failed: {p.stderr.strip()[-400:]}")
    return p


def _first(*paths: Path) -> Path:
    for p in paths:
        if p.exists():
            return p
    raise TestbedError(f"none of {', '.join(map(str, paths))} exists in the kernel packages")


def _install_image(tmp: Path, release: str) -> None:
    x = tmp / "x"
    mods = _first(x / "lib" / "modules" / release, x / "usr" / "lib" / "modules" / release)
    for name in ("vmlinuz", "config", "System.map"):
        shutil.copy(_first(x / "boot" / f"{name}-{release}", mods / name), tmp / name)
    (tmp / "root" / "lib" / "modules").mkdir(parents=True)
    mods.rename(tmp / "root" / "lib" / "modules" / release)
    _run(["depmod", "-b", str(tmp / "root"), release])


def _extract_vmlinux(dbg_deb: Path, release: str, dest: Path) -> None:
    """Stream the -dbg package and stop at the vmlinux (a symlink under the other name)."""
    wanted = {f"./usr/lib/debug/boot/vmlinux-{release}", f"./usr/lib/debug/lib/modules/{release}/vmlinux"}
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(dbg_deb)], stdout=subprocess.PIPE)
    found = False
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    with tar.extractfile(member) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    found = True
                    break
    finally:
        proc.kill()
        proc.wait()
    if not found:
        raise TestbedError(f"{dbg_deb.name} holds no vmlinux for {release}")


def _glibc_needed(path: Path) -> tuple[int, int] | None:
    p = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True)
    versions = [tuple(map(int, m)) for m in re.findall(r"GLIBC_(\d+)\.(\d+)", p.stdout)]
    return max(versions) if versions else None


def _host_glibc() -> tuple[int, int]:
    v = os.confstr("CS_GNU_LIBC_VERSION").split()[-1]
    major, minor = v.split(".")[:2]
    return int(major), int(minor)


def _fix_headers(apt: AptSuite, tmp: Path, final: Path, release: str) -> None:
    """Make the extracted headers usable where they are, on this host."""
    hdr_root = tmp / "headers"
    flavour = hdr_root / "usr" / "src" / f"linux-headers-{release}"
    # The flavour Makefile includes the -common tree by its absolute /usr/src path.
    mk = flavour / "Makefile"
    mk.write_text(mk.read_text().replace("/usr/src/", f"{final}/headers/usr/src/"))
    # Kbuild helpers of newer suites may need a newer glibc than the host's: run
    # those with the suite's own dynamic loader and libc, kept in the entry.
    host = _host_glibc()
    needy = []
    for f in sorted((hdr_root / "usr" / "lib").glob("linux-kbuild-*/**/*")):
        if f.is_file() and not f.is_symlink() and f.read_bytes()[:4] == b"\x7fELF":
            need = _glibc_needed(f)
            if need and need > host:
                needy.append(f)
    if not needy:
        return
    libc_deb, = apt.download(["libc6"], tmp / "debs" / "libc")
    _run(["dpkg-deb", "-x", str(libc_deb), str(tmp / "hostlibc")])
    ld = _first(tmp / "hostlibc" / "usr" / "lib" / "x86_64-linux-gnu" / "ld-linux-x86-64.so.2",
                tmp / "hostlibc" / "lib" / "x86_64-linux-gnu" / "ld-linux-x86-64.so.2")
    libdir = final / ld.parent.relative_to(tmp)
    for f in needy:
        real = f.with_name(f.name + ".real")
        f.rename(real)
        f.write_text(
            "#!/bin/sh\n# run with the libc of the kernel's own suite (see testbed/kernels.py)\n"
            f'exec {libdir}/ld-linux-x86-64.so.2 --library-path {libdir}:/usr/lib/x86_64-linux-gnu:'
            f'/lib/x86_64-linux-gnu {final / real.relative_to(tmp)} "$@"\n')
        f.chmod(0o755)


def _prune(suite: str, keep: str) -> None:
    kernels = cache_dir() / "kernels"
    for d in kernels.iterdir() if kernels.is_dir() else ():
        if d.name.startswith("."):
            m = re.search(r"\.tmp-(\d+)$", d.name)
            if m and not Path(f"/proc/{m.group(1)}").exists():
                shutil.rmtree(d, ignore_errors=True)
            continue
        k = cached(d.name)
        if k is not None and k.suite == suite and k.release != keep:
            shutil.rmtree(d, ignore_errors=True)
