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

Kernels have names (KERNEL_SUITES): the suites' own (bullseye, bookworm, trixie,
sid), ``next`` (experimental's release candidate, optional) and ``arm64``
(trixie's arm64 kernel: another apt state for the architecture, busybox of the
guest's architecture in the entry, kbuild helpers of the host's).
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
from .debian import AptSuite, PackageMissing
from .paths import cache_dir

META_PACKAGE = "linux-image-cloud-amd64"


def meta_package(arch: str) -> str:
    return f"linux-image-cloud-{arch}"


@dataclass(frozen=True)
class Kernel:
    suite: str
    release: str
    path: Path
    #: Debian architecture: amd64, or arm64 (booted with qemu-system-aarch64, modules cross-built).
    arch: str = "amd64"

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
    def busybox(self) -> Path:
        """The guest's busybox: the host's, or the one fetched for another architecture."""
        own = self.path / "busybox"
        return own if own.exists() else Path("/bin/busybox")

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


def _apt(suite: str, arch: str = "amd64") -> AptSuite:
    return AptSuite(suite, cache_dir() / "apt" / (suite if arch == "amd64" else f"{suite}-{arch}"), arch)


_updated: set[tuple[str, str]] = set()


def _apt_updated(suite: str, arch: str = "amd64") -> AptSuite:
    apt = _apt(suite, arch)
    if (suite, arch) not in _updated:
        apt.update()
        _updated.add((suite, arch))
    return apt


#: Kernel names of the test bed -> the Debian suite whose cloud metapackage gives the kernel.
#: ``next`` is the release candidate that experimental carries (7.x-rc, release string without a
#: sublevel, e.g. ``7.3-cloud-amd64``); experimental may hold none, then ``next`` is unavailable.
KERNEL_SUITES = {"bookworm": "bookworm", "trixie": "trixie", "sid": "sid", "bullseye": "bullseye",
                 "next": "experimental", "arm64": "trixie"}
#: Kernels of another architecture than the host's (amd64).
KERNEL_ARCHES = {"arm64": "arm64"}
#: Suites that hold only part of a distribution take their libc (for the kbuild helpers) from another.
LIBC_SUITES = {"experimental": "sid"}
#: Kernels that may be missing from the archive without that being a failure.
OPTIONAL = frozenset({"next"})
#: How many older releases of a suite are tried when the newest one's packages cannot be downloaded.
FALLBACKS = 3
#: Seconds before a release whose packages were missing from the archive is tried again.
MISSING_RETRY = 6 * 3600


class KernelUnavailable(TestbedError):
    """The archive has no usable kernel for this name (as opposed to a broken download or build)."""


def suite_of(name: str) -> str:
    if name not in KERNEL_SUITES:
        raise TestbedError(f"unknown kernel {name!r}: known kernels are {', '.join(KERNEL_SUITES)}")
    return KERNEL_SUITES[name]


def arch_of(name: str) -> str:
    return KERNEL_ARCHES.get(name, "amd64")


def candidates(name: str) -> list[str]:
    """The releases (``uname -r``) that ``name``'s cloud metapackage has pointed to, newest first.

    The first is the current kernel.  The others are used only when its packages cannot be
    downloaded: bullseye-security, for one, lists -dbg packages that its pool does not hold.
    """
    suite = suite_of(name)
    apt = _apt_updated(suite, arch_of(name))
    meta = meta_package(arch_of(name))
    releases: list[str] = []
    try:
        versions = apt.versions(meta)
    except TestbedError as e:
        raise KernelUnavailable(f"{suite} has no {meta}: {e}") from None
    for version in versions:
        for dep in apt.depends(f"{meta}={version}"):
            if re.match(r"linux-image-\d", dep):
                release = dep.removeprefix("linux-image-")
                if release not in releases:
                    releases.append(release)
    if not releases:
        raise KernelUnavailable(f"{meta} in {suite} depends on no linux-image package")
    return releases


def resolve(name: str) -> str:
    """The release (``uname -r``) of the current cloud kernel of ``name`` (a kernel name or suite)."""
    return candidates(name)[0]


def cached(release: str) -> Kernel | None:
    d = cache_dir() / "kernels" / release
    try:
        meta = json.loads((d / "complete.json").read_text())
    except (OSError, ValueError):
        return None
    return Kernel(meta["suite"], release, d, meta.get("arch", "amd64"))


def ensure(name: str, timings=None) -> Kernel:
    """Return the current kernel of ``name`` (see KERNEL_SUITES), downloading it if the cache lacks it.

    If the newest release's packages are missing from the archive (a 404, not a network failure),
    the next older release of the metapackage is taken, with a warning, up to FALLBACKS times.
    """
    from .timing import TIMINGS

    timings = timings or TIMINGS
    with timings.step("resolve", name):
        releases = candidates(name)
    missing: list[str] = []
    for release in releases[:FALLBACKS + 1]:
        k = cached(release)
        if k is None:
            # A release whose files were missing is not asked for again for a while.
            note = cache_dir() / "kernels" / f".missing-{release}"
            try:
                if time.time() - note.stat().st_mtime < MISSING_RETRY:
                    missing.append(note.read_text())
                    continue
            except OSError:
                pass
            try:
                with timings.step("fetch kernel", release):
                    k = _fetch(name, release)
            except PackageMissing as e:
                missing.append(str(e))
                note.parent.mkdir(parents=True, exist_ok=True)
                note.write_text(str(e))
                continue
        if missing:
            print(f"warning: {name}: using {release}, newer releases cannot be downloaded: {'; '.join(missing)}")
        _prune(name, release)
        return k
    raise KernelUnavailable(f"no release of {name}'s cloud kernel can be downloaded: {'; '.join(missing)}")


def _packages(apt: AptSuite, release: str) -> tuple[list[str], str, list[str]]:
    image = f"linux-image-{release}"
    # 7.x splits the image into linux-binary/-modules/-base packages.
    split = [d for d in apt.depends(image) if re.fullmatch(rf"linux-(binary|modules|base)-{re.escape(release)}", d)]
    headers = f"linux-headers-{release}"
    hdeps = [d for d in apt.depends(headers)
             if re.fullmatch(r"linux-headers-.*-common(-rt)?", d) or d.startswith("linux-kbuild-")]
    return split or [image], f"{image}-dbg", [headers, *hdeps]


def _fetch(name: str, release: str) -> Kernel:
    arch = arch_of(name)
    apt = _apt_updated(suite_of(name), arch)
    # The kbuild helpers (modpost, fixdep, ...) run on the host: for another architecture's kernel
    # they come from the host architecture's package of the same suite (cross-building).
    host_apt = _apt_updated(suite_of(name)) if arch != "amd64" else apt
    kernels = cache_dir() / "kernels"
    final = kernels / release
    tmp = kernels / f".{release}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "x").mkdir(parents=True)
    try:
        image_pkgs, dbg_pkg, header_pkgs = _packages(apt, release)
        # The -dbg package first: it is the one an archive most often lacks (see ensure()).
        dbg_deb, = apt.download([dbg_pkg], tmp / "debs")
        image_debs = apt.download(image_pkgs, tmp / "debs")
        kbuild = [p for p in header_pkgs if p.startswith("linux-kbuild-")]
        header_debs = apt.download([p for p in header_pkgs if p not in kbuild], tmp / "debs")
        header_debs += host_apt.download(kbuild, tmp / "debs" / "host")
        if arch != "amd64":
            # The guest's busybox (the initramfs), of the guest's architecture.
            busybox_deb, = apt.download(["busybox-static"], tmp / "debs" / "busybox")
            _run(["dpkg-deb", "-x", str(busybox_deb), str(tmp / "x-busybox")])
            shutil.copy(_first(tmp / "x-busybox" / "bin" / "busybox", tmp / "x-busybox" / "usr" / "bin" / "busybox"),
                        tmp / "busybox")
            shutil.rmtree(tmp / "x-busybox")
        for deb in image_debs:
            _run(["dpkg-deb", "-x", str(deb), str(tmp / "x")])
        _install_image(tmp, release)
        _extract_vmlinux(dbg_deb, release, tmp / "vmlinux")
        for deb in header_debs:
            _run(["dpkg-deb", "-x", str(deb), str(tmp / "headers")])
        _fix_headers(_apt_updated(LIBC_SUITES.get(apt.suite, apt.suite)), tmp, final, release)
        versions = {p: (host_apt if p in kbuild else apt).version(p) for p in [*image_pkgs, dbg_pkg, *header_pkgs]}
        shutil.rmtree(tmp / "x")
        shutil.rmtree(tmp / "debs")
        (tmp / "complete.json").write_text(json.dumps(
            {"suite": name, "release": release, "arch": arch, "packages": versions, "fetched": time.time()},
            indent=1))
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
