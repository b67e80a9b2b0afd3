# SPDX-License-Identifier: LGPL-2.1-or-later
"""The JSON form of each command, from the view models (:mod:`wqinspect.views.models`).

Every command prints one envelope: ``schema``, ``kernel``, ``target``,
``captured_at``, then the command's items under one key, the command's other
fields, and ``warnings`` last.  Addresses and 64-bit words are ``"0x…"``
strings (:func:`~wqinspect.views.jsonout.jsonable`).  Items are produced one
at a time, so that :func:`~wqinspect.views.render.write_json` streams them;
docs/json.md lists every field.
"""

import datetime
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import msgspec

from ..snapshot import Snapshot, Work
from . import models as m
from .jsonout import converter, hexa, jsonable

#: Integers beyond this lose precision in jq and JavaScript: an untyped value this large is written in hex.
_EXACT = 1 << 53


@dataclass
class Doc:
    head: dict
    key: str
    items: Iterable
    tail: dict = field(default_factory=dict)

    def dict(self) -> dict:
        """The whole document as one value (tests, the Python API)."""
        return {**self.head, self.key: list(self.items), **self.tail}


def head(snap: Snapshot) -> dict:
    return {"schema": snap.schema, "kernel": jsonable(snap.kernel), "target": jsonable(snap.target),
            "captured_at": snap.target.captured_at or None}


def tail(snap_warnings, **extra) -> dict:
    return {**extra, "warnings": jsonable(list(snap_warnings))}


def plain(value):
    """An untyped value (e.g. a finding's data) as JSON values: large integers in hex, structs via jsonable."""
    if isinstance(value, msgspec.Struct):
        return jsonable(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return hexa(value) if not -_EXACT < value < _EXACT else value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, float):
        return value if abs(value) < float("inf") else None  # (NaN and infinities are not JSON)
    return value if isinstance(value, str) else str(value)


# -- views ------------------------------------------------------------------------------------------------------------


def workqueues(v: m.WorkqueuesView) -> Doc:
    def items():
        for wq in v.rows:
            yield jsonable(wq) | {"label": wq.label, "flushing": wq.flushing, "strict": m.strict(wq)} \
                | v.totals[id(wq)]

    return Doc(head(v.snap), "workqueues", items(), tail(v.snap.warnings))


def pools(v: m.PoolsView) -> Doc:
    items = (jsonable(p) | {"progress_seconds_ago": v.progress_ago(p)} for p in v.rows)
    return Doc(head(v.snap), "pools", items, tail(v.snap.warnings))


def workers(v: m.WorkersView) -> Doc:
    items = (jsonable(w) | {"state": w.state, "running_seconds": v.running_for(w)} for w in v.rows)
    return Doc(head(v.snap), "workers", items, tail(v.snap.warnings))


def work_item(v, w: Work) -> dict:
    out = converter(Work)(w)  # (100,000 items: the converter straight, the keys added in place)
    out["detail"] = v.detail(w)
    out["expires_in_seconds"] = v.expires_in(w)
    return out


def works(v: m.WorksView) -> Doc:
    items = (work_item(v, w) for w in v.rows)
    return Doc(head(v.snap), "works", items, tail(v.snap.warnings, selected=v.selected))


def show(v: m.ShowView) -> Doc:
    def items():
        for part in v.parts:
            pwqs = []
            for pp in part.pwqs:
                pwqs.append(jsonable(pp.pwq) | {
                    "pool": jsonable(pp.pool) if pp.pool else None,
                    "workers": [jsonable(w) | {"state": w.state} for _, w, _ in pp.holders if w is not None],
                    "works": [work_item(v, w) for w in pp.works],
                })
            entry = jsonable(part.wq) | {"label": part.wq.label, "flushing": part.wq.flushing,
                                         "strict": m.strict(part.wq)} | part.totals
            entry["pwqs"] = pwqs
            entry["delayed"] = [work_item(v, w) for w in part.pending]
            yield entry

    return Doc(head(v.snap), "workqueues", items(), tail(v.snap.warnings))


def check(v: m.CheckView) -> Doc:
    r = v.report
    items = ({"check": x.check, "object": x.object, "expected": x.expected, "found": x.found,
              "verdict": str(x.verdict)} for x in v.rows)
    return Doc(head(v.snap), "results", items,
               tail(v.snap.warnings, checks=v.summary, reads=r.reads, ok=not r.violated))


def findings(v: m.FindingsView) -> Doc:
    # signature: stable per bug (wqinspect.diagnose.finding.Finding.signature, issue 11.4).
    items = ({"severity": str(f.severity), "kind": str(f.kind), "signature": f.signature, "what": f.what,
              "where": f.where,
              "evidence": list(f.evidence), "suggestion": f.suggestion, "data": plain(f.data)} for f in v.rows)
    return Doc(head(v.snap), "findings", items, tail(v.snap.warnings, ok=not v.rows))


def monitor(v: m.MonitorView) -> Doc:
    """One NDJSON line of ``monitor --json``: the same envelope, for one sample."""
    s = v.sample
    at = None
    if 0 < s.time < 1e11:
        at = datetime.datetime.fromtimestamp(s.time, datetime.timezone.utc).astimezone().isoformat()
    h = {"schema": _schema(), "kernel": {"release": s.kernel, "hz": s.hz, "jiffies": hexa(s.jiffies)},
         "target": jsonable(v.target) if v.target is not None else None, "captured_at": at}
    items = (r.as_dict(s.time) for r in v.rows)
    return Doc(h, "workqueues", items, tail(s.warnings, timestamp=s.time, stats=s.has_stats))


def _schema() -> int:
    from ..snapshot import SCHEMA_VERSION

    return SCHEMA_VERSION


def topology(v: m.TopologyView) -> Doc:
    snap = v.snap

    def items() -> Iterator[dict]:
        for wq in snap.workqueues:
            yield {"name": wq.name, "system_var": wq.system_var, "address": hexa(wq.address), "kind": str(wq.kind),
                   "strict": m.strict(wq),
                   "cpu_pools": {str(c): p for c, p in sorted(v.cpu_pools[id(wq)].items())},
                   "dfl_pool": v.dfl_pools[id(wq)], "unbound_cpus": wq.cpus, "affn_scope": wq.affn_scope,
                   "rescuer_pid": wq.rescuer_pid, "rescuer_cpus": wq.rescuer_cpus, "min_active": wq.min_active,
                   "max_active": wq.max_active, "node_nr_active": jsonable(wq.node_nr_active),
                   "node_pools": [list(x) for x in wq.node_pools]}

    return Doc(head(snap), "workqueues", items(), tail(
        snap.warnings, topology=jsonable(snap.topology) if snap.topology else None,
        pools=[jsonable(p) for p in v.pools],
        sysfs=None if snap.sysfs is None else [plain(d) for d in v.diffs]))


def dump(v: m.DumpView) -> Doc:
    return Doc(head(v.snap), "lines", iter(v.lines), tail(v.snap.warnings))


def doc(view) -> Doc:
    """The JSON document of any view model."""
    return {"dump": dump,
        "workqueues": workqueues, "pools": pools, "workers": workers, "works": works, "show": show,
        "check": check, "findings": findings, "monitor": monitor, "topology": topology,
    }[view.name](view)

