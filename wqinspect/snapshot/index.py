# SPDX-License-Identifier: LGPL-2.1-or-later
"""The one index of a snapshot: built once, on first use, and used by every layer.

Code that changes a snapshot's lists (a test doctoring one, the capture
linking its items) calls :meth:`Snapshot.reindex` afterwards.  Each lookup is
built the first time it is asked for: a view of 100,000 work items that needs
only the workqueues does not pay for the maps of the items.
"""

from functools import cached_property
from operator import attrgetter

from .vocab import Where

_ADDRESS = attrgetter("address")


def _grouped(works, key) -> dict:
    out: dict = {}
    for w in works:
        k = key(w)
        try:
            out[k].append(w)
        except KeyError:
            out[k] = [w]
    return out


class Index:
    def __init__(self, snap):
        self._snap = snap

    @cached_property
    def pools(self) -> dict:
        return {p.id: p for p in self._snap.pools}

    @cached_property
    def workers(self) -> dict:
        return {w.address: w for w in self._snap.workers}

    @cached_property
    def workqueues(self) -> dict:
        return {w.address: w for w in self._snap.workqueues}

    @cached_property
    def pwqs(self) -> dict:
        return {p.address: (wq, p) for wq in self._snap.workqueues for p in wq.pwqs}

    @cached_property
    def stacks(self) -> dict:
        return {s.task.pid: s for s in self._snap.stacks}

    @cached_property
    def works(self) -> dict:
        # A barrier and the item it flushes never share an address; the first item wins (built from the
        # last one back, so that the first one is written last).
        items = self._snap.works[::-1]
        return dict(zip(map(_ADDRESS, items), items))

    @cached_property
    def works_by_wq(self) -> dict[int | None, list]:
        return _grouped(self._snap.works, attrgetter("wq"))

    @cached_property
    def works_by_pwq(self) -> dict[int | None, list]:
        d = _grouped(self._snap.works, attrgetter("pwq"))
        d.pop(None, None)
        return d

    @cached_property
    def works_by_worker(self) -> dict[int | None, list]:
        d = _grouped(self._snap.works, attrgetter("worker"))
        d.pop(None, None)
        return d

    @cached_property
    def worklist(self) -> dict[int | None, list]:
        """Items on each pool's worklist, in order."""
        out: dict = {}
        for w in self._snap.works:
            if w.where == Where.WORKLIST:
                out.setdefault(w.pool_id, []).append(w)
        for items in out.values():
            items.sort(key=lambda x: x.position)
        return out
