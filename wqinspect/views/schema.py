# SPDX-License-Identifier: LGPL-2.1-or-later
"""The fields of every command's JSON output, and docs/json.md generated from them.

    python -m wqinspect.views.schema > docs/json.md

The snapshot types' fields come from their msgspec type information (and the
``#:`` comments above them in wqinspect/snapshot/types.py); the fields each
command adds are listed here.  tests/unit/test_json_schema.py checks that
docs/json.md is what this module generates and that every command's output on
every fixture has exactly these fields.
"""

import inspect
import re

import msgspec.inspect as mi

from ..snapshot import types as t

ENVELOPE = {
    "schema": "Version of the snapshot format the values follow (2).",
    "kernel": "The kernel: a [KernelInfo](#kernelinfo) (`monitor`: only `release`, `hz`, `jiffies`).",
    "target": "What was read: a [Target](#target).",
    "captured_at": "When it was read: ISO 8601 with the UTC offset, or null if unknown.",
}
WARNINGS = {"warnings": "What could not be read, or read consistently: a list of [ReadWarning](#readwarning)."}

WQ_EXTRA = {
    "label": "The name, with the system_*wq variable where names are shared: `events (system_wq)`.",
    "flushing": "A flush_workqueue() is in progress.",
    "strict": "An unbound workqueue with strict affinity (wq_dump.py's `unbound,S`).",
    "active": "Active items over its pwqs (sum of nr_active).",
    "inactive": "Items held back by max_active over its pwqs (sum of nr_inactive).",
    "in_flight": "Items in flight over its pwqs (sum of nr_in_flight[]).",
}
WORK_EXTRA = {
    "detail": "What it waits for or who runs it, as the table's DETAIL column says.",
    "expires_in_seconds": "Delayed items: seconds until the timer fires (negative: overdue); else null.",
}

#: command -> (the key of its items, the struct its items are (or None), fields added to each item,
#: the command's other top-level fields, nested lists of items: {field: (struct, added fields)}).
COMMANDS: dict[str, tuple] = {
    "workqueues": ("workqueues", t.Workqueue, WQ_EXTRA, {}, {}),
    "pools": ("pools", t.Pool, {"progress_seconds_ago": "Seconds since the pool last made progress."}, {}, {}),
    "workers": ("workers", t.Worker, {
        "state": "idle, running, sleeping, blocked (D), managing, rescuer, starting or busy.",
        "running_seconds": "Seconds the current item has run (v7.0+ kernels), else null."}, {}, {}),
    "works": ("works", t.Work, WORK_EXTRA, {
        "selected": "How many items matched the filters (`works` lists the first `--limit` of them)."}, {}),
    "show": ("workqueues", t.Workqueue, {**WQ_EXTRA, "pwqs": "Its pwqs, each a [Pwq](#pwq) with the fields "
                                         "listed under `show` pwqs.",
                                         "delayed": "Its items not in a pool yet (timers, RCU): work items as in "
                                         "`works`."}, {},
             {"pwqs": (t.Pwq, {"pool": "The pool it feeds: a [Pool](#pool).",
                               "workers": "The workers running or holding its items: [Worker](#worker) and "
                                          "`state`.",
                               "works": "Its items in the pool, in display order: work items as in `works`."})}),
    "check": ("results", None, {
        "check": "The invariant's name (e.g. `in_flight.count`).", "object": "What it was checked on.",
        "expected": "What the model says.", "found": "What the kernel has.",
        "verdict": "ok, violated or transient (violated, then gone when read again)."}, {
        "checks": "One entry per invariant: `check`, `description`, `checked`, `violated`, `transient`.",
        "reads": "How many times the kernel was read (re-reads of violations on a live kernel).",
        "ok": "No invariant is violated."}, {}),
    "diagnose": ("findings", None, {
        "severity": "critical, warning or info.", "kind": "What was found (stall, hog, flush, dangling, ...).",
        "signature": "The same for the same bug on every machine and boot: for grouping reports.",
        "what": "One line.", "where": "The object.", "evidence": "Lines that back it.",
        "suggestion": "What to do.", "data": "The fact found, typed by kind; addresses as \"0x…\" strings."}, {
        "ok": "Nothing was found."}, {}),
    "monitor": ("workqueues", None, {
        "timestamp": "Host time of the sample (seconds since the epoch), as wq_monitor.py's JSON has it.",
        "name": "The workqueue's name.", "unbound": "Unbound or ordered.", "mem_reclaim": "WQ_MEM_RECLAIM.",
        "started": "PWQ_STAT_STARTED (v6.5+, else null).", "completed": "PWQ_STAT_COMPLETED.",
        "cpu_time": "PWQ_STAT_CPU_TIME, µs.", "cpu_intensive": "PWQ_STAT_CPU_INTENSIVE.",
        "cm_wakeup": "PWQ_STAT_CM_WAKEUP.", "repatriated": "PWQ_STAT_REPATRIATED.", "mayday": "PWQ_STAT_MAYDAY.",
        "rescued": "PWQ_STAT_RESCUED.", "system_var": "Its system_*wq variable, or null.",
        "active": "Active items.", "in_flight": "Items in flight.",
        "inactive": "Inactive items (counted only on kernels without statistics, else null).",
        "rates": "Per second since the previous sample: total, completed, cpu% and the stats that changed."}, {
        "timestamp": "Host time of the sample (seconds since the epoch).",
        "stats": "The kernel has pwq->stats[] (v6.5+)."}, {}),
    "topology": ("workqueues", None, {
        "name": "The workqueue's name.", "system_var": "Its system_*wq variable, or null.",
        "address": "The workqueue_struct.", "kind": "percpu, unbound, ordered or bh.",
        "strict": "Unbound with strict affinity (wq_dump.py's `unbound,S`).",
        "cpu_pools": "CPU (a string) -> the pool work queued on that CPU goes to.",
        "dfl_pool": "The pool of the default pwq (unbound), or null.",
        "unbound_cpus": "CPUs of the unbound attributes, or null.", "affn_scope": "Affinity scope (v6.6+).",
        "rescuer_pid": "Pid of the rescuer, or null.", "rescuer_cpus": "CPUs the rescuer may run on.",
        "min_active": "min_active (v6.9+).", "max_active": "max_active.",
        "node_nr_active": "Per-node active counts (v6.9+): [NodeNrActive](#nodenractive).",
        "node_pools": "Before v6.6: [node, pool] for each numa_pwq_tbl slot."}, {
        "topology": "Scopes, pods and nodes: a [Topology](#topology), or null.",
        "pools": "Every pool: [Pool](#pool).",
        "sysfs": "Running kernel only: differences between /sys/devices/virtual/workqueue and memory "
                 "(`object`, `attribute`, `sysfs`, `memory`); null elsewhere."}, {}),
    "dump": ("lines", None, {}, {}, {}),
}


def struct_fields(cls) -> list[str]:
    return [f.encode_name for f in mi.type_info(cls).fields]


def _comments(cls) -> dict[str, str]:
    """The ``#:`` comment above each field in the class source."""
    out, pending = {}, []
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return out
    for line in src.splitlines()[1:]:
        s = line.strip()
        if s.startswith("#:"):
            pending.append(s[2:].strip())
            continue
        m = re.match(r"(\w+)\s*:", s)
        if m and pending:
            out[m.group(1)] = " ".join(pending)
        pending = []
    return out


def _type_name(tp) -> str:
    if isinstance(tp, mi.Metadata):
        if tp.extra and (tp.extra.get("addr") or tp.extra.get("u64")):
            return '"0x…"'
        tp = tp.type
    if isinstance(tp, mi.UnionType):
        return " or ".join(_type_name(u) for u in tp.types)
    if isinstance(tp, mi.StructType):
        return f"[{tp.cls.__name__}](#{tp.cls.__name__.lower()})"
    if isinstance(tp, (mi.ListType, mi.VarTupleType)):
        return f"list of {_type_name(tp.item_type)}"
    if isinstance(tp, mi.TupleType):
        return "[" + ", ".join(_type_name(u) for u in tp.item_types) + "]"
    if isinstance(tp, mi.DictType):
        return f"object of {_type_name(tp.value_type)}"
    if isinstance(tp, mi.EnumType):
        return " \\| ".join(f"`{e.value}`" for e in tp.cls)
    if isinstance(tp, mi.LiteralType):
        return " \\| ".join(f"`{v}`" for v in tp.values)
    return {mi.IntType: "int", mi.StrType: "string", mi.BoolType: "bool", mi.FloatType: "number",
            mi.NoneType: "null"}.get(type(tp), type(tp).__name__.removesuffix("Type").lower())


def _struct_types() -> list[type]:
    """The snapshot types that appear in command output, in a reading order."""
    seen: list[type] = []

    def walk(tp):
        if isinstance(tp, mi.Metadata):
            tp = tp.type
        if isinstance(tp, mi.StructType):
            if tp.cls not in seen:
                seen.append(tp.cls)
                for f in mi.type_info(tp.cls).fields:
                    walk(f.type)
        for attr in ("item_type", "value_type"):
            if hasattr(tp, attr):
                walk(getattr(tp, attr))
        for attr in ("types", "item_types"):
            for u in getattr(tp, attr, ()):
                walk(u)

    for cls in (t.KernelInfo, t.Target, t.ReadWarning, t.Workqueue, t.Pool, t.Worker, t.Work, t.Topology):
        walk(mi.type_info(cls))
    return seen


def _table(fields: dict[str, str]) -> list[str]:
    return ["| field | meaning |", "|---|---|"] + [f"| `{k}` | {v} |" for k, v in fields.items()]


def markdown() -> str:
    out = ["<!-- Generated by `python -m wqinspect.views.schema > docs/json.md`: edit wqinspect/views/schema.py -->",
           "# JSON output", "",
           "Every command with `--json` (`-j`) prints one JSON document (`monitor`: one per sample, one per "
           "line), with the same envelope:", ""]
    out += _table({**ENVELOPE, "*(items)*": "The command's items, under the key named below.",
                   "*(other fields)*": "The command's own fields, listed below.", **WARNINGS})
    out += ["", "Addresses and 64-bit words (jiffies, timer expiries, nanoseconds, flag values) are strings "
            "`\"0x…\"`: JSON readers such as jq and JavaScript round larger numbers. Strings are the kernel's "
            "text exactly (escaped only by JSON). The vocabularies are closed: `kind` of a workqueue is "
            "percpu, unbound, ordered or bh everywhere (tables, JSON and OpenMetrics labels). Items are "
            "written one per line as they are produced, so that large outputs stream.", ""]
    for cmd, (key, cls, extra, top, nested) in COMMANDS.items():
        out += [f"## `wqinspect {cmd} --json`", ""]
        what = f"a [{cls.__name__}](#{cls.__name__.lower()}) with these fields added" if cls else "objects"
        if extra:
            out += [f"Items under `{key}`: {what}:", ""] + _table(extra) + [""]
        else:
            out += [f"Items under `{key}`: strings, the lines the text output prints.", ""]
        for field, (ncls, nextra) in nested.items():
            out += [f"Each of `{field}`: a [{ncls.__name__}](#{ncls.__name__.lower()}) with:", ""]
            out += _table(nextra) + [""]
        if top:
            out += ["Other fields:", ""] + _table(top) + [""]
    out += ["## `wqinspect snapshot -o FILE --json`", "",
            "The envelope, with `output` (the file written) and `summary` (one line: how many objects) "
            "before `warnings`. The snapshot file itself holds the snapshot types below, addresses as exact "
            "integers.", ""]
    out += ["# Snapshot types", "",
            "The objects above are the snapshot's types (wqinspect/snapshot/types.py), with every field:", ""]
    for cls in _struct_types():
        notes = _comments(cls)
        out += [f"## {cls.__name__}", ""]
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        if doc and not doc.startswith(("A base class", "Base of")) and cls.__module__.startswith("wqinspect"):
            out += [doc, ""]
        out += ["| field | type | meaning |", "|---|---|---|"]
        for f in mi.type_info(cls).fields:
            out.append(f"| `{f.encode_name}` | {_type_name(f.type)} | {notes.get(f.name, '')} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
