# SPDX-License-Identifier: LGPL-2.1-or-later
"""``make bench``: wqinspect's cost as ratios to drgn's own floor, on one guest and its vmcore.

A kernel boots with many CPUs and the ``scale`` scenario (many workqueues,
many pending works) plus ``traffic``.  On the paused guest (live, through
QMP) and on a kdump of it, each measure is the median of a few runs in this
process:

- floor: ``drgn.Program()``, attach, load the vmlinux and module debug info;
- snapshot: everything wqinspect reads (``capture``), plain and deep;
- monitor refresh: one read of every workqueue's counters;
- wq_monitor.py refresh: one pass of the kernel's own script
  (tools/workqueue, from Debian's linux-source), run on the same program.

The results go to ``build/bench/results.json`` and a table; they are
measurements, not pass/fail tests.
"""

import contextlib
import gc
import io
import json
import runpy
import statistics
import sys
import time

from . import TestbedError, bed, kerneltools, scenarios
from .paths import BUILD
from .timing import TIMINGS


def _median(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        # Release the previous result first: a drgn Program holds its QMP connection, and QEMU
        # serves one client per socket.
        result = None
        gc.collect()
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def _open(kind: str, where: str, debug: list[str]):
    import drgn

    prog = drgn.Program() if kind == "qmp" else drgn.Program(drgn.host_platform)
    if kind == "qmp":
        prog.set_qemu_qmp(where)
    else:
        prog.set_core_dump(where)
    try:
        prog.load_debug_info(debug)
    except drgn.MissingDebugInfoError:
        pass
    return prog


def _measure(kind: str, where: str, debug: list[str], tools: dict, runs: int) -> dict:
    from wqinspect.capture import capture, sample_counters
    from wqinspect.snapshot import Target

    out: dict[str, float | int] = {}
    out["floor"], prog = _median(lambda: _open(kind, where, debug), runs)
    target = Target(kind, where, live=kind == "qmp")
    out["snapshot"], snap = _median(lambda: capture(prog, target), runs)
    out["snapshot_deep"], _ = _median(lambda: capture(prog, target, deep=True), runs)
    out["monitor_refresh"], sample = _median(lambda: sample_counters(prog), runs)
    out["workqueues"] = len(snap.workqueues)
    out["pwqs"] = sum(len(w.pwqs) for w in snap.workqueues)
    out["works"] = len(snap.works)
    if "wq_monitor.py" in tools:
        def wq_monitor():
            argv = sys.argv
            sys.argv = ["wq_monitor.py", "-i", "0"]
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    runpy.run_path(str(tools["wq_monitor.py"]), init_globals={"prog": prog}, run_name="__main__")
            finally:
                sys.argv = argv
        out["wq_monitor_refresh"], _ = _median(wq_monitor, runs)
    return out


def run(suite: str = "sid", cpus: int = 16, wqs: int = 2000, works: int = 100000, runs: int = 3) -> dict:
    p = bed.prepare(suite)
    tools = kerneltools.workqueue_tools(p.kernel)
    memory = max(2048, 64 * cpus)
    try:
        g = bed.boot(p, cpus=cpus, memory_mb=memory, hostroot=False)
    except TestbedError as e:
        # A many-vCPU guest under TCG has been seen to panic early in boot, once: boot again once.
        print(f"bench: the guest did not boot ({str(e).splitlines()[0]}); trying once more", file=sys.stderr)
        g = bed.boot(p, cpus=cpus, memory_mb=memory, hostroot=False)
    out_dir = BUILD / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    core = out_dir / "scale.kdump-zlib"
    debug = [str(f) for f in p.debug_files()]
    results: dict = {"kernel": p.kernel.release, "cpus": cpus, "scale_wqs": wqs, "scale_works": works,
                     "runs": runs}
    try:
        with TIMINGS.step("load scale scenario", f"{wqs} wqs, {works} works"):
            bed.insmod(g, "wqi", **scenarios.params_for(["scale", "traffic"]), scale_wqs=wqs, scale_works=works)
        g.pause()
        with TIMINGS.step("measure qmp", suite):
            results["qmp"] = _measure("qmp", str(g.qmp_socket), debug, tools, runs)
        with TIMINGS.step("dump kdump-zlib", suite):
            g.dump(core, "kdump-zlib")
    finally:
        g.stop()
    with TIMINGS.step("measure vmcore", suite):
        results["vmcore"] = _measure("vmcore", str(core), debug, tools, runs)
    core.unlink()
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    return results


def table(results: dict) -> str:
    rows = [("target", "measure", "seconds", "× floor")]
    for kind in ("qmp", "vmcore"):
        r = results[kind]
        for key in ("floor", "snapshot", "snapshot_deep", "monitor_refresh", "wq_monitor_refresh"):
            if key in r:
                rows.append((kind, key, f"{r[key]:.3f}", f"{r[key] / r['floor']:.2f}"))
        if "wq_monitor_refresh" in r:
            rows.append((kind, "monitor ÷ wq_monitor.py", "", f"{r['monitor_refresh'] / r['wq_monitor_refresh']:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.rjust(w) if i >= 2 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    r = results["vmcore"]
    head = (f"{results['kernel']}, {results['cpus']} CPUs: {r['workqueues']} workqueues, {r['pwqs']} pwqs, "
            f"{r['works']} work items; median of {results['runs']} runs")
    return head + "\n" + lines[0] + "\n" + "\n".join(lines[1:])


def main_bench(args) -> None:
    results = run(args.kernel, args.cpus, args.wqs, args.works, args.runs)
    print(table(results))
    print(f"\n(saved in {BUILD / 'bench' / 'results.json'})")
