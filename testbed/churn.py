# SPDX-License-Identifier: LGPL-2.1-or-later
"""Live churn (issue 14.6): wqinspect reads a kernel that changes under it, and never fails for it.

A guest loads and unloads the test module in a loop with the ``traffic`` scenario: three workqueues
created, a burst of work pushed through them, destroyed, again and again.  From the host,
wqinspect reads it live through QMP: ``snapshot`` and ``check`` runs (each a new process) and
``monitor`` refreshes (one process).  No run may exit 3, print a traceback or hang (60 s); a
violation that is gone when read again is ``transient``, as on any live kernel.

    python -m testbed.churn --kernel sid --reads 100
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import bed
from .corrupt import judge, run

#: A guest loop: the traffic scenario loaded and unloaded (workqueues created and destroyed), forever.
LOOP = ("(while true; do insmod /test/wqi.ko scenarios=traffic traffic_works={works}; sleep 0.{pause}; "
        "rmmod wqi; done) </dev/null >/dev/null 2>&1 &")


def monitor_refreshes(target: list[str], n: int, interval: float, timeout: float) -> dict:
    """One monitor process printing NDJSON every ``interval`` s: the first ``n`` samples, then Ctrl-C."""
    p = subprocess.Popen([sys.executable, "-m", "wqinspect", "monitor", "-i", str(interval), "--json", *target],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines, bad, deadline = 0, [], time.monotonic() + timeout
    try:
        for line in p.stdout:
            try:
                sample = json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
                lines += 1
                if sample.get("warnings"):
                    bad.append(f"sample {lines}: {len(sample['warnings'])} warnings")
            except ValueError as e:
                bad.append(f"not JSON: {e}: {line[:200]!r}")
            if lines >= n or time.monotonic() > deadline:
                break
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stack = subprocess.run(["py-spy", "dump", "--pid", str(p.pid)], capture_output=True, text=True) \
            if shutil.which("py-spy") else None
        os.killpg(p.pid, signal.SIGKILL)
        _, err = p.communicate()
        return {"samples": lines, "exit": None, "hang": True, "notes": bad, "stderr": err.strip()[-1000:],
                "stack": stack.stdout[-3000:] if stack else None}
    return {"samples": lines, "exit": p.returncode, "hang": time.monotonic() > deadline and lines < n,
            "traceback": "Traceback" in err, "stderr": err.strip()[-500:], "notes": bad[:10]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.churn", description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default="sid")
    ap.add_argument("--reads", type=int, default=100, help="snapshot + check runs + monitor refreshes, in all")
    ap.add_argument("--works", type=int, default=5000, help="traffic_works of each load of the module")
    ap.add_argument("--runs", type=int, help="how many of the reads are snapshot/check processes "
                                             "(default 3/5; the rest are monitor refreshes)")
    ap.add_argument("--report", help="write the counts as JSON here")
    a = ap.parse_args(argv)
    p = bed.prepare(a.kernel)
    g = bed.boot(p, hostroot=False)
    stats = {"kernel": p.kernel.release, "runs": 0, "exit": {}, "timeouts": 0, "failures": [], "warned": 0,
             "transient": 0, "violated": 0, "with_traffic_wqs": 0}
    try:
        g.sh(LOOP.format(works=a.works, pause=2), timeout=60)
        time.sleep(2)
        target = ["--qemu", str(g.qmp_socket), *[x for f in p.debug_files() for x in ("-s", str(f))]]
        process_reads = a.reads * 3 // 5 if a.runs is None else a.runs
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "snap.json")
            for i in range(process_reads):
                args = ["snapshot", "-o", out] if i % 2 == 0 else ["check", "--json"]
                r = run(args, target)
                stats["runs"] += 1
                stats["exit"][str(r.code)] = stats["exit"].get(str(r.code), 0) + 1
                stats["timeouts"] += r.code is None
                problems = judge(r, None)
                if r.code == 2:
                    problems.append(f"exit 2 on a live guest: {r.err.strip()[-300:]}")
                if args[0] == "snapshot" and r.code == 0:
                    with open(out) as fh:
                        snap = json.load(fh)
                    stats["warned"] += bool(snap.get("warnings"))
                    # the churn is there: some reads catch the traffic workqueues, some do not
                    stats["with_traffic_wqs"] += any(w.get("name", "").startswith("wqi_traffic")
                                                     for w in snap.get("workqueues", []))
                if args[0] == "check" and r.code in (0, 1):
                    rep = json.loads(r.out)
                    for c in rep.get("checks", []):
                        stats["transient"] += c.get("transient", 0)
                        stats["violated"] += c.get("violated", 0)
                if problems:
                    stats["failures"].append({"run": " ".join(args), "problems": problems})
                    print(f"FAIL {' '.join(args)}: {problems}", file=sys.stderr)
                print(f"[{i + 1}/{process_reads}] {' '.join(args[:1])} exit {r.code} {r.seconds:.1f}s",
                      file=sys.stderr, flush=True)
        m = monitor_refreshes(target, a.reads - process_reads, 0.5, 600)
        stats["monitor"] = m
        if m["exit"] not in (0, 130) or m.get("hang") or m.get("traceback") or m["samples"] < a.reads - process_reads:
            stats["failures"].append({"run": "monitor", "problems": [json.dumps(m)]})
        g.sh("true", timeout=60)  # the guest is still alive
    finally:
        g.stop()
    stats["reads"] = stats["runs"] + stats.get("monitor", {}).get("samples", 0)
    print(json.dumps(stats, indent=1), file=sys.stderr)
    if a.report:
        with open(a.report, "w") as fh:
            json.dump(stats, fh, indent=1)
    return 1 if stats["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
