# SPDX-License-Identifier: LGPL-2.1-or-later
"""Replay a scenario's operations in the model and compare the prediction with a kernel's snapshot.

A difference means the model or the reader is wrong; the comparison names
each one.  Only the workqueues the scenario creates are compared: the rest of
the kernel is not the scenario's doing.
"""

from collections import Counter

from ..snapshot import Snapshot, Workqueue
from .export import to_snapshot
from .features import Features
from .machine import Machine, ModelError


def replay(scenario: dict, features: Features) -> Snapshot:
    """The state the model predicts after the scenario's operations."""
    m = Machine(features)
    for i, op in enumerate(scenario["operations"], 1):
        where = f"operation {i} ({op.get('op')})"
        if "wq" in op and not op["op"].startswith("alloc_") and op["wq"] not in m.wqs:
            raise ModelError(f"{where}: workqueue {op['wq']!r} is not one the scenario allocates "
                             "(the model knows only those)")
        try:
            m.apply(op, scenario.get("funcs", {}))
        except KeyError as e:
            raise ModelError(f"{where}: nothing named {e.args[0]!r} (a missing key or an unknown work)") from None
        except ModelError as e:
            raise ModelError(f"{where}: {e}") from None
    return to_snapshot(m)


def scenario_workqueues(scenario: dict, features: Features) -> list[str]:
    return [op["wq"] for op in scenario["operations"] if op["op"].startswith("alloc_")
            and (not op.get("requires") or getattr(features, op["requires"], False))]


def _pwq_key(p) -> str:
    return "default" if p.is_default and not p.cpus else f"cpus {','.join(map(str, sorted(p.cpus)))}"


def _wq_facts(snap: Snapshot, wq: Workqueue) -> dict:
    pools = {p.id: p for p in snap.pools}
    facts = {
        "kind": wq.kind, "max_active": wq.max_active, "saved_max_active": wq.saved_max_active,
        "min_active": wq.min_active, "work_color": wq.work_color, "flush_color": wq.flush_color,
        "nr_pwqs_to_flush": wq.nr_pwqs_to_flush,
        "first_flusher": (wq.first_flusher.flush_color, tuple(t.comm for t in wq.first_flusher.waiters))
        if wq.first_flusher else None,
        "flusher_queue": [f.flush_color for f in wq.flusher_queue],
        "flusher_overflow": len(wq.flusher_overflow),
        "node_nr_active": sorted((n.index, n.nr, n.max, len(n.pending_pwqs)) for n in wq.node_nr_active),
    }
    for p in wq.pwqs:
        pool = pools.get(p.pool_id)
        facts[f"pwq {_pwq_key(p)}"] = {
            "pool": (pool.kind, pool.cpu) if pool else None, "work_color": p.work_color,
            "flush_color": p.flush_color, "nr_in_flight": list(p.nr_in_flight), "nr_active": p.nr_active,
            "max_active": p.max_active, "plugged": p.plugged, "nr_inactive": p.nr_inactive,
            "refcnt": p.refcnt, "slots": p.slots, "pending": p.pending,
        }
    pwq_keys = {p.address: _pwq_key(p) for p in wq.pwqs}
    works = Counter()
    for w in snap.works:
        if w.wq != wq.address:
            continue
        holder = None
        if w.where == "scheduled":
            worker = snap.worker(w.worker)
            holder = str(worker.current_func.name) if worker and worker.current_func else "idle worker"
        position = w.position if w.where in ("worklist", "inactive", "scheduled") else None
        works[(w.where, w.func.name, w.color, tuple(sorted(w.flag_names)), pwq_keys.get(w.pwq), position,
               holder, w.barrier.waiter.comm if w.barrier and w.barrier.waiter else None,
               w.delayed.target_cpu if w.delayed else None)] += 1
    facts["works"] = works
    return facts


def compare(predicted: Snapshot, actual: Snapshot, names: list[str]) -> list[str]:
    """Differences between the model's prediction and the kernel's snapshot, for workqueues ``names``."""
    errors = []
    for name in names:
        p = predicted.workqueues_named(name)
        a = actual.workqueues_named(name)
        if len(p) != 1 or len(a) != 1:
            errors.append(f"{name}: {len(p)} predicted, {len(a)} found")
            continue
        pf, af = _wq_facts(predicted, p[0]), _wq_facts(actual, a[0])
        for key in sorted(set(pf) | set(af)):
            if key == "works":
                continue
            if pf.get(key) != af.get(key):
                errors.append(f"{name}: {key}: predicted {pf.get(key)}, found {af.get(key)}")
        missing, extra = pf["works"] - af["works"], af["works"] - pf["works"]
        for w, n in missing.items():
            errors.append(f"{name}: predicted {n} more work(s) {w}")
        for w, n in extra.items():
            errors.append(f"{name}: found {n} unpredicted work(s) {w}")
    return errors
