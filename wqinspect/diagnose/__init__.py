# SPDX-License-Identifier: LGPL-2.1-or-later
"""``wqinspect diagnose``: stalls, CPU hogs, waits, dangling and stranded work and rescuers, explained.

Works on a snapshot (a deep one: with the log and the stacks).  The detectors
(:mod:`.detect`) return typed facts (:mod:`.facts`); one module (:mod:`.words`)
turns each fact into a :class:`Finding`: severity, what was found, where, the
evidence, one suggestion and a stable signature.  Implausible values
(:mod:`wqinspect.model.plausible`) are damage warnings, never findings.
"""

from ..model.plausible import Damage, damage
from ..snapshot import ReadWarning, Severity, Snapshot
from .crash import detect_crash, word_crash
from .crash import explained as crash_explains
from .detect import Context, detect, pool_description
from .finding import Finding, Kind, fails, rank
from .words import Words, word

#: The severities, most severe first.
SEVERITIES = tuple(str(s) for s in Severity)


def diagnose(snap: Snapshot, thresh: int | None = None, damaged: Damage | None = None) -> list[Finding]:
    """The findings on ``snap``, ranked (``thresh``: the stall threshold in seconds, overriding the kernel's)."""
    ctx = Context(snap, thresh, damaged if damaged is not None else damage(snap))
    ws = Words(snap)
    found = detect(ctx)
    # A panicked kernel: why it crashed comes first (wqinspect.diagnose.crash).
    crashed = detect_crash(snap, found)
    return ([word_crash(c, snap) for c in crashed]
            + rank([word(fact, ws) for fact in found if not crash_explains(crashed, fact)]))


def damage_warnings(snap: Snapshot) -> list[ReadWarning]:
    """What diagnose did not believe: the implausible values of ``snap``, as read warnings."""
    return damage(snap).warnings


__all__ = ["Damage", "Finding", "Kind", "SEVERITIES", "damage", "damage_warnings", "diagnose", "fails",
           "pool_description"]
