# SPDX-License-Identifier: LGPL-2.1-or-later
"""The JSON form of each command: snapshot objects plus the derived values the tables show."""

from ..snapshot import Snapshot
from .jsonout import jsonable
from . import common


def envelope(snap: Snapshot, key: str, items: list) -> dict:
    return {
        "schema": snap.schema,
        "kernel": jsonable(snap.kernel),
        "target": jsonable(snap.target),
        key: items,
        "warnings": jsonable(snap.warnings),
    }


def workqueues(snap: Snapshot, pattern: str | None = None) -> dict:
    items = []
    for wq in sorted(snap.workqueues, key=lambda w: (w.name, w.system_var or "")):
        if common.match_workqueue(wq, pattern):
            items.append(jsonable(wq) | {"label": wq.label, "flushing": wq.flushing} | common.wq_totals(wq))
    return envelope(snap, "workqueues", items)


def pools(snap: Snapshot) -> dict:
    items = [jsonable(p) | {"progress_seconds_ago": common.jiffies_ago(snap, p.progress_ts)}
             for p in sorted(snap.pools, key=lambda p: p.id)]
    return envelope(snap, "pools", items)


def workers(snap: Snapshot) -> dict:
    items = []
    for w in sorted(snap.workers, key=lambda w: (w.pool_id if w.pool_id is not None else 1 << 30, w.id)):
        items.append(jsonable(w) | {"state": w.state,
                                    "running_seconds": common.jiffies_ago(snap, w.current_start)})
    return envelope(snap, "workers", items)


def works(snap: Snapshot, selected: list) -> dict:
    items = []
    for w in selected:
        extra = {"detail": common.work_detail(snap, w)}
        if w.delayed is not None:
            ago = common.jiffies_ago(snap, w.delayed.expires)
            extra["expires_in_seconds"] = None if ago is None else -ago
        items.append(jsonable(w) | extra)
    return envelope(snap, "works", items)


def show(snap: Snapshot, wqs: list) -> dict:
    items = []
    for wq in wqs:
        pwqs = []
        works = snap.works_of(wq)
        for p in wq.pwqs:
            pool = snap.pool(p.pool_id)
            related = {w.worker for w in works if w.worker and (w.pwq == p.address)}
            pwqs.append(jsonable(p) | {
                "pool": jsonable(pool) if pool else None,
                "workers": [jsonable(w) | {"state": w.state} for w in snap.workers if w.address in related],
                "works": [jsonable(w) for w in works if w.pwq == p.address],
            })
        entry = jsonable(wq) | {"label": wq.label} | common.wq_totals(wq)
        entry["pwqs"] = pwqs
        entry["delayed"] = [jsonable(w) for w in works if w.where in ("delayed", "rcu")]
        items.append(entry)
    return envelope(snap, "workqueues", items)


def check_report(report, show_all: bool = False) -> dict:
    snap = report.snapshot
    rows = report.results if show_all else [r for r in report.results if r.verdict != "ok"]
    out = envelope(snap, "results", [{"check": r.check, "object": r.object, "expected": r.expected,
                                       "found": r.found, "verdict": r.verdict} for r in rows])
    out["checks"] = report.summary()
    out["reads"] = report.reads
    out["ok"] = not report.violated
    return out


def findings(snap: Snapshot, found: list) -> dict:
    out = envelope(snap, "findings", [{"severity": f.severity, "kind": f.kind, "what": f.what, "where": f.where,
                                       "evidence": f.evidence, "suggestion": f.suggestion, "data": jsonable(f.data)}
                                      for f in found])
    out["ok"] = not found
    return out


def topology(snap: Snapshot, diffs: list) -> dict:
    from .common import cpu_pools, dfl_pool, wq_type

    wqs = [{"name": wq.name, "system_var": wq.system_var, "type": wq_type(wq),
            "cpu_pools": {str(c): p for c, p in sorted(cpu_pools(wq).items())}, "dfl_pool": dfl_pool(wq),
            "unbound_cpus": wq.cpus, "affn_scope": wq.affn_scope, "rescuer_pid": wq.rescuer_pid,
            "rescuer_cpus": wq.rescuer_cpus, "min_active": wq.min_active, "max_active": wq.max_active,
            "node_nr_active": jsonable(wq.node_nr_active), "node_pools": wq.node_pools}
           for wq in snap.workqueues]
    out = envelope(snap, "workqueues", wqs)
    out["topology"] = jsonable(snap.topology)
    out["pools"] = [jsonable(p) for p in sorted(snap.pools, key=lambda p: p.id)]
    out["sysfs"] = None if snap.sysfs is None else [jsonable(d) for d in diffs]
    return out
