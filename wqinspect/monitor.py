# SPDX-License-Identifier: LGPL-2.1-or-later
"""``wqinspect monitor``: the kernel's wq_monitor.py columns, with rates between samples.

The columns mean what they mean in tools/workqueue/wq_monitor.py:

- total: work items started (PWQ_STAT_STARTED)
- infl: started but not completed, max(started - completed, 0)
- CPUtime: CPU time of the items, sampled by the scheduler tick, in seconds (PWQ_STAT_CPU_TIME is in µs)
- CPUitsv: items the kernel marked CPU intensive (per-cpu workqueues; "-" for unbound ones)
- CMW/RPR: concurrency-management wakeups for per-cpu workqueues, repatriations for unbound ones
- mayday, rescued: rescuer activity, for WQ_MEM_RECLAIM workqueues ("-" otherwise)

Kernels before v6.5 have no counters; there the monitor shows the active,
inactive and in-flight items, which it can read.
"""

import re
from dataclasses import dataclass, field

from .snapshot import CountersSample, Snapshot, WqCounters

#: Sort keys: column name -> value of a row (larger first, but name ascending).
SORT_KEYS = ("name", "total", "infl", "cputime", "cpuitsv", "cmw", "mayday", "rescued", "active", "inflight",
             "inactive", "total/s", "cpu%")
#: The keys that exist on every kernel: the rest come from pwq->stats[] (v6.5+).
SORT_KEYS_WITHOUT_STATS = ("name", "active", "inflight", "inactive")


@dataclass
class Row:
    wq: WqCounters
    #: Per second, since the previous sample (empty for the first one).
    rates: dict[str, float] = field(default_factory=dict)

    def stat(self, name: str) -> int | None:
        return None if self.wq.stats is None else self.wq.stats.get(name)

    @property
    def total(self) -> int | None:
        return self.stat("started")

    @property
    def infl(self) -> int | None:
        started, completed = self.stat("started"), self.stat("completed")
        if started is None or completed is None:  # no stats, or a snapshot file without these two
            return None
        return max(started - completed, 0)

    @property
    def cpu_time(self) -> float | None:
        v = self.stat("cpu_time")
        return None if v is None else v / 1e6

    @property
    def cpu_intensive(self) -> int | None:
        return None if self.wq.unbound else self.stat("cpu_intensive")

    @property
    def cmw_rpr(self) -> int | None:
        return self.stat("repatriated") if self.wq.unbound else self.stat("cm_wakeup")

    @property
    def mayday(self) -> int | None:
        return self.stat("mayday") if self.wq.mem_reclaim else None

    @property
    def rescued(self) -> int | None:
        return self.stat("rescued") if self.wq.mem_reclaim else None

    def sort_value(self, key: str):
        return {
            "name": self.wq.label, "total": self.total, "infl": self.infl, "cputime": self.cpu_time,
            "cpuitsv": self.cpu_intensive, "cmw": self.cmw_rpr, "mayday": self.mayday, "rescued": self.rescued,
            "active": self.wq.nr_active, "inflight": self.wq.in_flight, "inactive": self.wq.inactive,
            "total/s": self.rates.get("total"),
            "cpu%": self.rates.get("cpu%"),
        }[key]

    def as_dict(self, timestamp: float) -> dict:
        """wq_monitor.py's JSON keys (its -j prints them), plus what wqinspect adds."""
        s = self.wq.stats or {}
        return {
            "timestamp": timestamp, "name": self.wq.name, "unbound": self.wq.unbound,
            "mem_reclaim": self.wq.mem_reclaim, "started": s.get("started"), "completed": s.get("completed"),
            "cpu_time": s.get("cpu_time"), "cpu_intensive": s.get("cpu_intensive"),
            "cm_wakeup": s.get("cm_wakeup"), "repatriated": s.get("repatriated"), "mayday": s.get("mayday"),
            "rescued": s.get("rescued"), "system_var": self.wq.system_var, "active": self.wq.nr_active,
            "in_flight": self.wq.in_flight, "inactive": self.wq.inactive, "rates": self.rates,
        }


def rows(sample: CountersSample, previous: CountersSample | None = None, pattern: str | None = None,
         sort: str = "name", top: int | None = None) -> list[Row]:
    prev = {w.address: w for w in previous.workqueues} if previous else {}
    dt = sample.time - previous.time if previous else 0
    out = []
    regex = re.compile(pattern) if pattern else None
    for w in sample.workqueues:
        if regex and not (regex.search(w.name) or (w.system_var and regex.search(w.system_var))):
            continue
        row = Row(w)
        p = prev.get(w.address)
        if p is not None and dt > 0 and w.stats is not None and p.stats is not None:
            d = {k: w.stats[k] - p.stats.get(k, 0) for k in w.stats}
            row.rates = {"total": d.get("started", 0) / dt, "completed": d.get("completed", 0) / dt,
                         "cpu%": 100 * d.get("cpu_time", 0) / 1e6 / dt}
            for k in ("cpu_intensive", "cm_wakeup", "repatriated", "mayday", "rescued"):
                if k in d:
                    row.rates[k] = d[k] / dt
        out.append(row)
    if sort == "name":
        out.sort(key=lambda r: r.wq.label)
    else:
        out.sort(key=lambda r: (r.sort_value(sort) is None, -(r.sort_value(sort) or 0), r.wq.label))
    return out[:top] if top else out


def counters_from_snapshot(snap: Snapshot) -> CountersSample:
    """The monitor's counters, from a saved snapshot (one sample)."""
    import datetime

    has = any(p.stats is not None for wq in snap.workqueues for p in wq.pwqs)
    rows = []
    for wq in snap.workqueues:
        tot = wq.totals()
        rows.append(WqCounters(wq.address, wq.name, wq.system_var, wq.kind, "WQ_MEM_RECLAIM" in wq.flag_names,
                               wq.stat_sums() if has else None, tot["active"], tot["in_flight"],
                               None if has else tot["inactive"]))
    t = datetime.datetime.fromisoformat(snap.target.captured_at).timestamp() if snap.target.captured_at else 0.0
    return CountersSample(snap.kernel.release, t, snap.kernel.jiffies, snap.kernel.hz, has, rows, snap.warnings)
