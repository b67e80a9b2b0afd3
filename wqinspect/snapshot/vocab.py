# SPDX-License-Identifier: LGPL-2.1-or-later
"""The closed vocabularies of the snapshot and of what is derived from it.

Each is a :class:`enum.StrEnum`: it compares equal to its string, is written
to JSON as that string, and a snapshot with any other value is refused when
it is loaded.
"""

from enum import StrEnum


class Where(StrEnum):
    """Where a work item sits."""

    RUNNING = "running"      #: on a worker's CPU (worker->current_work)
    SCHEDULED = "scheduled"  #: on a worker's ->scheduled list, taken on to run next
    WORKLIST = "worklist"    #: queued on its pool's worklist
    INACTIVE = "inactive"    #: held back by max_active on its pwq's inactive_works
    DELAYED = "delayed"      #: a delayed_work whose timer has not fired yet
    RCU = "rcu"              #: an rcu_work waiting for its RCU grace period

    @property
    def in_pool(self) -> bool:
        """Whether an item here is in a pool already (not on a timer or waiting for RCU)."""
        return self not in (Where.DELAYED, Where.RCU)

    @property
    def order(self) -> int:
        """Display order: what runs first comes first."""
        return _WHERE_ORDER[self]


_WHERE_ORDER = {w: i for i, w in enumerate(Where)}


class WqKind(StrEnum):
    PERCPU = "percpu"
    UNBOUND = "unbound"
    ORDERED = "ordered"
    BH = "bh"


class PoolKind(StrEnum):
    CPU = "cpu"
    CPU_HIGHPRI = "cpu-highpri"
    BH = "bh"
    BH_HIGHPRI = "bh-highpri"
    UNBOUND = "unbound"

    @property
    def bh(self) -> bool:
        return self in (PoolKind.BH, PoolKind.BH_HIGHPRI)

    @property
    def highpri(self) -> bool:
        return self in (PoolKind.CPU_HIGHPRI, PoolKind.BH_HIGHPRI)


class FlusherWhere(StrEnum):
    FIRST = "first"        #: wq->first_flusher, waiting for flush_color
    QUEUE = "queue"        #: on wq->flusher_queue, waiting for a later color
    OVERFLOW = "overflow"  #: on wq->flusher_overflow: no color was free


class Mode(StrEnum):
    KCORE = "kcore"    #: the running kernel
    VMCORE = "vmcore"  #: a dump
    QMP = "qmp"        #: a live QEMU guest
    MODEL = "model"    #: a state of the reference model


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for the most severe."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class Verdict(StrEnum):
    OK = "ok"
    VIOLATED = "violated"
    #: Violated in one read of a live kernel, gone when read again.
    TRANSIENT = "transient"
