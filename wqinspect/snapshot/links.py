# SPDX-License-Identifier: LGPL-2.1-or-later
"""Facts that link the items of a snapshot to each other, set once when it is captured."""

from .vocab import Where


def link_works(snap, pwq_owner: dict[int, object] | None = None) -> None:
    """Fill in each work's workqueue (through its pwq, or its delayed/rcu target), then the barriers'
    targets, and rebuild the index."""
    snap.reindex()
    ix = snap.ix
    for w in snap.works:
        wq = ix.pwqs.get(w.pwq, (None, None))[0] if w.pwq else ix.workqueues.get(w.wq)
        if wq is None and pwq_owner and w.pwq:
            wq = pwq_owner.get(w.pwq)
        if wq is not None:
            w.wq, w.wq_name = wq.address, wq.name
    link_barriers(snap)
    snap.reindex()


def link_barriers(snap) -> None:
    """Set each barrier's target: the work it was inserted behind.

    insert_wq_barrier() puts a barrier right after the item it flushes, which
    gets WORK_STRUCT_LINKED (a newer barrier goes between them and inherits
    LINKED), or, when that item is running, at the head of the running
    worker's ->scheduled list, unlinked: so a second flusher's barrier lands
    in front of the first one's.  A barrier with only barriers before it on
    ->scheduled flushes the worker's current item, unless that item is itself
    a barrier (then the item it flushed has finished: no target).
    """
    def owner(w):
        return w.pool_id if w.where == Where.WORKLIST else w.pwq if w.where == Where.INACTIVE else w.worker

    listed = (Where.WORKLIST, Where.INACTIVE, Where.SCHEDULED)
    # Only the lists that hold a barrier are looked at (100,000 items may hold none).
    wanted = {(w.where, owner(w)) for w in snap.works if w.barrier is not None and w.where in listed}
    if not wanted:
        return
    lists: dict[tuple, list] = {}
    running: dict[int, object] = {}
    for w in snap.works:
        if w.where in listed:
            key = (w.where, owner(w))
            if key in wanted:
                lists.setdefault(key, []).append(w)
        elif w.where == Where.RUNNING and w.worker is not None:
            running[w.worker] = w
    for items in lists.values():
        items.sort(key=lambda x: x.position)
        for i, w in enumerate(items):
            if w.barrier is None:
                continue
            j = i - 1
            while j >= 0 and items[j].barrier is not None and (
                    "LINKED" in items[j].flag_names or w.where == Where.SCHEDULED):
                j -= 1
            if j >= 0 and "LINKED" in items[j].flag_names and items[j].barrier is None:
                w.barrier.target = items[j].address
            elif j < 0 and w.where == Where.SCHEDULED:
                current = running.get(w.worker)
                w.barrier.target = current.address if current is not None and current.barrier is None else None
