# SPDX-License-Identifier: LGPL-2.1-or-later
"""python -m testbed: fetch kernels, take vmcores, run the demo, capture fixtures."""

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

from . import TestbedError, bed, kernels, scenarios
from .paths import BUILD, FIXTURES
from .timing import TIMINGS

DEFAULT_SUITES = ["bullseye", "bookworm", "trixie", "sid", "next"]


def wqinspect(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "wqinspect", *args]


def cmd_kernels(a) -> None:
    for suite in a.suites or DEFAULT_SUITES:
        if suite == "watchdog":
            from . import watchdog

            k = watchdog.ensure()
        else:
            try:
                k = kernels.ensure(suite)
            except kernels.KernelUnavailable as e:
                if suite not in kernels.OPTIONAL:
                    raise
                print(f"{suite:9} not available: {e}")
                continue
        print(f"{suite:9} {k.release:28} {k.path}")


def _boot_with(suite: str, names: list[str], **kw):
    p = bed.prepare(suite)
    g = bed.boot(p, **kw)
    try:
        if names:
            with TIMINGS.step("load scenarios", suite):
                bed.insmod(g, "wqi", **scenarios.params_for(names))
    except BaseException:
        g.stop()
        raise
    return p, g


def cmd_vmcore(a) -> None:
    names = a.scenario.split(",") if a.scenario != "all" else list(scenarios.ALL)
    p, g = _boot_with(a.kernel, names, hostroot=False)
    out = Path(a.out).resolve()
    try:
        g.pause()
        with TIMINGS.step(f"dump {a.format}", a.kernel):
            g.dump(out, a.format)
    finally:
        g.stop()
    syms = " ".join(f"-s {shlex.quote(str(f))}" for f in p.debug_files())
    print(f"vmcore:  {out}\nvmlinux: {p.kernel.vmlinux}\nmodules: {' '.join(str(m) for m in p.modules.values())}")
    print(f"\nwqinspect workqueues -c {shlex.quote(str(out))} {syms}")


def cmd_demo(a) -> None:
    p, g = _boot_with(a.kernel, list(scenarios.ALL), hostroot=False)
    try:
        g.pause()
        target = ["--qemu", str(g.qmp_socket)] + [x for f in p.debug_files() for x in ("-s", str(f))]
        print(f"# {p.kernel.describe()} booted under QEMU with every scenario of fixtures/kmod/wqi.c loaded;\n"
              f"# wqinspect reads it once, live through QMP (the guest paused so that every view shows one\n"
              f"# moment), and renders each view from that snapshot.\n", flush=True)
        snap = g.dir / "demo.json"
        syms = " ".join(f"-s {f}" for f in p.debug_files())
        print(f"$ wqinspect snapshot -o {snap} --qemu {g.qmp_socket} {syms}", flush=True)
        subprocess.run(wqinspect(["snapshot", "-o", str(snap), *target]), check=True)
        for args in (["workqueues", "wqi|events"], ["pools"], ["workers"], ["works", "--wq", "wqi_barrier"],
                     ["show", "wqi_flush"]):
            print(f"\n$ wqinspect {shlex.join(args)} --from {snap}", flush=True)
            subprocess.run(wqinspect(args + ["--from", str(snap)]), check=True)
        if a.keep:
            g.resume()
            print(f"\nThe guest keeps running: wqinspect workqueues --qemu {g.qmp_socket} "
                  f"{' '.join(target[2:])}\nPress Enter to stop it.", flush=True)
            input()
    finally:
        g.stop()


def _capture(g, syms: list[str], path: Path, what: str) -> None:
    g.pause()
    try:
        with TIMINGS.step("capture", what):
            subprocess.run(wqinspect(["snapshot", "-o", str(path), "--qemu", str(g.qmp_socket), *syms]), check=True)
    finally:
        g.resume()


def cmd_crash(a) -> None:
    """Crash a kernel with one scenario; print where its vmcores are and what to give wqinspect."""
    from . import crash

    r = crash.run(a.kernel, a.scenario, Path(a.out))
    print(f"# {r.kernel.describe()}: {a.scenario}, panicked: {r.panicked}, pvpanic: {r.pvpanic}, "
          f"{r.seconds['to panic']} s to the panic")
    for kind, path in r.cores.items():
        print(f"{kind}: {path}")
    print("symbols:", " ".join(r.symbols()))


def cmd_fixtures(a) -> None:
    """Capture the snapshots of fixtures/snapshots from real kernels (never edit them by hand).

    For each Debian suite: every scenario loaded, then idle after rmmod, then a
    leaked delayed work and the stall scenario holding CPU 1, then a pool calling
    its rescuer; for the watchdog kernel, the stall that its watchdog reported.
    """
    out_dir = FIXTURES / "snapshots"
    out_dir.mkdir(parents=True, exist_ok=True)
    suites = a.suites or DEFAULT_SUITES + ["watchdog"]
    if a.crash:
        from . import crash

        crash.capture_fixtures([s for s in a.suites or DEFAULT_SUITES if s != "watchdog"], out_dir, wqinspect([]))
        if "watchdog" in (a.suites or DEFAULT_SUITES + ["watchdog"]):
            _watchdog_fixture(out_dir, panic=True)
        return
    for suite in [s for s in suites if s != "watchdog"]:
        try:
            p, g = _boot_with(suite, list(scenarios.ALL), hostroot=False)
        except kernels.KernelUnavailable as e:
            if suite not in kernels.OPTIONAL:
                raise
            print(f"fixtures: skipping {suite}, not available: {e}")
            continue
        try:
            syms = [x for f in p.debug_files() for x in ("-s", str(f))]
            _capture(g, syms, out_dir / f"{suite}-scenarios.json", f"{suite} scenarios")
            g.sh("rmmod wqi")
            time.sleep(1)
            _capture(g, syms, out_dir / f"{suite}-idle.json", f"{suite} idle")
            g.sh("insmod /test/wqi_leak.ko && rmmod wqi_leak")
            g.sh("taskset 1 insmod /test/wqi.ko scenarios=stall,rcu stall_cpu=1 stall_ms=9000 stall_warmups=0")
            time.sleep(6)
            _capture(g, syms, out_dir / f"{suite}-stall.json", f"{suite} stall")
            g.sh("rmmod wqi", timeout=120)
            g.sh("insmod /test/wqi.ko scenarios=mayday")
            ident = g.sh_start(scenarios.MAYDAY_SCRIPT.read_text())
            time.sleep(1.5)
            _capture(g, syms, out_dir / f"{suite}-mayday.json", f"{suite} mayday")
            g.sh_result(ident, timeout=60)
            g.sh("rmmod wqi", timeout=60)
        finally:
            g.stop()
    if "watchdog" in suites:
        _watchdog_fixture(out_dir, panic=False)


def _watchdog_fixture(out_dir: Path, panic: bool) -> None:
    """watchdog-stall.json (the kernel's lockup report), or watchdog-crash-stall-panic.json (its panic)."""
    from . import watchdog

    kernel = watchdog.ensure()
    name = "watchdog-crash-stall-panic" if panic else "watchdog-stall"
    _, core, files = watchdog.run_stall(kernel, BUILD / "vm" / "watchdog", panic=panic)
    with TIMINGS.step("capture", name):
        subprocess.run(wqinspect(["snapshot", "-o", str(out_dir / f"{name}.json"), "-c", str(core),
                                  *[x for f in files for x in ("-s", str(f))]]), check=True)


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("kernels", help="fetch the current kernel of each suite into the cache "
                                       "('watchdog' builds the test bed's watchdog kernel)")
    k.add_argument("suites", nargs="*", metavar="SUITE", help=f"default: {' '.join(DEFAULT_SUITES)}")
    v = sub.add_parser("vmcore", help="boot a kernel with scenarios loaded and dump its memory")
    v.add_argument("--kernel", default="bookworm", choices=list(kernels.KERNEL_SUITES))
    v.add_argument("--scenario", default="all", help="scenario names, comma-separated, or 'all'")
    v.add_argument("--out", required=True)
    v.add_argument("--format", default="kdump-zlib", choices=["kdump-zlib", "elf"])
    d = sub.add_parser("demo", help="boot a kernel with every scenario and show wqinspect's views of it, live")
    d.add_argument("--kernel", default="bookworm", choices=list(kernels.KERNEL_SUITES))
    d.add_argument("--keep", action="store_true", help="leave the guest running until Enter is pressed")
    f = sub.add_parser("fixtures", help="capture fixtures/snapshots from real kernels")
    f.add_argument("suites", nargs="*", metavar="SUITE")
    f.add_argument("--crash", action="store_true",
                   help="only the crash fixtures: crash each kernel with every scenario of testbed/crash.py "
                        "(<suite>-crash-*.json)")
    c = sub.add_parser("crash", help="crash a kernel with a scenario of testbed/crash.py and keep its vmcores")
    c.add_argument("--kernel", default="sid", choices=list(kernels.KERNEL_SUITES))
    c.add_argument("--scenario", default="oops-timer")
    c.add_argument("--out", required=True)
    b = sub.add_parser("bench", help="measure the commands users run, as processes, against drgn's floor and the peers")
    b.add_argument("--kernel", default="sid", choices=list(kernels.KERNEL_SUITES))
    b.add_argument("--cpus", type=int, default=16)
    b.add_argument("--wqs", type=int, default=2000)
    b.add_argument("--works", type=int, default=100000)
    b.add_argument("--runs", type=int, default=3)
    b.add_argument("--parts", default="scale,linear,30k,idle",
                   help="comma-separated: scale (the big guest, QMP and kdump), linear (a tenth of the items), "
                        "30k (300 workqueues x 101 works, against drgn-tools), idle (a small idle guest)")
    b.add_argument("--timeout", type=float, default=300.0, help="seconds before one command is killed")
    b.add_argument("--readme", action="store_true", help="also put the table into README's Benchmarks section")
    b.add_argument("--table-only", action="store_true", help="print the table of the last build/bench/results.json")
    a = ap.parse_args()
    try:
        if a.cmd == "bench":
            from .bench import main_bench

            main_bench(a)
            return 0
        {"kernels": cmd_kernels, "vmcore": cmd_vmcore, "demo": cmd_demo, "fixtures": cmd_fixtures,
         "crash": cmd_crash}[a.cmd](a)
    except TestbedError as e:
        print(f"testbed: {e}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as e:
        print(f"testbed: {' '.join(map(str, e.cmd[2:4]))} failed with exit code {e.returncode}", file=sys.stderr)
        return 1
    finally:
        if TIMINGS.steps:
            TIMINGS.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
