# SPDX-License-Identifier: LGPL-2.1-or-later
"""The scenarios of ``fixtures/scenarios`` and the checker of their ``expect`` part.

The checker reads wqinspect's JSON output, the way a user's script would: the
``workqueues``, ``works``, ``workers`` and ``pools`` lists of the commands of
the same names (``--json``).  :func:`check` returns a list of mismatches,
each a sentence; an empty list means the kernel is in the expected state.

Keys of a workqueue's expectation (all optional):

- ``kind``, ``max_active``, ``active``, ``inactive``, ``in_flight``,
  ``work_color``, ``flush_color``, ``flushing``, ``nr_pwqs_to_flush``: equal
  to the workqueue's JSON fields;
- ``rescuer``: whether it has a rescuer; ``flags``: names it must carry;
- ``in_flight_by_color``: {color: count}, summed over its pwqs;
- ``pwq_flush_colors``: {cpu: flush color} of the pwq serving that CPU;
- ``first_flusher``: {flush_color, waiter (task comm)};
- ``pool_kinds``: kinds of the pools its pwqs use;
- ``works``: items of this workqueue, each with ``where``, ``func`` and
  optionally ``count``, ``color``, ``cpu`` (pool CPU), ``pool_kind``,
  ``position``, ``flags`` (that must be set), ``barrier_waiter``,
  ``barrier_target_func``, ``held_by_runner_of``, ``target_cpu`` and
  ``expires_in`` ([min, max] seconds) for delayed works;
  ``works_exact``: no other items;
- ``requires``: a feature (see ``kernel.features``) without which the
  workqueue must not exist.

A top-level ``works`` list matches items of any workqueue (e.g. of a system
workqueue, whose name is shared), and ``workers`` lists workers that must exist.

A CPU may be a number, ``"last_online"`` or ``"each_online"`` (the entry is
expected once per online CPU).
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .paths import SCENARIOS

#: The guest script that makes a pool call its rescuer (with wqi loaded with scenarios=mayday).
MAYDAY_SCRIPT = Path(__file__).with_name("mayday.sh")

#: Scenarios that ``scenarios=all`` loads, in the module's order.
ALL = ("saturate", "percpu-backlog", "delayed", "ordered", "reclaim", "flush", "barrier", "highpri")


@dataclass(frozen=True)
class Scenario:
    name: str
    data: dict

    @property
    def expect(self) -> dict:
        return self.data["expect"]

    @property
    def operations(self) -> list[dict]:
        return self.data["operations"]


def load(name: str) -> Scenario:
    path = SCENARIOS / f"{name}.json"
    return Scenario(name, json.loads(path.read_text()))


def _cpus(spec, online: list[int]) -> list:
    if spec == "each_online":
        return list(online)
    if spec == "last_online":
        return [max(online)]
    return [spec]


def _match_work(w: dict, e: dict, cpu, ctx) -> bool:
    if w["where"] != e["where"] or w["func"]["name"] != e["func"]:
        return False
    # The expectations are written for v5.15+; before, a barrier is uncolored (WORK_NO_COLOR, no
    # INACTIVE bit) and a running item's color is not recorded (see wqinspect/snapshot/layout.py).
    uncolored = ctx.no_color is not None and e["func"] == "wq_barrier_func"
    color = ctx.no_color if uncolored else e.get("color")
    if e["where"] == "running" and not ctx.running_color:
        color = None
    if "color" in e and w["color"] != color:
        return False
    if "position" in e and w["position"] != e["position"]:
        return False
    if not set(e.get("flags", ())) - ({"INACTIVE"} if uncolored else set()) <= set(w["flag_names"]):
        return False
    pool = ctx.pools.get(w["pool_id"])
    if "cpu" in e and (pool is None or pool["cpu"] != cpu):
        return False
    if "pool_kind" in e and (pool is None or pool["kind"] != e["pool_kind"]):
        return False
    if "barrier_waiter" in e:
        b = w.get("barrier") or {}
        if (b.get("waiter") or {}).get("comm") != e["barrier_waiter"]:
            return False
    if "barrier_target_func" in e:
        b = w.get("barrier") or {}
        target = [x for x in ctx.works if x["address"] == b.get("target") and not x.get("barrier")]
        if not target or target[0]["func"]["name"] != e["barrier_target_func"]:
            return False
    if "held_by_runner_of" in e:
        runner = ctx.workers.get(w["worker"])
        if runner is None or (runner.get("current_func") or {}).get("name") != e["held_by_runner_of"]:
            return False
    if "target_cpu" in e:
        d = w.get("delayed") or {}
        if d.get("target_cpu") != cpu:
            return False
    if "expires_in" in e:
        lo, hi = e["expires_in"]
        t = w.get("expires_in_seconds")
        if t is None or not lo <= t <= hi:
            return False
    return True


class _Ctx:
    def __init__(self, views: dict):
        self.features = views["kernel"]["features"]
        self.online = views["kernel"]["online_cpus"]
        self.wqs = views["workqueues"]
        self.works = views["works"]
        self.pools = {p["id"]: p for p in views["pools"]}
        self.workers = {w["address"]: w for w in views["workers"]}
        self.no_color = self.features.get("work_no_color")
        self.running_color = self.features.get("worker_current_color", True)


def check(scenario: Scenario, views: dict) -> list[str]:
    """Mismatches between the scenario's ``expect`` and wqinspect's JSON ``views``."""
    ctx = _Ctx(views)
    errors: list[str] = []
    for name, exp in scenario.expect.get("workqueues", {}).items():
        found = [w for w in ctx.wqs if w["name"] == name]
        if exp.get("requires") and not ctx.features.get(exp["requires"]):
            if found:
                errors.append(f"{name}: exists although the kernel lacks {exp['requires']}")
            continue
        if len(found) != 1:
            errors.append(f"{name}: expected one workqueue of that name, found {len(found)}")
            continue
        errors += [f"{name}: {e}" for e in _check_wq(found[0], exp, ctx)]
    for e in scenario.expect.get("works", []):
        # Items of any workqueue (e.g. of the system workqueues, whose names are shared).
        for cpu in _cpus(e.get("cpu", e.get("target_cpu")), ctx.online):
            hits = [w for w in ctx.works if _match_work(w, e, cpu, ctx)]
            if len(hits) < e.get("count", 1):
                errors.append(f"{len(hits)} {e['where']} {e['func']} matching {e} (cpu {cpu}), "
                              f"expected {e.get('count', 1)}")
    for exp in scenario.expect.get("workers", []):
        if not any(_match_worker(w, exp, ctx) for w in ctx.workers.values()):
            errors.append(f"no worker matches {exp}")
    return errors


def _check_wq(wq: dict, exp: dict, ctx: _Ctx) -> list[str]:
    errors = []
    # Before v5.15 the barriers the expectation counts in flight are not counted (WORK_NO_COLOR).
    uncounted: dict[str, int] = {}
    if ctx.no_color is not None:
        for e in exp.get("works", []):
            if e["func"] == "wq_barrier_func" and "color" in e:
                n = e.get("count", 1) * len(_cpus(e.get("cpu", e.get("target_cpu")), ctx.online))
                uncounted[str(e["color"])] = uncounted.get(str(e["color"]), 0) + n
    exp = dict(exp)
    if uncounted and "in_flight" in exp:
        exp["in_flight"] -= sum(uncounted.values())
    if uncounted and "in_flight_by_color" in exp:
        exp["in_flight_by_color"] = {c: n - uncounted.get(c, 0) for c, n in exp["in_flight_by_color"].items()
                                     if n - uncounted.get(c, 0)}
    for key in ("kind", "max_active", "active", "inactive", "in_flight", "work_color", "flush_color", "flushing",
                "nr_pwqs_to_flush"):
        if key in exp and wq[key] != exp[key]:
            errors.append(f"{key} is {wq[key]!r}, expected {exp[key]!r}")
    if "rescuer" in exp and (wq["rescuer_pid"] is not None) != exp["rescuer"]:
        errors.append(f"rescuer pid is {wq['rescuer_pid']}, expected {'one' if exp['rescuer'] else 'none'}")
    missing = set(exp.get("flags", ())) - set(wq["flag_names"])
    if missing:
        errors.append(f"flags {wq['flag_names']} lack {sorted(missing)}")
    if "in_flight_by_color" in exp:
        by_color: dict[str, int] = {}
        for p in wq["pwqs"]:
            for c, n in enumerate(p["nr_in_flight"]):
                if n:
                    by_color[str(c)] = by_color.get(str(c), 0) + n
        if by_color != exp["in_flight_by_color"]:
            errors.append(f"nr_in_flight by color is {by_color}, expected {exp['in_flight_by_color']}")
    for cpu, color in exp.get("pwq_flush_colors", {}).items():
        pwq = [p for p in wq["pwqs"] if int(cpu) in p["cpus"]]
        if not pwq or pwq[0]["flush_color"] != color:
            errors.append(f"pwq of cpu {cpu} has flush_color {pwq[0]['flush_color'] if pwq else None}, "
                          f"expected {color}")
    if "first_flusher" in exp:
        f = wq["first_flusher"]
        e = exp["first_flusher"]
        if f is None or f["flush_color"] != e["flush_color"] or e["waiter"] not in [t["comm"] for t in f["waiters"]]:
            errors.append(f"first flusher is {f}, expected color {e['flush_color']} waited on by {e['waiter']}")
    if "pool_kinds" in exp:
        kinds = sorted({ctx.pools[p["pool_id"]]["kind"] for p in wq["pwqs"] if p["pool_id"] in ctx.pools})
        if kinds != sorted(exp["pool_kinds"]):
            errors.append(f"pools of kinds {kinds}, expected {exp['pool_kinds']}")
    if "works" in exp:
        errors += _check_works(wq, exp, ctx)
    return errors


def _check_works(wq: dict, exp: dict, ctx: _Ctx) -> list[str]:
    errors = []
    mine = [w for w in ctx.works if w["wq"] == wq["address"]]
    left = list(mine)
    expected_total = 0
    for e in exp["works"]:
        for cpu in _cpus(e.get("cpu", e.get("target_cpu")), ctx.online):
            for _ in range(e.get("count", 1)):
                expected_total += 1
                hit = next((w for w in left if _match_work(w, e, cpu, ctx)), None)
                if hit is None:
                    errors.append(f"no {e['where']} {e['func']} matching {e} (cpu {cpu}) among "
                                  f"{[(w['where'], w['func']['name'], w['color']) for w in left]}")
                else:
                    left.remove(hit)
    if exp.get("works_exact") and len(mine) != expected_total:
        errors.append(f"{len(mine)} work items, expected {expected_total}: unexpected "
                      f"{[(w['where'], w['func']['name']) for w in left]}")
    return errors


def _match_worker(w: dict, exp: dict, ctx: _Ctx) -> bool:
    if "rescuer_of" in exp and w.get("rescuer_of") != exp["rescuer_of"]:
        return False
    if "running" in exp and (w.get("current_func") or {}).get("name") != exp["running"]:
        return False
    if "wq" in exp:
        wq = next((q for q in ctx.wqs if q["name"] == exp["wq"]), None)
        if wq is None or w.get("current_pwq") not in [p["address"] for p in wq["pwqs"]]:
            return False
    if "name_re" in exp and not re.search(exp["name_re"], w.get("name") or ""):
        return False
    if "has_task" in exp and (w.get("task") is not None) != exp["has_task"]:
        return False
    return set(exp.get("flags", ())) <= set(w["flag_names"])


def views_from_commands(outputs: dict[str, dict]) -> dict:
    """Assemble the checker's input from the JSON of wqinspect's commands."""
    return {
        "kernel": outputs["workqueues"]["kernel"],
        "workqueues": outputs["workqueues"]["workqueues"],
        "works": outputs["works"]["works"],
        "workers": outputs["workers"]["workers"],
        "pools": outputs["pools"]["pools"],
    }


def params_for(names) -> dict:
    """insmod parameters that start ``names`` together."""
    return {"scenarios": ",".join(names)}


def fixture_path(name: str) -> Path:
    return SCENARIOS / f"{name}.json"
