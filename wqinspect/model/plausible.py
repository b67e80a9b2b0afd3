# SPDX-License-Identifier: LGPL-2.1-or-later
"""Values no running kernel can hold: signs that memory was damaged or misread, not findings.

A pool whose progress stamp lies years back or in the future, a workqueue, pool
or worker whose flags have bits the kernel does not define, a per-cpu normal pool with a
negative nice, a kernel with no workqueue at all: these are reported as
:class:`~wqinspect.snapshot.ReadWarning` s about damage, and ``diagnose``
draws no conclusion from the objects they name (``check`` counts them as
objects it could not read: see :mod:`wqinspect.model.invariants`, ``read.complete``).
"""

from dataclasses import dataclass, field

from ..snapshot import Mode, PoolKind, ReadWarning, Snapshot, jiffies_delta

#: The kernel starts jiffies 300 s before the wrap (INITIAL_JIFFIES): at most that much more than
#: the uptime can have passed since any stamp; a minute more for reads racing a live kernel.
_SLACK_S = 300 + 60
#: Without the uptime: no stall is longer than this.
_MAX_STALL_S = 20 * 365 * 86400


@dataclass
class Damage:
    warnings: list[ReadWarning] = field(default_factory=list)
    #: Ids of pools, addresses of workers and workqueues whose values are implausible.
    pools: set[int] = field(default_factory=set)
    workers: set[int] = field(default_factory=set)
    workqueues: set[int] = field(default_factory=set)
    #: A kernel with no workqueue: the list of workqueues was not read.
    no_workqueues: bool = False

    def add(self, obj: str, message: str) -> None:
        self.warnings.append(ReadWarning(obj, message))


def _unknown_bits(value: int, table) -> int:
    known = 0
    for _, bit in table:
        known |= bit
    return value & ~known if table else 0


def damage(snap: Snapshot) -> Damage:
    """The implausible values of ``snap``."""
    out = Damage()
    lay = snap.kernel.features
    if not snap.workqueues and snap.target.mode != Mode.MODEL:
        out.no_workqueues = True
        out.add("workqueues", "no workqueue was read: every kernel has some, so the list was not read "
                              "(damaged?); nothing is concluded from missing workqueues")
    if snap.kernel_image is None and snap.works and snap.target.mode != Mode.MODEL:
        out.add("kernel image", "the kernel image's address range was not read: only functions in module memory "
                                "that no loaded module covers are judged unloaded")
    hz = snap.kernel.hz
    if hz:
        limit = (snap.uptime + _SLACK_S if snap.uptime is not None else _MAX_STALL_S) * hz
        for p in snap.pools:
            ago = jiffies_delta(snap.kernel.jiffies, p.progress_ts)
            if ago < -60 * hz:
                out.pools.add(p.id)
                out.add(f"pool {p.id}", f"its progress stamp {p.progress_ts} is {-ago / hz:.0f} s in the future "
                                        "(damaged, or not a pool?)")
            elif ago > limit:
                out.pools.add(p.id)
                out.add(f"pool {p.id}", f"its progress stamp {p.progress_ts} is {ago / hz:.0f} s old, longer "
                                        "than the kernel has run (damaged, or not a pool?)")
    for p in snap.pools:
        bad = _unknown_bits(p.flags, lay.pool_flags)
        if bad:
            out.pools.add(p.id)
            out.add(f"pool {p.id}", f"flags {p.flags:#x} have bits the kernel does not define ({bad:#x})")
        if not -20 <= p.nice <= 19:
            out.pools.add(p.id)
            out.add(f"pool {p.id}", f"nice {p.nice} is outside -20..19 (damaged, or not a pool?)")
        elif p.kind == PoolKind.CPU and p.nice < 0:
            out.pools.add(p.id)
            out.add(f"pool {p.id}", f"a per-cpu normal pool with nice {p.nice} (they run at nice 0)")
        if p.id < -1 or p.cpu < -1 or p.node < -1:
            out.pools.add(p.id)
            out.add(f"pool {p.id}", f"a negative id, cpu or node other than -1 (id {p.id}, cpu {p.cpu}, "
                                    f"node {p.node}): damaged, or not a pool?")
    for wq in snap.workqueues:
        bad = _unknown_bits(wq.flags, lay.wq_flags)
        if bad:
            out.workqueues.add(wq.address)
            out.add(f"workqueue {wq.name}", f"flags {wq.flags:#x} have bits the kernel does not define ({bad:#x})")
    for w in snap.workers:
        bad = _unknown_bits(w.flags, lay.worker_flags)
        if bad:
            out.workers.add(w.address)
            out.add(f"worker {w.address:#x}", f"flags {w.flags:#x} have bits the kernel does not define ({bad:#x})")
    return out
