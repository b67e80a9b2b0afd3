# SPDX-License-Identifier: LGPL-2.1-or-later
"""``wqinspect check``: the model's invariants, and optionally scenario predictions, on a snapshot.

On a live kernel the readers race with the kernel, so a violation may be an
object caught mid-update: :func:`run` re-reads (through the ``reread``
callable the CLI passes) and calls a violation *transient* when a later read
no longer shows it.

``check`` is not "ok" over what it could not read: a read warning about an
object the checks cover, or an implausible value, fails ``read.complete``
(:mod:`wqinspect.model.invariants`).
"""

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import filterfalse
from operator import attrgetter
from typing import Callable

from .model import invariants, predict
from .model.features import Features
from .model.machine import ModelError
from .snapshot import Snapshot, Verdict
from .snapshot.io import no_gc_pauses
from .errors import ScenarioError
from .text import escape


@dataclass
class CheckReport:
    snapshot: Snapshot
    #: Every result, or (``counts`` given) only those that do not hold.
    results: list[invariants.Result] = field(default_factory=list)
    reads: int = 1
    #: Results by check, held ones included, when ``results`` keeps only the others.
    counts: Counter | None = None

    @property
    def checked(self) -> int:
        """How many results there were, held ones included."""
        return sum(self.counts.values()) if self.counts is not None else len(self.results)

    def _failed(self):
        """The results that do not hold (``ok`` is false also for a transient one): filtered in C, for
        the hundreds of thousands of results of a check of 100,000 items."""
        return filterfalse(attrgetter("ok"), self.results)

    @property
    def violated(self) -> list[invariants.Result]:
        return [r for r in self._failed() if r.verdict == Verdict.VIOLATED]

    @property
    def transient(self) -> list[invariants.Result]:
        return [r for r in self._failed() if r.verdict == Verdict.TRANSIENT]

    def summary(self) -> list[dict]:
        rows = {}
        for name, (desc, _) in invariants.CHECKS.items():
            rows[name] = {"check": name, "description": desc, "checked": 0, "violated": 0, "transient": 0}
        # Counted in C: a check of 100,000 items has hundreds of thousands of results.
        counts = self.counts if self.counts is not None else Counter(map(attrgetter("check"), self.results))
        for name, n in counts.items():
            rows.setdefault(name, {"check": name, "description": "prediction of a scenario",
                                   "checked": 0, "violated": 0, "transient": 0})["checked"] = n
        for r in self._failed():
            if r.verdict != Verdict.OK:
                rows[r.check][str(r.verdict)] += 1
        return list(rows.values())


def load_scenario(path: str) -> dict:
    """A scenario description (fixtures/scenarios format): operations and funcs."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise ScenarioError(f"cannot read scenario {path}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise ScenarioError(f"{path} is not a scenario file: not JSON") from None
    ops = data.get("operations") if isinstance(data, dict) else None
    if not isinstance(ops, list) or not all(isinstance(op, dict) and isinstance(op.get("op"), str) for op in ops):
        raise ScenarioError(f"{path} is not a scenario file: it needs \"operations\", a list of "
                            "{\"op\": ...} objects")
    for i, op in enumerate(ops, 1):
        if op["op"].startswith("alloc_") and not (isinstance(op.get("wq"), str)
                                                   and isinstance(op.get("requires", ""), (str, type(None)))):
            raise ScenarioError(f"{path}: operation {i} ({escape(op['op'])}) needs \"wq\", a name (and "
                                "\"requires\", if given, a feature name)")
    if not isinstance(data.get("funcs", {}), dict):
        raise ScenarioError(f"{path} is not a scenario file: \"funcs\" must be an object")
    data.setdefault("name", path)
    return data


def scenario_results(snap: Snapshot, scenario: dict) -> list[invariants.Result]:
    """Replay ``scenario`` in the model for this kernel and compare with the snapshot."""
    features = Features.from_snapshot(snap)
    names = predict.scenario_workqueues(scenario, features)
    if not names:
        # Only the workqueues a scenario allocates are compared: with none, nothing would be.
        raise ScenarioError(f"scenario {scenario['name']} allocates no workqueue on this kernel, "
                            "so the model has nothing to predict")
    try:
        predicted = predict.replay(scenario, features)
    except (ModelError, TypeError, ValueError) as e:
        raise ScenarioError(f"scenario {scenario['name']}: the model cannot replay it: {e}") from None
    errors = predict.compare(predicted, snap, names)
    check = f"scenario.{scenario['name']}"
    if not errors:
        return [invariants.Result(check, ", ".join(names), "the model's prediction", "the same", True)]
    return [invariants.Result(check, e.split(":", 1)[0], "the model's prediction", e.split(":", 1)[1].strip(), False)
            for e in errors]


def evaluate(snap: Snapshot, scenarios: list[dict] = (), counts: Counter | None = None) -> list[invariants.Result]:
    """Every result; or, given ``counts``, those that do not hold, with ``counts`` counting all by check."""
    with no_gc_pauses():  # results form no cycles: 300,000 of them need no collection
        results = invariants.evaluate(snap, counts=counts)
    for sc in scenarios:
        more = scenario_results(snap, sc)
        if counts is not None:
            counts.update(r.check for r in more)
            more = [r for r in more if not r.ok]
        results += more
    return results


def run(snap: Snapshot, scenarios: list[dict] = (), reread: Callable[[], Snapshot] | None = None,
        rereads: int = 2, pause: float = 0.2, keep_ok: bool = True) -> CheckReport:
    """The checks (and ``scenarios``' predictions) on ``snap``; ``keep_ok=False`` keeps only the results
    that do not hold, and their counts (what ``check`` shows without ``--all``)."""
    counts = None if keep_ok else Counter()
    report = CheckReport(snap, evaluate(snap, scenarios, counts), counts=counts)
    if reread is None or not snap.target.live:
        return report
    for _ in range(rereads):
        suspects = {r.key for r in report.results if r.verdict == Verdict.VIOLATED}
        if not suspects:
            break
        time.sleep(pause)
        again = evaluate(reread(), scenarios, None if keep_ok else Counter())
        report.reads += 1
        still = {r.key for r in again if not r.ok}
        for r in report.results:
            if r.verdict == Verdict.VIOLATED and r.key not in still:
                r.verdict = Verdict.TRANSIENT
    return report
