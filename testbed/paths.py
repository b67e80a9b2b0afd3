# SPDX-License-Identifier: LGPL-2.1-or-later
"""Where the test bed keeps things."""

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
KMOD_SRC = FIXTURES / "kmod"
SCENARIOS = FIXTURES / "scenarios"
BUILD = REPO / "build"


def cache_dir() -> Path:
    """The download cache, shared by every checkout on the machine."""
    base = os.environ.get("WQI_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "wqinspect"


def run_dir(name: str) -> Path:
    """A short directory for sockets (a unix socket path must stay under 108 bytes)."""
    d = Path(tempfile.mkdtemp(prefix=f"wqi-{name}-", dir="/tmp"))
    return d
