# SPDX-License-Identifier: LGPL-2.1-or-later
"""The one index of a snapshot: built once, on first use, and used by every layer.

Code that changes a snapshot's lists (a test doctoring one, the capture
linking its items) calls :meth:`Snapshot.reindex` afterwards.
"""

from .vocab import Where


class Index:
    def __init__(self, snap):
        self.pools = {p.id: p for p in snap.pools}
        self.workers = {w.address: w for w in snap.workers}
        self.workqueues = {w.address: w for w in snap.workqueues}
        self.pwqs = {p.address: (wq, p) for wq in snap.workqueues for p in wq.pwqs}
        self.stacks = {s.task.pid: s for s in snap.stacks}
        self.works = {}
        self.works_by_wq: dict[int | None, list] = {}
        self.works_by_pwq: dict[int | None, list] = {}
        self.works_by_worker: dict[int | None, list] = {}
        #: Items on each pool's worklist, in order.
        self.worklist: dict[int | None, list] = {}
        for w in snap.works:
            # A barrier and the item it flushes never share an address; the first item wins.
            self.works.setdefault(w.address, w)
            self.works_by_wq.setdefault(w.wq, []).append(w)
            if w.pwq is not None:
                self.works_by_pwq.setdefault(w.pwq, []).append(w)
            if w.worker is not None:
                self.works_by_worker.setdefault(w.worker, []).append(w)
            if w.where == Where.WORKLIST:
                self.worklist.setdefault(w.pool_id, []).append(w)
        for items in self.worklist.values():
            items.sort(key=lambda x: x.position)
