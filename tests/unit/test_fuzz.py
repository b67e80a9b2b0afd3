# SPDX-License-Identifier: LGPL-2.1-or-later
"""Damaged snapshots never crash wqinspect (issue 14.2).

A seeded mutator damages copies of the fixture snapshots (schema 1 as stored, and schema 2 as
wqinspect writes them): deleted keys, changed types, huge, non-finite and 5,000-digit numbers,
deeply nested values, references to objects that do not exist, control characters, escape
sequences and lone surrogates in strings, truncation, pairs that are not pairs, empty lists and
nulls.  Every command runs on every mutant, as a table and as --json, in-process through click's
CliRunner (a sample also as subprocesses, with a real stdout).  The rules:

- never exit 3, never a traceback, never an exception out of the command;
- a refused file is one line on stderr and exit 2;
- --json output is JSON (NaN and Infinity are not);
- no raw ESC or CSI (U+009B) reaches stdout or stderr of a table.

``make test`` runs a few hundred mutants; ``make fuzz`` sets WQI_FUZZ_MUTANTS (and WQI_FUZZ_SEED).
"""

import json
import os
import random
import re
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from wqinspect.cli import main

from .conftest import SNAPSHOTS

MUTANTS = int(os.environ.get("WQI_FUZZ_MUTANTS", "400"))
SEED = int(os.environ.get("WQI_FUZZ_SEED", "14"))
SUBPROCESS_SAMPLE = int(os.environ.get("WQI_FUZZ_SUBPROCESS", "4"))
#: Escaping (issue 14.5) has its own test; the fuzzer checks it too (WQI_FUZZ_ESCAPES=0: not).
#: Commands run on each mutant (in rotation, so that every command meets every mutation class): "all" or N.
PER_MUTANT = int(os.environ.get("WQI_FUZZ_COMMANDS", "3").replace("all", "99"))
CHECK_ESCAPES = os.environ.get("WQI_FUZZ_ESCAPES", "1") == "1"

# Raw JSON text that json.dumps cannot write: placeholders are swapped for it after dumping.
_RAW = {
    "@NAN@": "NaN",
    "@INF@": "Infinity",
    "@-INF@": "-Infinity",
    "@DIGITS@": "9" * 5000,
    "@-DIGITS@": "-" + "9" * 5000,
    "@FDIGITS@": "1" * 5000 + ".5",
    "@EXP@": "1e400",
    "@NEST@": "[" * 3000 + "]" * 3000,
    "@NESTOBJ@": '{"a":' * 3000 + "1" + "}" * 3000,
    "@NEST50@": "[" * 50 + "1" + "]" * 50,
}
_RAW_RE = re.compile('"(' + "|".join(re.escape(k) for k in _RAW) + ')"')

NASTY_STRINGS = [
    "", " ", "\x1b[2J\x1b[31mred\x1b[0m", "\x1b]0;owned\x07", "\u009b31m", "\ud800", "x\udfffy", "\x00", "a\nb\rc",
    "\x7f\x85", "é漢字🙂", "%s%n{0}", "[bold]x[/bold]", "\\x1b", "w" * 5000, "-", "0x", "-1", "nan", "ffff",
]
HUGE_NUMBERS = [
    1 << 64, (1 << 64) - 1, 1 << 63, (1 << 63) - 1, -(1 << 63), -(1 << 63) - 1, -1, 0, 0x7FFFFFFF, 1 << 31,
    10**30, 1e308, -1e308, 1.5, 1e-300, 4294967296, "@NAN@", "@INF@", "@-INF@", "@DIGITS@", "@-DIGITS@",
    "@FDIGITS@", "@EXP@",
]
BAD_ADDRESSES = [0, 1, 0xDEAD000000000100, 0xDEAD000000000122, 0x00007FFFFFFFF000, 0x8000000000000000,
                 0xFFFFFFFFFFFFFFFF, 0xFFFF888000000000, 0x1234]
REF_KEYS = {"pwq", "pool", "wq", "worker", "current_pwq", "current_work", "rescue_wq", "dfl_pwq", "manager", "target",
            "rescuer", "address", "timer", "data", "flags"}
ID_KEYS = {"pool_id", "id", "cpu", "node", "pid", "rescuer_pid", "timer_cpu", "target_cpu", "rcu_cpu", "index",
           "position", "current_color", "color", "base", "nr_pods"}
NAME_KEYS = {"name", "comm", "wq_name", "release", "version", "machine", "source", "desc", "rescuer_of", "system_var",
             "message", "object", "text", "why", "module", "state", "affn_scope", "error", "last_unloaded_module",
             "captured_at", "wqinspect_version", "root", "where", "kind", "mode"}
ADDR_LIST_KEYS = {"workers", "idle", "busy", "maydays", "pending_pwqs"}


def _paths(v, path=()):
    """Every (path, value) in a JSON value, containers included."""
    yield path, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _paths(x, (*path, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _paths(x, (*path, i))


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _set(doc, path, value):
    _get(doc, path[:-1])[path[-1]] = value


def _like(old, n: int):
    """``n`` as the old value was written: a hex string in schema 1 files."""
    return hex(n) if isinstance(old, str) and old.startswith("0x") else n


def _other_type(rng, old):
    choices = ["x", 7, -3, 2.5, True, False, None, [], {}, [1, 2], {"a": 1}, [None], "0xzz", [[0, 1]], ["0x10"]]
    return rng.choice([c for c in choices if type(c) is not type(old)] or choices)


def _addresses_of(doc):
    """Addresses of real objects in the snapshot, to link one object to another of the wrong kind."""
    out = []
    for key in ("workqueues", "pools", "workers", "works"):
        for o in doc.get(key, []) if isinstance(doc.get(key), list) else []:
            if isinstance(o, dict) and "address" in o:
                out.append(o["address"])
    return out


LOG_LINES = [
    "hogged CPU", "workqueue: hogged CPU", "workqueue: \x1b[2J hogged CPU for >10000us 4 times",
    "BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 999999999999s!",
    "BUG: workqueue lockup - pool stuck for " + "9" * 5000 + "s!", "BUG: workqueue lockup - pool  stuck for 0s!",
    "BUG: workqueue lockup - pool cpus=0-1 flags=0x4 nice=-20 stuck for 31s!",
    "Showing busy workqueues and worker pools:",
    "workqueue events: flags=0x0", "  pwq 2: cpus=0 node=0 flags=0x0 nice=0 active=99999999999999999999 refcnt=-1",
    "    in-flight: 1:" + "x" * 3000,
    "pool 0: cpus=0 node=0 flags=0x0 nice=0 hung=99999999999s workers=-1 idle: \ud800",
    "workqueue: wqi_block_fn [wqi] hogged CPU for >18446744073709551615us 18446744073709551615 times",
]
CAPTURED_AT = ["0001-01-01T00:00:00+12:00", "9999-12-31T23:59:59-12:00", "2026-13-01T00:00:00+00:00", "now", "",
               "1970-01-01T00:00:00+00:00", "2026-11-28T04:50:28"]
MASKS = ["zz", "", ",", "f" * 5000, "-1", "0x3", "3,", "ff,ffffffff", "\x1b", " 3 "]


def _inject(rng: random.Random, doc) -> str:
    """Values the loader accepts but later layers may not: log lines, sysfs text, times, features, extremes."""
    what = rng.choice(["log", "sysfs", "captured_at", "touched_cpu", "features", "worker", "kernel", "uptime",
                       "stack", "stats", "image"])
    if what == "log":
        doc.setdefault("log", [])
        if isinstance(doc["log"], list):
            doc["log"].append({"time": rng.choice([0.0, -1e12, 1e12, 12.5]), "text": rng.choice(LOG_LINES)})
    elif what == "sysfs":
        wq = rng.choice(doc.get("workqueues") or [{"name": "events"}])
        name = wq.get("name", "events") if isinstance(wq, dict) else "events"
        doc["sysfs"] = {"global_attrs": {rng.choice(["cpumask", "cpumask_requested", "cpumask_isolated"]):
                                         rng.choice(MASKS)},
                        "workqueues": {name: {k: rng.choice(MASKS + ["2", "-5", "x", "default (pod)", "99999"])
                                              for k in rng.sample(["per_cpu", "max_active", "cpumask", "nice",
                                                                   "affinity_scope", "affinity_strict"], 3)}}}
    elif what == "captured_at" and isinstance(doc.get("target"), dict):
        doc["target"]["captured_at"] = rng.choice(CAPTURED_AT)
    elif what == "touched_cpu" and isinstance(doc.get("watchdog"), dict):
        doc["watchdog"]["touched_cpu"] = rng.choice([[[5, 1]], [[-1, 0]], [[9999, (1 << 64) - 1]], [[0, 0], [0, 1]]])
        doc["watchdog"]["thresh"] = rng.choice([0, 1, 1 << 32, None])
    elif what == "features" and isinstance(doc.get("kernel"), dict) and isinstance(doc["kernel"].get("features"), dict):
        f = doc["kernel"]["features"]
        k, v = rng.choice([("nr_colors", 1), ("nr_colors", 64), ("work_color_bits", 0), ("work_color_bits", 63),
                           ("work_pwq_shift", 63), ("work_pwq_shift", 0), ("work_offq_pool_bits", 0),
                           ("work_offq_pool_bits", 63), ("work_offq_pool_shift", 63), ("work_color_shift", 63),
                           ("work_offq_disable", [63, 63]), ("work_offq_flags", [["X", 63], ["Y", 63]]),
                           ("wq_flags", [["WQ_UNBOUND", (1 << 64) - 1]]), ("pool_flags", [["POOL_BH", 0]]),
                           ("worker_flags", [["WORKER_IDLE", (1 << 64) - 1]]), ("hz", 0), ("hz", -1),
                           ("wq_max_active_limit", 0), ("wq_dfl_active", -1), ("pwq_stats", []),
                           ("pwq_stats", ["completed", "completed"]), ("pwq_stats", ["\x1b[2J"] * 3)])
        f[k] = v
    elif what == "worker" and isinstance(doc.get("workers"), list) and doc["workers"]:
        w = rng.choice(doc["workers"])
        if isinstance(w, dict):
            k = rng.choice(["current_cpu_ns", "current_start", "last_active", "flags", "current_color", "id"])
            w[k] = rng.choice([(1 << 64) - 1, (1 << 63) - 1, 0, 1 << 62])
    elif what == "kernel" and isinstance(doc.get("kernel"), dict):
        k = rng.choice(["jiffies", "hz", "nr_cpu_ids", "nr_node_ids", "possible_cpus", "online_cpus"])
        doc["kernel"][k] = rng.choice({"jiffies": [0, (1 << 64) - 1, 1 << 63], "hz": [1, 100_000],
                                       "nr_cpu_ids": [0, 1 << 16], "nr_node_ids": [0, 1 << 16],
                                       "possible_cpus": [[], [(1 << 31) - 1], list(range(64))],
                                       "online_cpus": [[], [5], [0, 0]]}[k])
    elif what == "uptime":
        doc["uptime"] = rng.choice([-1e12, 1e12, 0.0])
    elif what == "stack" and isinstance(doc.get("stacks"), list) and doc["stacks"]:
        st = rng.choice(doc["stacks"])
        if isinstance(st, dict):
            st["frames"] = rng.choice([[], ["\x1b[2J"], ["schedule"] * 3000, [NASTY_STRINGS[5]]])
    elif what == "stats":
        for wq in doc.get("workqueues") or []:
            for pwq in wq.get("pwqs") or [] if isinstance(wq, dict) else []:
                if isinstance(pwq, dict) and isinstance(pwq.get("stats"), dict) and pwq["stats"]:
                    pwq["stats"].pop(rng.choice(list(pwq["stats"])))
    elif what == "image":
        v = rng.choice([[1 << 63], [(1 << 64) - 1, 0], [5, 5]])
        if rng.random() < 0.5:
            doc["kernel_image"] = v
        elif isinstance(doc.get("kernel"), dict):
            doc["kernel"]["module_area"] = v
    return f"inject {what}"


def mutate_once(rng: random.Random, doc) -> str:
    """Damage ``doc`` in place (one mutation); return what was done."""
    paths = list(_paths(doc))
    cls = rng.choice(["delete", "type", "number", "ref", "ref", "id", "name", "name", "pair", "empty", "null",
                      "nest", "dup", "swap", "inject", "inject", "inject"])
    if cls == "inject":
        return _inject(rng, doc)
    if cls == "delete":
        cand = [p for p, _ in paths if p and isinstance(_get(doc, p[:-1]), dict)]
        p = rng.choice(cand)
        del _get(doc, p[:-1])[p[-1]]
        return f"delete {p}"
    if cls == "type":
        p, v = rng.choice(paths[1:])
        _set(doc, p, _other_type(rng, v))
        return f"type {p}"
    if cls == "number":
        cand = [(p, v) for p, v in paths if p and isinstance(v, (int, float)) and not isinstance(v, bool)]
        cand += [(p, v) for p, v in paths if p and isinstance(v, str) and v.startswith("0x")]
        p, _ = rng.choice(cand)
        n = rng.choice(HUGE_NUMBERS)
        _set(doc, p, n)
        return f"number {p}={n}"
    if cls == "ref":
        cand = [(p, v) for p, v in paths if p and p[-1] in REF_KEYS and not isinstance(v, (dict, list))]
        cand += [(p, v) for p, v in paths if len(p) >= 2 and p[-2] in ADDR_LIST_KEYS and not isinstance(v, dict)]
        if not cand:
            return "ref (none)"
        p, v = rng.choice(cand)
        real = [int(a, 16) if isinstance(a, str) and re.fullmatch("0x[0-9a-f]+", a) else a
                for a in _addresses_of(doc)[:50]]
        n = rng.choice(BAD_ADDRESSES + [rng.getrandbits(64)] + [a for a in real if isinstance(a, int)])
        _set(doc, p, _like(v, n) if isinstance(n, int) else n)
        return f"ref {p}={n}"
    if cls == "id":
        cand = [p for p, v in paths if p and p[-1] in ID_KEYS and isinstance(v, int)]
        if not cand:
            return "id (none)"
        p = rng.choice(cand)
        n = rng.choice([-1, -2, 9999, 0x7FFFFFFF, 1 << 31, 64, 65536])
        _set(doc, p, n)
        return f"id {p}={n}"
    if cls == "name":
        cand = [p for p, v in paths if p and isinstance(v, str) and (p[-1] in NAME_KEYS or isinstance(p[-1], int))]
        cand += [p for p, v in paths if p and isinstance(v, dict) and v and all(isinstance(x, str) for x in v.values())]
        p = rng.choice(cand)
        s = rng.choice(NASTY_STRINGS)
        v = _get(doc, p)
        if isinstance(v, dict):  # a key of a str -> str mapping (sysfs, stats)
            k = rng.choice(list(v))
            v[s] = v.pop(k)
            return f"name key {p}.{k!r}={s[:20]!r}"
        _set(doc, p, s)
        return f"name {p}={s[:20]!r}"
    if cls == "pair":
        cand = [p for p, v in paths if p and isinstance(v, list) and len(v) == 2]
        if not cand:
            return "pair (none)"
        p = rng.choice(cand)
        v = _get(doc, p)
        _set(doc, p, rng.choice([[v[0]], [*v, v[0]], [], v[0], {"0": v[0]}, [v[1], v[0]], [None, None],
                                 [[v[0]], v[1]]]))
        return f"pair {p}"
    if cls == "empty":
        cand = [p for p, v in paths if p and isinstance(v, (list, dict)) and v]
        p = rng.choice(cand)
        _set(doc, p, type(_get(doc, p))())
        return f"empty {p}"
    if cls == "null":
        p, _ = rng.choice(paths[1:])
        _set(doc, p, None if rng.random() < 0.8 else [None])
        return f"null {p}"
    if cls == "nest":
        p, _ = rng.choice(paths[1:])
        n = rng.choice(["@NEST@", "@NESTOBJ@", "@NEST50@"])
        _set(doc, p, n)
        return f"nest {p}={n}"
    if cls == "dup":
        cand = [p for p, v in paths if p and isinstance(v, list) and v]
        p = rng.choice(cand)
        v = _get(doc, p)
        v.insert(rng.randrange(len(v) + 1), json.loads(json.dumps(rng.choice(v))))
        return f"dup {p}"
    # swap: a value from another place of the same key name (a pool's cpus in a pwq, a wq's flags in a pool, ...)
    p, v = rng.choice(paths[1:])
    same = [q for q, _ in paths if q and q[-1] == p[-1] and q != p]
    if not same:
        return "swap (none)"
    q = rng.choice(same)
    _set(doc, p, json.loads(json.dumps(_get(doc, q))))
    return f"swap {p}<-{q}"


def dump(doc) -> str:
    text = json.dumps(doc, indent=None, allow_nan=True)
    return _RAW_RE.sub(lambda m: _RAW[m.group(1)], text)


def _bases():
    """Each fixture as stored (schema 1 today) and as wqinspect writes it (schema 2)."""
    from wqinspect.snapshot import Snapshot

    out = []
    for f in sorted(SNAPSHOTS.glob("*.json")):
        out.append((f"{f.stem}.stored", json.loads(f.read_text())))  # schema 1 as the fixtures are today
        out.append((f"{f.stem}.v2", json.loads(Snapshot.load(str(f)).dumps())))
    return out


_BASES = None


def bases():
    global _BASES
    if _BASES is None:
        _BASES = _bases()
    return _BASES


def mutant(seed: int):
    """Mutant number ``seed``: (description, text)."""
    rng = random.Random(seed)
    name, base = rng.choice(bases())
    doc = json.loads(json.dumps(base))
    done = [mutate_once(rng, doc) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
    text = dump(doc)
    if rng.random() < 0.04:
        text = text[: rng.randrange(len(text))]
        done.append("truncated")
    return f"mutant {seed} of {name}: " + "; ".join(done), text


def _show_name(text: str) -> str:
    m = re.search(r'"name": "(wqi_[a-z_]+|events)"', text)
    return m.group(1) if m else "events"


def commands(text: str, seed: int | None = None):
    """Every command, as a table and as JSON; with ``seed`` and WQI_FUZZ_COMMANDS=N, N of them in rotation."""
    name = _show_name(text)
    out = []
    for c in (["workqueues"], ["pools"], ["workers"], ["works"], ["works", "--wq", name], ["show", name], ["check"],
              ["check", "--all"], ["diagnose"], ["topology"], ["monitor", "-i", "0"]):
        out += [c, [*c, "--json"]]
    out.append(["monitor", "-i", "0", "--prometheus"])
    out.append(["snapshot", "-o", "-"])  # written again: what was accepted must encode
    if seed is None or PER_MUTANT >= len(out):
        return out
    # the loader first (a refused file stops there), then the next commands in the rotation
    return [out[(seed * PER_MUTANT + i) % len(out)] for i in range(PER_MUTANT)]


def _no_nonfinite(c):
    raise ValueError(f"{c} in JSON output")


def judge(args, code: int, out: str, err: str, what: str) -> None:
    where = f"{what}\n  wqinspect {' '.join(args)}\n  exit {code}\n  stderr: {err[-2000:]}"
    assert code in (0, 1, 2), where
    assert "Traceback" not in err and "Traceback" not in out, where
    if code == 2:
        lines = err.strip().split("\n")
        assert len(lines) == 1 and lines[0].startswith("wqinspect: "), where
    elif "--json" in args or args[0] == "snapshot":
        # NDJSON lines end in \n only (str.splitlines() would also split at U+0085 or U+2028 in a name)
        for line in [x for x in out.split("\n") if x] if args[0] == "monitor" else [out]:
            try:
                json.loads(line, parse_constant=_no_nonfinite)
            except ValueError as e:
                raise AssertionError(f"{where}\n  not JSON: {e}") from None
    if "--json" not in args and args[0] != "snapshot" and CHECK_ESCAPES:  # JSON keeps the exact text
        for stream in (out, err):
            assert "\x1b" not in stream and "\x9b" not in stream, f"{where}\n  raw escape on a terminal stream"


def run_in_process(runner: CliRunner, path: str, args: list[str]):
    r = runner.invoke(main, [*args, "--from", path], catch_exceptions=True)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(r.exception))
        raise AssertionError(f"exception out of the command: {tb}")
    return r.exit_code, r.stdout, r.stderr


def _signature(message: str) -> str:
    """One defect, however many mutants find it: the error line without its numbers and names."""
    m = re.search(r"internal error: (\w+): (.*?) \(set WQI_DEBUG", message)
    if m:
        return f"{m.group(1)}: {re.sub(r'[0-9]+', 'N', m.group(2))[:60]}"
    m = re.search(r'File "([^"]+)", line (\d+)', message.rsplit("Traceback", 1)[-1])
    return f"{m.group(1)}:{m.group(2)}" if m else message.splitlines()[-1][:100]


def _fuzz(tmp_path, seeds, run) -> tuple[dict, dict]:
    stats = {"mutants": 0, "refused": 0, "runs": 0, "exit": {}}
    failures: dict[str, str] = {}
    path = str(tmp_path / "mutant.json")
    for seed in seeds:
        what, text = mutant(seed)
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(text)
        stats["mutants"] += 1
        for i, args in enumerate(commands(text, seed)):
            try:
                code, out, err = run(path, args)
                stats["runs"] += 1
                stats["exit"][code] = stats["exit"].get(code, 0) + 1
                judge(args, code, out, err, what)
            except AssertionError as e:
                failures.setdefault(_signature(str(e)), str(e)[:3000])
                continue
            refused = code == 2 and any(s in err for s in ("not a valid wqinspect snapshot", "is not JSON", "schema "))
            if i == 0 and refused:
                stats["refused"] += 1
                break  # the loader refused it: every command would say the same
    return stats, failures


def _report(failures: dict) -> str:
    return f"{len(failures)} distinct failures:\n" + "\n\n".join(f"[{k}]\n{v}" for k, v in failures.items())


def test_snapshot_fuzz_in_process(tmp_path):
    runner = CliRunner()
    t = time.monotonic()
    stats, failures = _fuzz(tmp_path, range(SEED * 100_000, SEED * 100_000 + MUTANTS),
                            lambda path, args: run_in_process(runner, path, args))
    print(f"snapshot fuzz: {stats} in {time.monotonic() - t:.1f}s")
    assert not failures, _report(failures)
    assert stats["mutants"] == MUTANTS
    # The mutator must exercise both the loader's refusals and the commands on accepted damage.
    assert 0 < stats["refused"] < stats["mutants"]


def _subprocess(path, args):
    p = subprocess.run([sys.executable, "-m", "wqinspect", *args, "--from", path], capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def test_snapshot_fuzz_subprocess_sample(tmp_path):
    """A few mutants through a real process: real stdout encoding, real exit codes."""
    rng = random.Random(SEED)
    path = str(tmp_path / "mutant.json")
    runs = 0
    for seed in rng.sample(range(SEED * 100_000, SEED * 100_000 + max(MUTANTS, SUBPROCESS_SAMPLE)), SUBPROCESS_SAMPLE):
        what, text = mutant(seed)
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(text)
        for args in rng.sample(commands(text), 3):
            judge(args, *_subprocess(path, args), what)
            runs += 1
    assert runs == 3 * SUBPROCESS_SAMPLE


@pytest.mark.parametrize("raw", sorted(_RAW))
def test_every_raw_value_is_refused_or_survives(tmp_path, raw):
    """Each value json.dumps cannot write, in an address, a count, a float and a name: refused in one line."""
    from wqinspect.snapshot import Snapshot

    base = json.loads(Snapshot.load(str(SNAPSHOTS / "sid-scenarios.json")).dumps())
    runner = CliRunner()
    for path in (("workqueues", 0, "address"), ("pools", 0, "nr_workers"), ("uptime",), ("workqueues", 0, "name"),
                 ("kernel", "features", "pwq_stats")):
        doc = json.loads(json.dumps(base))
        _set(doc, path, raw)
        f = tmp_path / "m.json"
        f.write_text(dump(doc))
        code, out, err = run_in_process(runner, str(f), ["workqueues", "--json"])
        judge(["workqueues", "--json"], code, out, err, f"{raw} at {path}")
        assert code == 2, (raw, path, err)


def _wq(d, name):
    return next(w for w in d["workqueues"] if w["name"] == name)


#: The values issue 14 found crashing a command: each is now refused in one line, or every command copes.
ISSUE_CASES = {
    "sysfs cpumask not hex": lambda d: d.update(sysfs={"global_attrs": {"cpumask": "zz"}, "workqueues": {}}),
    "sysfs wq cpumask not hex": lambda d: d.update(sysfs={"workqueues": {"wqi_flush": {"cpumask": "x", "nice": "y"}}}),
    "sysfs attrs not numbers": lambda d: d.update(sysfs={"workqueues": {"wqi_flush": {"per_cpu": "x", "nice": "y"}}}),
    "idle [null]": lambda d: d["pools"][0].update(idle=[None]),
    "one-element kernel_image": lambda d: d.update(kernel_image=[1]),
    "one-element module_area": lambda d: d["kernel"].update(module_area=[1]),
    "touched_cpu not a pair": lambda d: d["watchdog"].update(touched_cpu=[[1]]),
    "node_pools not a pair": lambda d: _wq(d, "wqi_flush").update(node_pools=[[1]]),
    "feature pair not a pair": lambda d: d["kernel"]["features"].update(work_offq_disable=[5]),
    "captured_at year 1 at +12:00": lambda d: d["target"].update(captured_at="0001-01-01T00:00:00+12:00"),
    "huge current_cpu_ns": lambda d: [w.update(current_cpu_ns=(1 << 64) - 1) for w in d["workers"]],
    "pwq stats without completed": lambda d: [p["stats"].pop("completed") for w in d["workqueues"] for p in w["pwqs"]],
    "log line 'hogged CPU'": lambda d: d["log"].append({"time": 1.0, "text": "hogged CPU"}),
    "lockup line with 5,000 digits": lambda d: d["log"].append(
        {"time": 1.0, "text": "BUG: workqueue lockup - pool cpus=0 stuck for " + "9" * 5000 + "s!"}),
    "null pwq address": lambda d: [p.update(address=None) for p in _wq(d, "wqi_flush")["pwqs"]],
    "zero pwq address": lambda d: [p.update(address=0) for p in _wq(d, "wqi_flush")["pwqs"]],
    "colors out of range": lambda d: [p.update(work_color=99, flush_color=9999, nr_in_flight=[1] * 100)
                                      for w in d["workqueues"] for p in w["pwqs"]],
    "extreme counts": lambda d: [p.update(nr_workers=(1 << 63) - 1, nr_idle=-(1 << 63), nr_running=-1)
                                 for p in d["pools"]],
    "references to nothing": lambda d: [x.update(pool_id=9999, worker=12, pwq=1, wq=2) for x in d["works"]],
    "duplicate pools and workqueues": lambda d: (d["pools"].extend(d["pools"]),
                                                 d["workqueues"].extend(d["workqueues"])),
    "work data layout at the edges": lambda d: d["kernel"]["features"].update(
        work_pwq_shift=63, work_offq_pool_shift=63, work_offq_pool_bits=63, work_color_bits=0, nr_colors=1),
}


@pytest.mark.parametrize("case", sorted(ISSUE_CASES))
def test_issue_14_values(tmp_path, case):
    from wqinspect.snapshot import Snapshot

    doc = json.loads(Snapshot.load(str(SNAPSHOTS / "sid-scenarios.json")).dumps())
    ISSUE_CASES[case](doc)
    f = tmp_path / "case.json"
    f.write_text(dump(doc))
    runner = CliRunner()
    for args in (["workqueues"], ["show", "wqi_flush", "--json"], ["works"], ["check", "--json"], ["diagnose"],
                 ["topology", "--json"], ["monitor", "-i", "0"]):
        code, out, err = run_in_process(runner, str(f), args)
        judge(args, code, out, err, case)
        if code == 2:
            assert "not a valid wqinspect snapshot: snapshot." in err, err  # refused, with the path of the value
            break


@pytest.mark.parametrize("value", ["0x1" + "0" * 16, "0x" + "f" * 5000, 1 << 64, (1 << 64) + 5])
def test_schema_1_addresses_over_64_bits_are_refused(tmp_path, value):
    """msgspec.convert() lets big integers through an unbounded address type: the loader looks for them."""
    from wqinspect.snapshot import Snapshot, SnapshotError

    doc = json.loads((SNAPSHOTS / "sid-scenarios.json").read_text())
    doc["schema"] = 1  # (schema-1 readers take integer addresses too)
    doc["workqueues"][3]["pwqs"][0]["address"] = value
    with pytest.raises(SnapshotError, match=r"snapshot\.workqueues\[3\]\.pwqs\[0\]\.address: more than 64 bits"):
        Snapshot.from_dict(json.loads(json.dumps(doc)))
    f = tmp_path / "v1.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(SnapshotError, match="more than 64 bits"):
        Snapshot.load(str(f))
    doc["workqueues"][3]["pwqs"][0]["address"] = "0xffffffffffffffff"  # the largest address still loads
    assert Snapshot.from_dict(doc).workqueues[3].pwqs[0].address == (1 << 64) - 1


def test_a_workqueue_hidden_by_damage_is_not_just_missing(tmp_path):
    """show/works --wq on a snapshot whose workqueue list was damaged: the one line says so (found by the
    corruption suite: `workqueues.next := NULL`, then `show wqi_flush` said only that it does not exist)."""
    from wqinspect.snapshot import Snapshot

    doc = json.loads(Snapshot.load(str(SNAPSHOTS / "sid-scenarios.json")).dumps())
    doc["workqueues"] = []
    f = tmp_path / "s.json"
    f.write_text(json.dumps(doc))
    code, _, err = run_in_process(CliRunner(), str(f), ["show", "wqi_flush"])
    assert code == 2 and "read warnings" not in err
    doc["warnings"] = [{"object": "workqueues", "message": "WalkError: list is damaged"}]
    f.write_text(json.dumps(doc))
    for args in (["show", "wqi_flush"], ["works", "--wq", "wqi_flush"]):
        code, _, err = run_in_process(CliRunner(), str(f), args)
        judge(args, code, "", err, "damaged list")
        assert code == 2 and "no workqueue named 'wqi_flush'" in err and "1 read warnings" in err, err
