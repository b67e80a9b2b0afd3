# SPDX-License-Identifier: LGPL-2.1-or-later
"""OpenMetrics text of the monitor's counters, for node_exporter's textfile collector and Prometheus."""

from ..monitor import Row
from ..text import escape

#: (family, type, help, value of a row or None when it does not apply)
FAMILIES = (
    ("started", "counter", "Work items started (PWQ_STAT_STARTED).", lambda r: r.stat("started")),
    ("completed", "counter", "Work items completed (PWQ_STAT_COMPLETED).", lambda r: r.stat("completed")),
    ("cpu_seconds", "counter", "CPU time of work items, sampled by the scheduler tick (PWQ_STAT_CPU_TIME).",
     lambda r: r.cpu_time),
    ("cpu_intensive", "counter", "Work items marked CPU intensive, per-cpu workqueues (PWQ_STAT_CPU_INTENSIVE).",
     lambda r: r.cpu_intensive),
    ("cm_wakeups", "counter", "Concurrency-management wakeups, per-cpu workqueues (PWQ_STAT_CM_WAKEUP).",
     lambda r: None if r.wq.unbound else r.stat("cm_wakeup")),
    ("repatriated", "counter", "Workers repatriated to their pod, unbound workqueues (PWQ_STAT_REPATRIATED).",
     lambda r: r.stat("repatriated") if r.wq.unbound else None),
    ("maydays", "counter", "Rescuer requests, WQ_MEM_RECLAIM workqueues (PWQ_STAT_MAYDAY).", lambda r: r.mayday),
    ("rescued", "counter", "Work items run by the rescuer, WQ_MEM_RECLAIM workqueues (PWQ_STAT_RESCUED).",
     lambda r: r.rescued),
    ("active", "gauge", "Active work items (nr_active).", lambda r: r.wq.nr_active),
    ("in_flight", "gauge", "Work items in flight (nr_in_flight, all colors).", lambda r: r.wq.in_flight),
    ("inactive", "gauge", "Work items held back by max_active (counted on kernels without stats).",
     lambda r: r.wq.inactive),
)


def _escape(v: str) -> str:
    """A label value: control characters as \\x1b-style text (text.escape), then OpenMetrics' own escapes."""
    return escape(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(rows: list[Row]) -> dict[int, str]:
    seen: dict[tuple, int] = {}
    for r in rows:
        key = (r.wq.name, r.wq.system_var)
        seen[key] = seen.get(key, 0) + 1
    out = {}
    for r in rows:
        labels = {"workqueue": r.wq.name, "system_var": r.wq.system_var or "",
                  "kind": str(r.wq.kind)}
        if seen[(r.wq.name, r.wq.system_var)] > 1:
            labels["address"] = f"{r.wq.address:#x}"  # same name twice: keep the series apart
        out[id(r)] = "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"
    return out


def openmetrics(rows: list[Row]) -> str:
    labels = _labels(rows)
    lines = []
    for name, kind, help_, value in FAMILIES:
        samples = [(labels[id(r)], value(r)) for r in rows if value(r) is not None]
        if not samples:
            continue
        family = f"wqinspect_workqueue_{name}"
        lines += [f"# TYPE {family} {kind}", f"# HELP {family} {help_}"]
        suffix = "_total" if kind == "counter" else ""
        lines += [f"{family}{suffix}{lab} {v}" for lab, v in samples]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
