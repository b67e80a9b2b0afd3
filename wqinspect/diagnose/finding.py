# SPDX-License-Identifier: LGPL-2.1-or-later
"""A finding: a fact (:mod:`.facts`) in words, with its severity, signature and rank."""

from enum import StrEnum

import msgspec

from ..snapshot import Severity
from .facts import Fact


class Kind(StrEnum):
    STALL = "stall"
    HOG = "hog"
    WAIT = "wait"
    DEADLOCK = "deadlock"
    DANGLING = "dangling"
    #: A delayed work whose timer is on an offline CPU's wheel.
    STRANDED = "stranded"
    RESCUER = "rescuer"
    LOG = "log"
    #: Why the kernel crashed (a panicked kernel): always the first finding.
    CRASH = "crash"


class Finding(msgspec.Struct, kw_only=True):
    severity: Severity
    kind: Kind
    what: str
    where: str
    #: The same for the same bug on every machine and boot (no addresses, pids, times or CPU
    #: numbers), e.g. ``wq-lockup:wqi_hog_fn``: for grouping many reports.
    signature: str
    evidence: list[str] = []
    suggestion: str = ""
    #: Ranks findings of one severity (larger first).
    weight: float = 0.0
    #: The fact found, typed (see :mod:`.facts`).
    data: Fact | None = None


def rank(found: list[Finding]) -> list[Finding]:
    """Most severe first; within a severity, the larger weight first."""
    return sorted(found, key=lambda f: (Severity(f.severity).rank, -f.weight))


def fails(found: list[Finding], fail_on: Severity | str = Severity.WARNING) -> bool:
    """Whether ``found`` has a finding at least as severe as ``fail_on`` (the exit code of ``diagnose``)."""
    limit = Severity(fail_on).rank
    return any(Severity(f.severity).rank <= limit for f in found)
