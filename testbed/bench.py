# SPDX-License-Identifier: LGPL-2.1-or-later
"""``make bench``: the commands users run, as whole processes, each beside drgn's own floor.

Every measure is one process started the way a user starts it, timed from
``fork`` to ``wait4``: the median wall time of ``--runs`` runs, the largest
peak RSS (``ru_maxrss`` of the child), and, for the views, the time until the
first row reaches the reading end of the child's stdout pipe (a pipe, as with
``| less``: rows stream there).  Each configuration measures drgn's floor in
the same run, also as a process: the interpreter, ``import drgn``,
``drgn.Program()``, attaching to the vmcore or the QMP socket, and loading the
same debug files.  The peers run on the same dump where they work: the kernel's
``tools/workqueue`` scripts through the ``drgn`` CLI, and Oracle's drgn-tools
``show_all_workqueues`` from a checkout under the cache, installed once into
its own venv with the drgn it pins (never vendored).

Configurations (``--parts``):

- ``scale``: the 100,000-item guest (``scale`` and ``traffic`` scenarios,
  ``--cpus`` vCPUs), live over QMP (paused) and its kdump;
- ``linear``: the same guest with a tenth of the items (kdump), for the
  per-item cost at both sizes;
- ``30k``: 300 workqueues, each with one running and 100 inactive works
  (kdump), against drgn-tools;
- ``idle``: a small idle guest, over QMP and its kdump.

The results go to ``build/bench/results.json`` (rewritten after every
measure, so an interrupted run keeps what it measured) and a table; they are
measurements, not tests.  ``--readme`` puts the table into README.md.
"""

import compileall
import contextlib
import datetime
import json
import os
import platform
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import TestbedError, bed, kerneltools, scenarios
from .paths import BUILD, REPO, cache_dir
from .timing import TIMINGS

OUT = BUILD / "bench"

#: drgn's floor: what every drgn tool pays before it reads a workqueue.
FLOOR = """\
import sys
import drgn
kind, where, *files = sys.argv[1:]
prog = drgn.Program(drgn.host_platform) if kind == "vmcore" else drgn.Program()
if kind == "vmcore":
    prog.set_core_dump(where)
else:
    prog.set_qemu_qmp(where)
try:
    prog.load_debug_info(files)
except drgn.MissingDebugInfoError:
    pass
"""

#: Loading a snapshot file, and nothing else.
LOAD = "import sys\nfrom wqinspect.snapshot import Snapshot\nSnapshot.load(sys.argv[1])\n"

#: What a drgn-tools user types to see every workqueue and its work items.
DRGN_TOOLS = "from drgn_tools.workqueue import show_all_workqueues; show_all_workqueues(prog)"

#: A first row of a view of the scale scenarios: every item there belongs to a wqi_* workqueue.
MARK = b"wqi_"

#: The issue's targets (issue 10), checked on the ``scale`` configuration.
SNAPSHOT_OVER = 0.6
SNAPSHOT_QMP_X = 3.0
WORKS_OVER = 0.8
FIRST_ROW_OVER = 0.5
FROM_TOTAL = 1.0
RSS_X = 1.25
LINEAR_X = 1.2

#: When a first run takes longer than this, it is the only run (the median of one, marked so).
LONG_RUN = 30.0


@dataclass
class Cmd:
    name: str
    argv: list[str]
    mark: bytes | None = None      # the first row is the first output holding it (None: the first byte)
    ok: tuple[int, ...] = (0,)     # exit codes that mean "done" (check/diagnose exit 1 on findings)
    group: str = "wqinspect"       # wqinspect, floor or peer
    needs: Path | None = None      # a file it reads (the snapshot of --from)


@dataclass
class Run:
    wall: float
    rss_kb: int
    first: float | None
    rc: int
    out_bytes: int
    err: str
    cpu: float = 0.0                # user + system seconds of the child (less moved by other load than wall)


def _last_line(data: bytes) -> str:
    lines = [x for x in data.decode(errors="replace").splitlines() if x.strip()]
    return lines[-1].strip()[:200] if lines else ""


def run_once(argv: list[str], mark: bytes | None, timeout: float, env: dict | None = None) -> Run:
    """Run argv with stdout on a pipe that is read to the end; time it, and its first row."""
    with tempfile.TemporaryFile() as errf:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errf, env=env,
                             start_new_session=True)
        fd = p.stdout.fileno()
        first = None
        seen = 0
        keep = b""
        deadline = t0 + timeout
        timed_out = False
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                timed_out = True
                os.killpg(p.pid, signal.SIGKILL)
                break
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            seen += len(chunk)
            if first is None:
                if mark is None or mark in keep + chunk:
                    first = time.perf_counter() - t0
                elif mark:
                    keep = (keep + chunk)[-(len(mark) - 1):]
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        p.stdout.close()
        errf.seek(0)
        err = _last_line(errf.read())
    if timed_out:
        err = f"killed after {timeout:.0f} s"
    return Run(wall, usage.ru_maxrss, first, p.returncode, seen, err, usage.ru_utime + usage.ru_stime)


@dataclass
class Bench:
    runs: int
    timeout: float
    results: dict = field(default_factory=dict)

    def save(self) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = OUT / "results.json.tmp"
        tmp.write_text(json.dumps(self.results, indent=1))
        tmp.replace(OUT / "results.json")

    def measure(self, config: str, target: str, cmds: list[Cmd]) -> None:
        """``runs`` rounds over the commands, one run of each per round, so that a change in the machine's
        load falls on every command alike; then the medians.  A command that fails is one line and is left
        out of the later rounds; one whose first run is long runs once."""
        runs: dict[str, list[Run]] = {c.name: [] for c in cmds}
        errors: dict[str, str] = {}
        # A warm-up run of each floor first, not counted: the first process to read a target pays for cold
        # caches (once 40 s over QMP on the 16-vCPU guest, against 4 s for every later command), which would
        # otherwise fall on the floor alone.
        for cmd in cmds:
            if cmd.group == "floor":
                with contextlib.suppress(OSError):
                    run_once(cmd.argv, cmd.mark, self.timeout)
        for i in range(self.runs):
            for cmd in cmds:
                if cmd.name in errors or (i and runs[cmd.name][0].wall > LONG_RUN):
                    continue
                if cmd.needs and not cmd.needs.exists():
                    errors[cmd.name] = f"left out: no {cmd.needs.name} (snapshot -o failed)"
                else:
                    try:
                        r = run_once(cmd.argv, cmd.mark, self.timeout)
                    except OSError as e:
                        errors[cmd.name] = f"cannot run {cmd.argv[0]}: {e.strerror}"
                    else:
                        if r.err.startswith("killed after"):
                            errors[cmd.name] = r.err
                        elif r.rc not in cmd.ok:
                            errors[cmd.name] = f"exit {r.rc}: {r.err or 'no message'}"
                        else:
                            runs[cmd.name].append(r)
                            first = f", first row {r.first:.2f} s" if r.first is not None else ""
                            print(f"bench: {config} {target} [{i + 1}/{self.runs}] {cmd.name}: {r.wall:.2f} s, "
                                  f"{r.rss_kb / 1024:.0f} MB{first}", file=sys.stderr, flush=True)
                if cmd.name in errors:
                    print(f"bench: {config} {target}: {cmd.name}: FAILED: {errors[cmd.name]}", file=sys.stderr,
                          flush=True)
                out = self.results.setdefault("configs", {}).setdefault(config, {}).setdefault(target, {})
                out[cmd.name] = _entry(cmd, runs[cmd.name], errors.get(cmd.name))
                self.save()


def _entry(cmd: Cmd, runs: list[Run], error: str | None) -> dict:
    entry: dict = {"group": cmd.group}
    if runs:
        entry.update(wall=statistics.median(r.wall for r in runs), walls=[round(r.wall, 4) for r in runs],
                     cpu=round(statistics.median(r.cpu for r in runs), 4),
                     rss_mb=round(max(r.rss_kb for r in runs) / 1024, 1), out_bytes=runs[0].out_bytes,
                     rc=runs[0].rc)
        firsts = [r.first for r in runs if r.first is not None]
        if firsts:
            entry["first"] = statistics.median(firsts)
    if error:
        entry["error"] = error
    return entry


# ---- the commands


def _wqi(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "wqinspect", *args]


def _drgn_cli(python: str, tgt: list[str], debug: list[str]) -> list[str]:
    # QEMU's kdump files name no architecture: the host's, as wqinspect and the floor assume.
    arch = ["--architecture", platform.machine()] if tgt[0] == "-c" else []
    return [str(Path(python).with_name("drgn")), "-q", *tgt, *arch, *[x for f in debug for x in ("-s", f)],
            "--no-default-symbols"]


@dataclass
class Peers:
    tools: dict[str, Path]          # the kernel's tools/workqueue scripts
    dt_python: str | None           # the drgn-tools venv's interpreter
    dt_qmp: bool = False            # whether the drgn it pins attaches over QMP


def commands(kind: str, where: str, debug: list[str], snap: Path, peers: Peers, only: set[str] | None = None,
             mark: bytes | None = MARK) -> list[Cmd]:
    """The measures on one target: floor, the commands, the peers (``only``: a subset by name)."""
    tgt = ["-c", where] if kind == "vmcore" else ["--qemu", where]
    syms = [x for f in debug for x in ("-s", f)]
    cmds = [
        Cmd("drgn floor", [sys.executable, "-c", FLOOR, kind, where, *debug], group="floor"),
        Cmd("snapshot -o", _wqi(["snapshot", "-o", str(snap), *tgt, *syms])),
        Cmd("works", _wqi(["works", *tgt, *syms]), mark),
        Cmd("works --json", _wqi(["works", "--json", *tgt, *syms]), mark),
        Cmd("workqueues", _wqi(["workqueues", *tgt, *syms])),
        Cmd("check", _wqi(["check", *tgt, *syms]), ok=(0, 1)),
        Cmd("diagnose", _wqi(["diagnose", *tgt, *syms]), ok=(0, 1)),
        Cmd("monitor -i 0", _wqi(["monitor", "-i", "0", *tgt, *syms])),
    ]
    for name, args in (("wq_monitor.py", ["-i", "0"]), ("wq_dump.py", [])):
        if name in peers.tools:
            cmds.append(Cmd(f"{name} {' '.join(args)}".strip(),
                            [*_drgn_cli(sys.executable, tgt, debug), str(peers.tools[name]), *args], group="peer"))
    if peers.dt_python and kind == "qmp" and not peers.dt_qmp:
        if only is None or "drgn-tools show_all_workqueues" in only:
            print("bench: drgn-tools: the drgn it pins cannot attach over QMP: left out on qmp",
                  file=sys.stderr, flush=True)
    elif peers.dt_python:
        cmds.append(Cmd("drgn-tools floor", [peers.dt_python, "-c", FLOOR, kind, where, *debug], group="floor"))
        cmds.append(Cmd("drgn-tools show_all_workqueues",
                        [*_drgn_cli(peers.dt_python, tgt, debug), "-e", DRGN_TOOLS], mark, group="peer"))
    return [c for c in cmds if only is None or c.name in only]


def from_commands(snap: Path, only: set[str] | None = None, mark: bytes | None = MARK) -> list[Cmd]:
    f = ["--from", str(snap)]
    cmds = [
        Cmd("--from: load only", [sys.executable, "-c", LOAD, str(snap)]),
        Cmd("--from works", _wqi(["works", *f]), mark),
        Cmd("--from works --json", _wqi(["works", "--json", *f]), mark),
        Cmd("--from workqueues", _wqi(["workqueues", *f])),
        Cmd("--from check", _wqi(["check", *f]), ok=(0, 1)),
        Cmd("--from diagnose", _wqi(["diagnose", *f]), ok=(0, 1)),
        Cmd("--from monitor -i 0", _wqi(["monitor", "-i", "0", *f])),
    ]
    for c in cmds:
        c.needs = snap
    return [c for c in cmds if only is None or c.name in only]


def measure_target(b: Bench, config: str, kind: str, where: str, debug: list[str], peers: Peers,
                   only: set[str] | None = None, with_from: bool = True, mark: bytes | None = MARK) -> None:
    snap = OUT / f"{config}.{kind}.snapshot.json"
    snap.unlink(missing_ok=True)
    cmds = commands(kind, where, debug, snap, peers, only, mark)
    if with_from and any(c.name == "snapshot -o" for c in cmds):
        cmds += from_commands(snap, only, mark)
    with TIMINGS.step(f"measure {kind}", config):
        b.measure(config, kind, cmds)
    if snap.exists():
        b.results["configs"][config][kind]["snapshot bytes"] = snap.stat().st_size
        b.save()
        snap.unlink()


# ---- drgn-tools: a checkout under the cache, installed once into its own venv


def drgn_tools() -> str | None:
    """The drgn-tools venv's python, installing the checkout on first use; None (and one line) without it."""
    src = cache_dir() / "drgn-tools"
    venv = cache_dir() / "drgn-tools-venv"
    py = venv / "bin" / "python"
    if not (src / "drgn_tools" / "workqueue.py").exists():
        print(f"bench: drgn-tools not found (put a checkout of https://github.com/oracle-samples/drgn-tools "
              f"in {src} to compare with it)", file=sys.stderr, flush=True)
        return None
    marker = venv / ".wqinspect-installed"
    if marker.exists():
        return str(py)
    base = getattr(sys, "_base_executable", None) or "python3"
    with TIMINGS.step("install drgn-tools", str(venv)):
        for argv in ([base, "-m", "venv", "--clear", str(venv)],
                     [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(src)]):
            p = subprocess.run(argv, capture_output=True, text=True)
            if p.returncode != 0:
                print(f"bench: drgn-tools could not be installed into {venv} ({' '.join(argv[1:4])}: "
                      f"{_last_line(p.stderr.encode()) or p.returncode}); going on without it",
                      file=sys.stderr, flush=True)
                return None
    marker.write_text(json.dumps({"source": str(src)}))
    return str(py)


def _probe(python: str, code: str) -> bool:
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


def _version(python: str, module: str) -> str:
    p = subprocess.run([python, "-c", f"import importlib.metadata as m; print(m.version({module!r}))"],
                       capture_output=True, text=True)
    return p.stdout.strip() or "?"


# ---- guests


def _boot(p, cpus: int):
    memory = max(2048, 64 * cpus)
    try:
        return bed.boot(p, cpus=cpus, memory_mb=memory, hostroot=False)
    except TestbedError as e:
        # A many-vCPU guest under TCG has been seen to panic early in boot, once: boot again once.
        print(f"bench: the guest did not boot ({str(e).splitlines()[0]}); trying once more", file=sys.stderr)
        return bed.boot(p, cpus=cpus, memory_mb=memory, hostroot=False)


def _load_scale(g, wqs: int, works: int) -> None:
    with TIMINGS.step("load scale scenario", f"{wqs} wqs, {works} works"):
        bed.insmod(g, "wqi", **scenarios.params_for(["scale", "traffic"]), scale_wqs=wqs, scale_works=works)


def _dump(g, path: Path, what: str) -> Path:
    with TIMINGS.step("dump kdump-zlib", what):
        return g.dump(path, "kdump-zlib")


def _count(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


@dataclass
class Plan:
    cpus: int
    wqs: int
    works: int
    parts: set[str]

    def scale_configs(self) -> list[tuple[str, int, int]]:
        """(config, workqueues, works) loaded one after the other into the scale guest."""
        out = []
        if "scale" in self.parts:
            out.append((f"scale-{_count(self.works)}", self.wqs, self.works))
        if "30k" in self.parts:
            out.append(("scale-30k", 300, 30300))
        if "linear" in self.parts:
            out.append((f"scale-{_count(self.works // 10)}", self.wqs, self.works // 10))
        return out


def run(suite: str, plan: Plan, runs: int, timeout: float) -> dict:
    p = bed.prepare(suite)
    # Bytecode for the package, as pip writes it on install: an editable checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would otherwise compile its sources in every measured process.
    compileall.compile_dir(str(REPO / "wqinspect"), quiet=1)
    tools = kerneltools.workqueue_tools(p.kernel)
    dt = drgn_tools()
    peers = Peers(tools, dt, bool(dt) and _probe(dt, "import drgn; assert hasattr(drgn.Program, 'set_qemu_qmp')"))
    debug = [str(f) for f in p.debug_files()]
    OUT.mkdir(parents=True, exist_ok=True)
    b = Bench(runs, timeout)
    b.results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "kernel": p.kernel.release, "cpus": plan.cpus, "runs": runs, "timeout": timeout,
        "drgn": _version(sys.executable, "drgn"),
        "drgn-tools drgn": _version(dt, "drgn") if dt else None,
        "peers": sorted(tools) + (["drgn-tools"] if dt else []),
        "items": {}, "configs": {}, "load average": [round(x, 1) for x in os.getloadavg()],
    }
    b.save()
    scale = plan.scale_configs()
    if scale:
        cores: list[tuple[str, Path]] = []
        try:
            g = _boot(p, plan.cpus)
        except TestbedError as e:
            _phase_failed("the scale guest", e)
        else:
            try:
                for i, (config, wqs, works) in enumerate(scale):
                    if i:
                        g.resume()
                        with TIMINGS.step("rmmod", config):
                            g.sh("rmmod wqi", timeout=600)
                    _load_scale(g, wqs, works)
                    b.results["items"][config] = {"workqueues": wqs, "works": works, "cpus": plan.cpus}
                    g.pause()
                    if i == 0 and "scale" in plan.parts:
                        measure_target(b, config, "qmp", str(g.qmp_socket), debug, peers, with_from=False)
                    cores.append((config, _dump(g, OUT / f"{config}.kdump-zlib", config)))
            except TestbedError as e:
                _phase_failed(f"the scale guest ({', '.join(c for c, _, _ in scale[len(cores):])} left out)", e)
            finally:
                g.stop()
        for config, core in cores:
            only = None
            if config == "scale-30k":
                only = {"drgn floor", "works", "works --json", "drgn-tools floor", "drgn-tools show_all_workqueues"}
            elif config != scale[0][0] or "scale" not in plan.parts:
                only = {"drgn floor", "snapshot -o", "works", "works --json", "workqueues", "--from: load only",
                        "--from works", "--from works --json"}
            measure_target(b, config, "vmcore", str(core), debug, peers, only)
            core.unlink(missing_ok=True)
    if "idle" in plan.parts:
        idle_cpus = 2
        core = None
        try:
            g = _boot(p, idle_cpus)
            b.results["items"]["idle"] = {"workqueues": None, "works": None, "cpus": idle_cpus}
            try:
                g.pause()
                measure_target(b, "idle", "qmp", str(g.qmp_socket), debug, peers, with_from=False, mark=None)
                core = _dump(g, OUT / "idle.kdump-zlib", "idle")
            finally:
                g.stop()
        except TestbedError as e:
            _phase_failed("the idle guest", e)
        if core:
            measure_target(b, "idle", "vmcore", str(core), debug, peers, mark=None)
            core.unlink(missing_ok=True)
    b.results["load average"] += [round(x, 1) for x in os.getloadavg()]
    b.results["targets"] = targets(b.results)
    b.results["linear"] = linear(b.results)
    b.save()
    return b.results


def _phase_failed(what: str, e: Exception) -> None:
    print(f"bench: {what}: {str(e).splitlines()[0]}; going on", file=sys.stderr, flush=True)


def machine() -> str:
    cpu = ""
    try:
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = m.group(1).strip() if m else ""
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    osname = platform.platform(terse=True)
    try:
        m = re.search(r'^PRETTY_NAME="?([^"\n]+)', Path("/etc/os-release").read_text(), re.M)
        osname = m.group(1) if m else osname
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({cpu or platform.machine()}), {mem:.0f} GiB, {osname}, "
            f"Python {platform.python_version()}")


# ---- the verdicts


def _get(results: dict, config: str, target: str, name: str) -> dict | None:
    e = results.get("configs", {}).get(config, {}).get(target, {}).get(name)
    return e if isinstance(e, dict) and "wall" in e else None


def _main_config(results: dict) -> str | None:
    names = [c for c in results.get("configs", {}) if c.startswith("scale-") and c != "scale-30k"]
    return max(names, key=lambda c: results["items"].get(c, {}).get("works") or 0, default=None)


def targets(results: dict) -> list[dict]:
    """The issue's targets: each with what was measured, the limit, and whether it is met (None: not measured)."""
    out: list[dict] = []

    def add(what: str, value: float | None, limit: float | None, unit: str = "s", below: bool = True) -> None:
        met = None if value is None or limit is None else (value <= limit if below else value < limit)
        out.append({"target": what, "value": value, "limit": limit, "unit": unit, "met": met})

    big = _main_config(results)
    if big:
        for kind in ("vmcore", "qmp"):
            fl = _get(results, big, kind, "drgn floor")
            snap = _get(results, big, kind, "snapshot -o")
            if kind == "vmcore":
                add(f"{big} {kind}: snapshot -o ≤ floor + {SNAPSHOT_OVER} s", snap and snap["wall"],
                    fl and fl["wall"] + SNAPSHOT_OVER)
            else:
                add(f"{big} {kind}: snapshot -o ≤ {SNAPSHOT_QMP_X:g} × floor", snap and snap["wall"],
                    fl and fl["wall"] * SNAPSHOT_QMP_X)
        fl = _get(results, big, "vmcore", "drgn floor")
        for name in ("works", "works --json"):
            e = _get(results, big, "vmcore", name)
            add(f"{big} vmcore: {name} ≤ floor + {WORKS_OVER} s", e and e["wall"], fl and fl["wall"] + WORKS_OVER)
        e = _get(results, big, "vmcore", "works")
        add(f"{big} vmcore: works, first row ≤ floor + {FIRST_ROW_OVER} s", e and e.get("first"),
            fl and fl["wall"] + FIRST_ROW_OVER)
        froms = [(n, e) for n, e in results["configs"][big].get("vmcore", {}).items()
                 if n.startswith("--from ") and isinstance(e, dict) and "wall" in e]
        worst = max(froms, key=lambda x: x[1]["wall"], default=None)
        add(f"{big}: every --from command ≤ {FROM_TOTAL} s" + (f" (slowest: {worst[0]})" if worst else ""),
            worst and worst[1]["wall"], FROM_TOTAL)
        for kind in ("vmcore", "qmp"):
            fl = _get(results, big, kind, "drgn floor")
            ours = [(n, e) for n, e in results["configs"][big].get(kind, {}).items()
                    if isinstance(e, dict) and e.get("group") == "wqinspect" and "rss_mb" in e]
            worst = max(ours, key=lambda x: x[1]["rss_mb"], default=None)
            add(f"{big} {kind}: peak RSS ≤ floor's + {RSS_X - 1:.0%}" + (f" (largest: {worst[0]})" if worst else ""),
                worst and worst[1]["rss_mb"], fl and fl["rss_mb"] * RSS_X, "MB")
        for kind in ("vmcore", "qmp"):
            ours = _get(results, big, kind, "monitor -i 0")
            theirs = _get(results, big, kind, "wq_monitor.py -i 0")
            add(f"{big} {kind}: monitor refresh below wq_monitor.py's", ours and ours["wall"],
                theirs and theirs["wall"], below=False)
    fl = _get(results, "scale-30k", "vmcore", "drgn floor")
    dfl = _get(results, "scale-30k", "vmcore", "drgn-tools floor")
    dt = _get(results, "scale-30k", "vmcore", "drgn-tools show_all_workqueues")
    dt_over = dt["wall"] - dfl["wall"] if dt and dfl else None
    for name, x in (("works --json", 0.5), ("works", 1.0)):
        e = _get(results, "scale-30k", "vmcore", name)
        add(f"scale-30k vmcore: {name} over floor ≤ {x:g} × drgn-tools' over its floor",
            e and fl and e["wall"] - fl["wall"], dt_over is not None and dt_over * x or None)
    lin = linear(results)
    if lin:
        worst = max(lin, key=lambda x: x["ratio"])
        add(f"linear growth: per-item cost at {worst['large']} ≤ {LINEAR_X:g} × at {worst['small']} "
            f"(worst: {worst['command']})", worst["ratio"], LINEAR_X, "×")
    return out


def linear(results: dict) -> list[dict]:
    """Per-item cost over the floor (µs) of each command measured at both scale sizes."""
    sizes = sorted(((results["items"][c]["works"], c) for c in results.get("configs", {})
                    if c.startswith("scale-") and c != "scale-30k" and c in results.get("items", {})))
    if len(sizes) < 2:
        return []
    (n_small, small), (n_large, large) = sizes[0], sizes[-1]
    out = []
    for name in results["configs"][small].get("vmcore", {}):
        a, b = _get(results, small, "vmcore", name), _get(results, large, "vmcore", name)
        fa, fb = _get(results, small, "vmcore", "drgn floor"), _get(results, large, "vmcore", "drgn floor")
        if not (a and b and fa and fb) or name == "drgn floor":
            continue
        # --from commands read no dump: their whole time is the cost.
        over_a = a["wall"] - (0 if name.startswith("--from") else fa["wall"])
        over_b = b["wall"] - (0 if name.startswith("--from") else fb["wall"])
        per_a, per_b = over_a / n_small * 1e6, over_b / n_large * 1e6
        out.append({"command": name, "small": small, "large": large, "us_per_item_small": round(per_a, 2),
                    "us_per_item_large": round(per_b, 2),
                    "us_per_item_marginal": round((over_b - over_a) / (n_large - n_small) * 1e6, 2),
                    "ratio": round(per_b / per_a, 2) if per_a > 0 else float("inf")})
    return out


# ---- the table


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "" if x is None else format(x, fmt)


def table(results: dict) -> str:
    lines = [f"`make bench`, {results['date']}: {results['machine']}; guest kernel {results['kernel']}; "
             f"drgn {results['drgn']}" + (f" (drgn-tools with drgn {results['drgn-tools drgn']})"
                                          if results.get("drgn-tools drgn") else "")
             + f"; median of {results['runs']} runs"
             + (f"; load average {results['load average'][0]:g} at the start, {results['load average'][3]:g} at the end"
                if len(results.get("load average", [])) == 6 else "") + ".", ""]
    for config, per in results.get("configs", {}).items():
        it = results["items"].get(config, {})
        desc = (f"{it['works']:,} work items in {it['workqueues']:,} scale workqueues, {it['cpus']} vCPUs"
                if it.get("works") else f"idle, {it.get('cpus')} vCPUs")
        lines += [f"**{config}** ({desc})", "",
                  "| target | command | wall s | × floor | over floor s | first row s | CPU s | peak RSS MB "
                  "| RSS × floor |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for kind, cmds in per.items():
            fl = cmds.get("drgn floor") if isinstance(cmds.get("drgn floor"), dict) else None
            for name, e in cmds.items():
                if not isinstance(e, dict):
                    continue
                if "wall" not in e:
                    msg = e.get("error", "?").replace("|", "\\|")
                    msg = msg if len(msg) <= 90 else msg[:89] + "…"
                    lines.append(f"| {kind} | `{name}` | failed: {msg} | | | | | | |")
                    continue
                own = cmds.get("drgn-tools floor") if name.startswith("drgn-tools") else fl
                own = own if own and "wall" in own else None
                dw = own and own["wall"]
                x = f"{e['wall'] / dw:.2f}" if dw and not name.startswith("--from") else ""
                over = _f(e["wall"] - dw) if dw and e.get("group") != "floor" and not name.startswith("--from") else ""
                rx = f"{e['rss_mb'] / own['rss_mb']:.2f}" if own else ""
                runs = "" if len(e.get("walls", [])) == results["runs"] else f" ({len(e['walls'])} run)"
                lines.append(f"| {kind} | `{name}` | {e['wall']:.3f}{runs} | {x} | {over} | {_f(e.get('first'))} "
                             f"| {_f(e.get('cpu'))} | {e['rss_mb']:.0f} | {rx} |")
            if "snapshot bytes" in cmds:
                lines.append(f"| {kind} | (snapshot file: {cmds['snapshot bytes'] / 2**20:.1f} MB) | | | | | | | |")
        lines.append("")
    lin = results.get("linear") or linear(results)
    if lin:
        lines += ["**Per-item cost** (time over drgn's floor, or the whole time for `--from`, per work item)", "",
                  f"| command | µs/item at {lin[0]['small']} | µs/item at {lin[0]['large']} | marginal µs/item "
                  f"| ratio |", "|---|---:|---:|---:|---:|"]
        for r in lin:
            lines.append(f"| `{r['command']}` | {r['us_per_item_small']:.2f} | {r['us_per_item_large']:.2f} "
                         f"| {r['us_per_item_marginal']:.2f} | {r['ratio']:.2f} |")
        lines.append("")
    tg = results.get("targets") or targets(results)
    if tg:
        lines += ["**Targets** (issue 10)", "", "| target | measured | limit | |", "|---|---:|---:|---|"]
        for t in tg:
            verdict = {True: "met", False: "**not met**", None: "not measured"}[t["met"]]
            fmt = ".0f" if t["unit"] == "MB" else ".2f"
            unit = f" {t['unit']}" if t["unit"] != "×" else "×"
            val = f"{_f(t['value'], fmt)}{unit}" if t["value"] is not None else ""
            lim = f"{_f(t['limit'], fmt)}{unit}" if t["limit"] is not None else ""
            lines.append(f"| {t['target']} | {val} | {lim} | {verdict} |")
    return "\n".join(lines).rstrip() + "\n"


BEGIN, END = "<!-- bench:begin (make bench --readme) -->", "<!-- bench:end -->"


def update_readme(text: str) -> bool:
    """Put the table between the markers of README's Benchmarks section (only there)."""
    readme = REPO / "README.md"
    old = readme.read_text()
    if BEGIN not in old or END not in old:
        print(f"bench: README.md has no {BEGIN} ... {END} block in its Benchmarks section: left as it is",
              file=sys.stderr)
        return False
    head, rest = old.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + BEGIN + "\n" + text + END + tail)
    return True


def main_bench(args) -> None:
    parts = set(args.parts.split(","))
    unknown = parts - {"scale", "linear", "30k", "idle"}
    if unknown:
        raise TestbedError(f"unknown bench part(s): {', '.join(sorted(unknown))} (scale, linear, 30k, idle)")
    if args.table_only:
        results = json.loads((OUT / "results.json").read_text())
    else:
        results = run(args.kernel, Plan(args.cpus, args.wqs, args.works, parts), args.runs, args.timeout)
    text = table(results)
    (OUT / "table.md").write_text(text)
    print("\n" + text)
    print(f"(saved in {OUT / 'results.json'} and {OUT / 'table.md'})")
    if args.readme and update_readme(text):
        print("README.md: Benchmarks table replaced")
