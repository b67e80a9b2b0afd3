# SPDX-License-Identifier: LGPL-2.1-or-later
"""Download-only access to Debian suites.

Every suite gets its own apt state under the cache (lists, archives), so that
packages of trixie or sid can be downloaded on a bookworm host without ever
being installable there: nothing here calls ``apt-get install``.
"""

import re
import subprocess
from pathlib import Path

from . import TestbedError

#: Suite name -> (archive, codename) pairs whose newest candidate wins.
SUITES: dict[str, tuple[tuple[str, str], ...]] = {
    "bookworm": (("main", "bookworm"), ("main", "bookworm-updates"), ("security", "bookworm-security")),
    "trixie": (("main", "trixie"), ("main", "trixie-updates"), ("security", "trixie-security")),
    "sid": (("main", "sid"),),
    # 5.10 LTS (Debian 11); the suite is in LTS support, still on the main mirror.
    "bullseye": (("main", "bullseye"), ("main", "bullseye-updates"), ("security", "bullseye-security")),
    # The release candidate: experimental holds only what differs from sid, and only its packages are used.
    "experimental": (("main", "experimental"),),
}

DEFAULT_MIRRORS = {"main": "http://deb.debian.org/debian", "security": "http://deb.debian.org/debian-security"}


def host_mirrors() -> dict[str, str]:
    """The main and security mirrors of the host's own apt configuration."""
    uris: list[str] = []
    for f in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = f.read_text()
        except OSError:
            continue
        if f.suffix == ".sources":
            uris += [u for line in text.splitlines() if line.startswith("URIs:") for u in line.split()[1:]]
        else:
            uris += [m.group(1) for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.M)]
    mirrors = dict(DEFAULT_MIRRORS)
    for u in uris:
        u = u.rstrip("/")
        if u.endswith("-security"):
            mirrors["security"] = u
        elif u.endswith("/debian"):
            mirrors["main"] = u
    return mirrors


class PackageMissing(TestbedError):
    """The archive lists a package whose file it does not serve (HTTP 404), or does not list it at all."""


class AptSuite:
    """One suite's download-only apt state in ``root``, for one architecture (the host's by default)."""

    def __init__(self, suite: str, root: Path, arch: str = "amd64"):
        if suite not in SUITES:
            raise TestbedError(f"unknown suite {suite!r}: known suites are {', '.join(SUITES)}")
        self.suite = suite
        self.root = root
        self.arch = arch

    def _opts(self) -> list[str]:
        r = self.root
        return [
            "-o", f"Dir::Etc::SourceList={r / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", "Dir::Etc::Preferences=/dev/null",
            "-o", "Dir::Etc::PreferencesParts=/dev/null",
            "-o", f"Dir::State::Lists={r / 'lists'}",
            "-o", f"Dir::Cache={r / 'cache'}",
            "-o", "APT::Sandbox::User=root",
            "-o", f"APT::Architecture={self.arch}",
            "-o", f"APT::Architectures={self.arch}",
            "-o", "Acquire::Retries=3",
        ]

    def update(self) -> None:
        """Refresh the package lists; on failure fall back to existing lists if there are any."""
        (self.root / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (self.root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        mirrors = host_mirrors()
        (self.root / "sources.list").write_text(
            "".join(f"deb [arch={self.arch}] {mirrors[archive]} {code} main\n" for archive, code in SUITES[self.suite])
        )
        p = subprocess.run(["apt-get", *self._opts(), "-q", "update"], capture_output=True, text=True)
        errors = [line for line in p.stderr.splitlines() if line.startswith(("E:", "W:"))]
        if p.returncode != 0 or any(line.startswith("E:") for line in errors):
            if any((self.root / "lists").glob("*_Packages*")):
                print(f"warning: apt update for {self.suite} failed, using the lists from the last run: "
                      f"{errors[-1] if errors else p.returncode}")
                return
            raise TestbedError(f"apt-get update for suite {self.suite} failed: "
                               f"{errors[-1] if errors else p.stderr.strip()[-300:]}")

    def depends(self, package: str) -> list[str]:
        """Direct dependencies of the candidate version of ``package`` (first alternative only)."""
        p = subprocess.run(["apt-cache", *self._opts(), "depends", package], capture_output=True, text=True)
        if p.returncode != 0:
            raise TestbedError(f"{package} is not in {self.suite}: {p.stderr.strip()[-200:]}")
        deps = []
        alt = False
        for line in p.stdout.splitlines()[1:]:
            m = re.match(r"\s*(\|?)(PreDepends|Depends): <?([^>\s]+)>?", line)
            if m:
                if not alt:
                    deps.append(m.group(3))
                alt = bool(m.group(1))
        return deps

    def versions(self, package: str) -> list[str]:
        """Every version of ``package`` in the suite's archives, newest first."""
        p = subprocess.run(["apt-cache", *self._opts(), "madison", package], capture_output=True, text=True)
        versions = []
        for line in p.stdout.splitlines():
            parts = [x.strip() for x in line.split("|")]
            if len(parts) >= 2 and parts[0] == package and parts[1] not in versions:
                versions.append(parts[1])
        if not versions:
            raise TestbedError(f"{package} is not in {self.suite}")
        return versions

    def version(self, package: str) -> str:
        p = subprocess.run(["apt-cache", *self._opts(), "policy", package], capture_output=True, text=True)
        m = re.search(r"Candidate:\s*(\S+)", p.stdout)
        if not m or m.group(1) == "(none)":
            raise TestbedError(f"{package} has no candidate version in {self.suite}")
        return m.group(1)

    def download(self, packages: list[str], dest: Path) -> list[Path]:
        """Download ``packages`` (their candidate versions) into ``dest``."""
        dest.mkdir(parents=True, exist_ok=True)
        files = []
        for pkg in packages:
            before = set(dest.glob("*.deb"))
            p = subprocess.run(["apt-get", *self._opts(), "-q", "download", pkg],
                               cwd=dest, capture_output=True, text=True)
            new = set(dest.glob("*.deb")) - before
            if p.returncode != 0 or not new:
                reason = [line for line in p.stderr.splitlines() if line.strip()]
                missing = any(" 404 " in line or "Unable to locate package" in line for line in reason)
                raise (PackageMissing if missing else TestbedError)(f"download of {pkg} from {self.suite} failed: "
                                   f"{reason[-1] if reason else 'no file arrived'}")
            files += sorted(new)
        return files
