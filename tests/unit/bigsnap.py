# SPDX-License-Identifier: LGPL-2.1-or-later
"""A synthetic snapshot with many work items, for measuring the views at scale (never committed).

The inactive items of a fixture are multiplied: each copy gets its own address and the next
position on its pwq's inactive list, and the pwq counters follow, so the snapshot stays
consistent for every command.

    .venv/bin/python -m tests.unit.bigsnap 100000 /tmp/big.json [FIXTURE]
"""

import sys

import msgspec

from wqinspect.snapshot import Snapshot, Where

from .conftest import fixture_snapshot


def big_snapshot(n: int, fixture: str = "sid-scenarios") -> Snapshot:
    """``fixture`` with about ``n`` work items: its inactive ones copied round-robin."""
    snap = fixture_snapshot(fixture)
    seeds = [w for w in snap.works if w.where == Where.INACTIVE and w.barrier is None]
    pwqs = {p.address: p for wq in snap.workqueues for p in wq.pwqs}
    last = {}
    for w in snap.works:
        if w.where == Where.INACTIVE:
            last[w.pwq] = max(last.get(w.pwq, -1), w.position)
    extra = []
    base = 0xFFFF_8880_4000_0000
    for i in range(max(n - len(snap.works), 0)):
        seed = seeds[i % len(seeds)]
        pos = last[seed.pwq] = last[seed.pwq] + 1
        extra.append(msgspec.structs.replace(seed, address=base + 64 * i, position=pos))
        pwqs[seed.pwq].nr_inactive += 1
        pwqs[seed.pwq].nr_in_flight[seed.color] += 1
    snap.works = snap.works + extra
    snap.reindex()
    return snap


if __name__ == "__main__":
    count = int(sys.argv[1])
    out = sys.argv[2]
    snap = big_snapshot(count, *sys.argv[3:4])
    with open(out, "w") as f:
        f.write(snap.dumps(indent=None))
    print(f"{out}: {len(snap.works)} work items")
