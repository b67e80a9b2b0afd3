# SPDX-License-Identifier: LGPL-2.1-or-later
"""wqinspect's Python API, for drgn scripts and interactive drgn sessions.

Read the workqueues of the program drgn has open, or load a saved snapshot, then
check the model's invariants and diagnose stalls::

    $ drgn -c vmcore -s vmlinux
    >>> from wqinspect import api
    >>> snap = api.capture(prog, deep=True)   # a Snapshot (see wqinspect.snapshot)
    >>> [wq.name for wq in snap.workqueues if snap.works_of(wq)]
    >>> api.check(snap).violated               # the invariants that do not hold
    >>> for f in api.diagnose(snap): print(f.severity, f.what, f.where)
    >>> api.save(snap, "wq.json"); api.load("wq.json")

Everything after :func:`capture` works without drgn, on a snapshot: plain typed
data (msgspec Structs) whose fields are those of ``wqinspect snapshot`` files.
The names in ``__all__`` are the stable API; the rest of the package may change.
"""

from .check import CheckReport
from .diagnose import Finding
from .snapshot import (Barrier, CountersSample, DelayedTimer, Flusher, FlusherWhere, FuncRef, KernelInfo, Mode, Pool,
                       PoolKind, Pwq, ReadWarning, Severity, Snapshot, SnapshotError, Target, TaskRef, Verdict, Where,
                       Work, Worker, Workqueue, WqKind)

__all__ = [
    # reading
    "capture", "sample", "load", "save", "open_kernel",
    # judging
    "check", "diagnose",
    # the snapshot types
    "Snapshot", "KernelInfo", "Target", "Workqueue", "Pwq", "Pool", "Worker", "Work", "FuncRef", "TaskRef",
    "Barrier", "Flusher", "DelayedTimer", "ReadWarning", "CountersSample", "CheckReport", "Finding",
    # vocabularies and errors
    "Where", "WqKind", "PoolKind", "FlusherWhere", "Mode", "Severity", "Verdict", "SnapshotError",
]


def _prog(prog):
    if prog is None:
        import drgn

        prog = drgn.get_default_prog()
    return prog


def capture(prog=None, deep: bool = False) -> Snapshot:
    """Read the workqueue state of ``prog`` (drgn's default program if None) into a :class:`Snapshot`.

    ``deep`` also reads what ``diagnose`` uses: the workqueue messages of the kernel log and the stacks of
    busy workers and of tasks waiting for work (slower). Nothing is written to the kernel. The program
    needs the kernel's debug info loaded (``drgn -s vmlinux``, or drgn's default search).
    """
    from .capture import capture as _capture
    from .target import target_of

    prog = _prog(prog)
    return _capture(prog, target_of(prog), deep=deep)


def sample(prog=None) -> CountersSample:
    """One sample of the per-workqueue counters that ``wqinspect monitor`` shows (cheaper than a capture)."""
    from .capture import sample_counters

    return sample_counters(_prog(prog))


def open_kernel(core: str | None = None, qemu: str | None = None, symbols: tuple[str, ...] = ()):
    """Open a vmcore (``core``), a QEMU guest (``qemu``: its QMP socket) or the running kernel, as the
    command line does, with its checks and one-line :class:`TargetError` messages; returns the drgn Program."""
    from .target import open_target

    return open_target(core, qemu, tuple(symbols)).prog


def load(path: str) -> Snapshot:
    """A snapshot saved by ``wqinspect snapshot`` or :func:`save` (validated; :class:`SnapshotError` if not)."""
    return Snapshot.load(path)


def save(snapshot: Snapshot, path: str) -> None:
    """Write ``snapshot`` as a file that ``wqinspect --from`` and :func:`load` read."""
    from .snapshot.io import write

    with open(path, "wb") as f:
        write(snapshot, f)


def check(snapshot: Snapshot, scenarios: list[dict] = ()) -> CheckReport:
    """The reference model's invariants on ``snapshot``: ``report.results`` (each with a verdict),
    ``report.violated`` (those that fail). ``scenarios`` are parsed fixtures/scenarios files."""
    from .check import run

    return run(snapshot, list(scenarios))


def diagnose(snapshot: Snapshot, thresh: int | None = None) -> list[Finding]:
    """Stalls, CPU hogs, stuck flushes, dangling work, rescuer activity found in ``snapshot``, most severe first.

    A snapshot from ``capture(prog, deep=True)`` gives the most complete answer. ``thresh`` overrides the
    kernel's workqueue watchdog threshold (seconds).
    """
    from .diagnose import diagnose as _diagnose

    return _diagnose(snapshot, thresh)


def __getattr__(name: str):
    # api.TargetError (raised by open_kernel) comes from the drgn side: imported when asked for.
    if name == "TargetError":
        from .target import TargetError

        return TargetError
    raise AttributeError(name)
