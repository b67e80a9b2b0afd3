# SPDX-License-Identifier: LGPL-2.1-or-later
"""Live churn (issue 14.6): wqinspect reads a kernel that changes under it, and never fails for it.

A guest loads and unloads the test module in a loop with the ``traffic`` scenario: three workqueues
created, a burst of work pushed through them, destroyed, again and again.  wqinspect reads it live
in two modes:

- ``qmp``: from the host through QMP: ``snapshot`` and ``check`` runs (each a new process) and
  ``monitor`` refreshes (one process);
- ``kcore``: inside the guest on /proc/kcore, the host's wqinspect shared over virtiofs (as a user on
  a real host runs it).  drgn needs 12 to 35 s to load the debug info in a TCG guest, so most kcore
  reads are the refreshes of one ``monitor --json`` process, then a few ``snapshot`` and ``check``
  processes, one after another in the guest while the host reads through QMP.

No run may exit 3, print a traceback, hang (60 s a host process, 180 s a guest one) or print
output that is not JSON; a violation that is gone when read again is ``transient``, as on any
live kernel.

    python -m testbed.churn --kernel sid --reads 100 --kcore-reads 94 --kcore-runs 6
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import bed
from .corrupt import Run, judge, run

#: A guest loop: the traffic scenario loaded and unloaded (workqueues created and destroyed), forever.
LOOP = ("(while true; do insmod /test/wqi.ko scenarios=traffic traffic_works={works}; sleep 0.{pause}; "
        "rmmod wqi; done) </dev/null >/dev/null 2>&1 &")
#: How long one wqinspect process inside the (TCG) guest may take: drgn loads the debug info there.
GUEST_TIMEOUT = 180


def _reject_constant(c):
    raise ValueError(f"{c} in JSON output")


def new_mode_stats() -> dict:
    return {"runs": 0, "exit": {}, "timeouts": 0, "warned": 0, "transient": 0, "violated": 0,
            "with_traffic_wqs": 0, "seconds": []}


def tally(stats: dict, failures: list, mode: str, r: Run, snapshot_text: str | None) -> None:
    """Count one snapshot or check run and judge it by the churn rules."""
    st = stats[mode]
    st["runs"] += 1
    st["exit"][str(r.code)] = st["exit"].get(str(r.code), 0) + 1
    st["timeouts"] += r.code is None
    st["seconds"].append(round(r.seconds, 1))
    problems = judge(r, None)
    if r.code == 2:
        problems.append(f"exit 2 on a live guest: {r.err.strip()[-300:]}")
    try:
        if r.args[0] == "snapshot" and r.code == 0:
            snap = json.loads(snapshot_text, parse_constant=_reject_constant)
            if snap.get("target", {}).get("mode") != mode or not snap["target"].get("live"):
                problems.append(f"the snapshot was not read live in {mode} mode: {snap.get('target')}")
            st["warned"] += bool(snap.get("warnings"))
            # the churn is there: some reads catch the traffic workqueues, some do not
            st["with_traffic_wqs"] += any(w.get("name", "").startswith("wqi_traffic")
                                          for w in snap.get("workqueues", []))
        if r.args[0] == "check" and r.code in (0, 1):
            rep = json.loads(r.out, parse_constant=_reject_constant)
            for c in rep.get("checks", []):
                st["transient"] += c.get("transient", 0)
                st["violated"] += c.get("violated", 0)
    except (TypeError, ValueError, AttributeError) as e:
        problems.append(f"output is not the JSON expected: {e}")
    if problems:
        failures.append({"mode": mode, "run": " ".join(r.args), "problems": problems})
        print(f"FAIL {mode} {' '.join(r.args)}: {problems}", file=sys.stderr)
    print(f"[{mode} {st['runs']}] {r.args[0]} exit {r.code} {r.seconds:.1f}s", file=sys.stderr, flush=True)


def judge_monitor(m: dict, want: int) -> list[str]:
    bad = list(m.get("notes", []))
    if m.get("exit") not in (0, 130) or m.get("hang") or m.get("traceback") or m.get("samples", 0) < want:
        bad.append(f"monitor: exit {m.get('exit')}, hang {m.get('hang')}, traceback {m.get('traceback')}, "
                   f"{m.get('samples')} of {want} samples: {m.get('stderr', '')[-500:]}")
    return bad


def parse_ndjson(text: str, m: dict) -> None:
    """Count the monitor samples in ``text`` (one JSON object a line) into ``m``."""
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            sample = json.loads(line, parse_constant=_reject_constant)
            if not isinstance(sample, dict):
                raise ValueError(f"a {type(sample).__name__}, not an object")
            m["samples"] += 1
            m["warned"] += bool(sample.get("warnings"))
        except ValueError as e:
            m["notes"].append(f"not JSON: {e}: {line[:200]!r}")


def monitor_refreshes(target: list[str], n: int, interval: float, timeout: float) -> dict:
    """One monitor process on the host printing NDJSON every ``interval`` s: the first ``n`` samples, then Ctrl-C."""
    p = subprocess.Popen([sys.executable, "-m", "wqinspect", "monitor", "-i", str(interval), "--json", *target],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    m = {"samples": 0, "warned": 0, "notes": []}
    deadline = time.monotonic() + timeout
    try:
        for line in p.stdout:
            parse_ndjson(line, m)
            if m["samples"] >= n or time.monotonic() > deadline:
                break
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stack = subprocess.run(["py-spy", "dump", "--pid", str(p.pid)], capture_output=True, text=True) \
            if shutil.which("py-spy") else None
        os.killpg(p.pid, signal.SIGKILL)
        _, err = p.communicate()
        return {**m, "exit": None, "hang": True, "stderr": err.strip()[-1000:],
                "stack": stack.stdout[-3000:] if stack else None}
    return {**m, "exit": p.returncode, "hang": time.monotonic() > deadline and m["samples"] < n,
            "traceback": "Traceback" in err, "stderr": err.strip()[-500:], "notes": m["notes"][:10]}


class GuestWqinspect:
    """wqinspect run inside the guest on /proc/kcore, from the host root shared over virtiofs.

    The guest runs its reads one after another in one background job (one drgn at a time in the
    guest's memory) while the host reads through QMP; :meth:`finish` collects them.
    """

    def __init__(self, guest, symbols: list[str]):
        self.guest = guest
        self.symbols = symbols
        self.steps: list[tuple[str, list[str], float]] = []

    def command(self, args: list[str], out: str, timeout: float) -> str:
        # busybox timeout: SIGTERM after `timeout` s (exit 143); the chroot'ed Python cannot write the
        # read-only host root, so output goes to the guest's /tmp; /proc/uptime times the run
        argv = self.guest.host_command([sys.executable, "-m", "wqinspect", *args, *self.symbols],
                                       env={"COLUMNS": "200"})
        return (f"cat /proc/uptime >{out}.t0; timeout {int(timeout)} {argv} >{out}.out 2>{out}.err </dev/null; "
                f"echo $? >{out}.rc; cat /proc/uptime >{out}.t1")

    def cat(self, path: str) -> str:
        _, text = self.guest.sh(f"cat {shlex.quote(path)} 2>/dev/null; true", timeout=60)
        return text

    def start(self, samples: int, interval: float, runs: int) -> float:
        """Start a monitor of ``samples`` refreshes, then ``runs`` snapshot/check processes; returns a deadline."""
        self.steps = []
        if samples:
            self.steps.append(("/tmp/kmon", ["monitor", "--json", f"{interval:g}", str(samples)],
                               GUEST_TIMEOUT + samples * (interval + 10)))
        for i in range(runs):
            self.steps.append((f"/tmp/krun{i}", ["snapshot", "-o", "-"] if i % 2 == 0 else ["check", "--json"],
                               GUEST_TIMEOUT))
        if not self.steps:
            return time.monotonic()
        script = "; ".join(self.command(args, out, t) for out, args, t in self.steps)
        self.guest.sh(f"rm -f /tmp/kmon.* /tmp/krun* /tmp/kdone; ({script}; touch /tmp/kdone) "
                      "</dev/null >/dev/null 2>&1 &", timeout=60)
        return time.monotonic() + sum(t for _, _, t in self.steps) + 60

    def _result(self, out: str, args: list[str]) -> Run:
        rc = self.cat(f"{out}.rc").strip()
        code = int(rc) if rc.isdigit() else None
        if code is not None and code >= 124:  # killed by timeout (busybox: 143; coreutils: 124)
            code = None
        try:
            secs = float(self.cat(f"{out}.t1").split()[0]) - float(self.cat(f"{out}.t0").split()[0])
        except (IndexError, ValueError):
            secs = -1.0  # not known
        return Run(args, code, self.cat(f"{out}.out"), self.cat(f"{out}.err"), secs, 0)

    def finish(self, deadline: float) -> tuple[dict | None, list[Run]]:
        """Wait for the guest's reads: (the monitor's summary or None, the snapshot/check runs)."""
        while self.steps and time.monotonic() < deadline and self.guest.sh("test -e /tmp/kdone", check=False)[0] != 0:
            time.sleep(2)
        mon, runs = None, []
        for out, args, _ in self.steps:
            r = self._result(out, args)
            if args[0] != "monitor":
                runs.append(r)
                continue
            m = {"samples": 0, "warned": 0, "notes": []}
            parse_ndjson(r.out, m)
            mon = {**m, "exit": r.code, "hang": r.code is None, "traceback": "Traceback" in r.err,
                   "stderr": r.err.strip()[-500:], "notes": m["notes"][:10], "seconds": round(r.seconds, 1)}
        return mon, runs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.churn", description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default="sid")
    ap.add_argument("--modes", default="qmp,kcore", help="qmp, kcore or both (comma-separated)")
    ap.add_argument("--reads", type=int, default=100, help="QMP reads: snapshot + check runs + monitor refreshes")
    ap.add_argument("--works", type=int, default=5000, help="traffic_works of each load of the module")
    ap.add_argument("--runs", type=int, help="how many of the QMP reads are snapshot/check processes "
                                             "(default 3/5; the rest are monitor refreshes)")
    ap.add_argument("--kcore-reads", type=int, default=94, help="monitor refreshes on /proc/kcore (one process)")
    ap.add_argument("--kcore-runs", type=int, default=6, help="snapshot/check processes on /proc/kcore")
    ap.add_argument("--report", help="write the counts as JSON here")
    a = ap.parse_args(argv)
    modes = [m for m in a.modes.split(",") if m]
    if not modes or set(modes) - {"qmp", "kcore"}:
        ap.error(f"--modes: qmp, kcore or both, not {a.modes!r}")
    from .guest import hostroot_available

    p = bed.prepare(a.kernel)
    stats = {"kernel": p.kernel.release, "modes": modes, "failures": []}
    if "kcore" in modes and (reason := hostroot_available()):
        modes.remove("kcore")
        stats["skipped"] = {"kcore": reason}
        print(f"kcore mode skipped: {reason}", file=sys.stderr)
    for mode in modes:
        stats[mode] = new_mode_stats()
    symbols = [x for f in p.debug_files() for x in ("-s", str(f))]
    t0 = time.monotonic()
    g = bed.boot(p, hostroot="kcore" in modes)
    try:
        g.sh(LOOP.format(works=a.works, pause=2), timeout=60)
        time.sleep(2)
        kcore = GuestWqinspect(g, symbols) if "kcore" in modes else None
        if kcore:
            # the guest reads itself (a monitor, then snapshot and check processes) while the host reads through QMP
            kcore_deadline = kcore.start(a.kcore_reads, 1, a.kcore_runs)
        if "qmp" in modes:
            target = ["--qemu", str(g.qmp_socket), *symbols]
            process_reads = a.reads * 3 // 5 if a.runs is None else a.runs
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "snap.json")
                for i in range(process_reads):
                    args = ["snapshot", "-o", out] if i % 2 == 0 else ["check", "--json"]
                    r = run(args, target)
                    text = None
                    if args[0] == "snapshot" and r.code == 0:
                        with open(out) as fh:
                            text = fh.read()
                    tally(stats, stats["failures"], "qmp", r, text)
            want = a.reads - process_reads
            if want > 0:
                m = monitor_refreshes(target, want, 0.5, 600)
                stats["qmp"]["monitor"] = m
                if bad := judge_monitor(m, want):
                    stats["failures"].append({"mode": "qmp", "run": "monitor", "problems": bad})
        if kcore:
            m, runs = kcore.finish(kcore_deadline)
            if m is not None:
                stats["kcore"]["monitor"] = m
                print(f"[kcore] monitor: {m['samples']} samples, exit {m['exit']}", file=sys.stderr, flush=True)
                if bad := judge_monitor(m, a.kcore_reads):
                    stats["failures"].append({"mode": "kcore", "run": "monitor", "problems": bad})
            for r in runs:
                tally(stats, stats["failures"], "kcore", r, r.out if r.args[0] == "snapshot" else None)
        g.sh("true", timeout=60)  # the guest is still alive
    finally:
        g.stop()
    for mode in modes:
        st = stats[mode]
        st["reads"] = st["runs"] + st.get("monitor", {}).get("samples", 0)
    stats["seconds"] = round(time.monotonic() - t0)
    print(json.dumps(stats, indent=1), file=sys.stderr)
    if a.report:
        with open(a.report, "w") as fh:
            json.dump(stats, fh, indent=1)
    return 1 if stats["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
