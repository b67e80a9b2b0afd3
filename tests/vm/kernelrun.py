# SPDX-License-Identifier: LGPL-2.1-or-later
"""One test bed run of a kernel: boot it once, put it through every phase, read it in every mode.

The guest is driven in a fixed order and everything wqinspect printed is kept,
so that the tests only assert on recorded output:

1. ``scenarios``: ``wqi`` loaded with every scenario; the guest is paused and
   read through QMP (live) and from an ELF and a kdump-compressed vmcore of
   the same paused memory; resumed, it is read inside the guest on
   /proc/kcore with the host's wqinspect (shared read-only over virtiofs).
2. ``unloaded``: after ``rmmod wqi``, read live again: nothing of wqi may remain,
   and neither ``check`` nor ``diagnose`` may find anything on the idle kernel.
3. ``stall``: ``wqi_leak`` loaded and unloaded (it leaves a delayed work
   behind), then the ``stall`` scenario holds CPU 1 for a few seconds; a
   vmcore taken meanwhile is read and diagnosed.
4. ``mayday``: kernel.threads-max lowered so that no kworker can be created,
   blockers make a pool call its rescuer; diagnosed and checked meanwhile.

wqinspect always runs as a command, as a user would run it.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from testbed import TestbedError, bed, scenarios
from testbed.guest import hostroot_available
from testbed.paths import BUILD
from testbed.timing import TIMINGS

COMMANDS = ("workqueues", "works", "workers", "pools")


def wqinspect_argv() -> list[str]:
    return [sys.executable, "-m", "wqinspect"]


@dataclass
class Reading:
    """What wqinspect printed for one mode: the snapshot and each command's JSON."""

    mode: str
    snapshot: dict
    outputs: dict[str, dict] = field(default_factory=dict)

    def views(self) -> dict:
        return scenarios.views_from_commands(self.outputs)


def run_wqinspect(args: list[str], timeout: float = 600, ok_codes=(0,)) -> str:
    p = subprocess.run(wqinspect_argv() + args, capture_output=True, text=True, timeout=timeout)
    if p.returncode not in ok_codes:
        raise TestbedError(f"wqinspect {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    return p.stdout


def scenario_args() -> list[str]:
    return [x for name in scenarios.ALL for x in ("--scenario", str(scenarios.fixture_path(name)))]


@dataclass
class CheckRun:
    exit_code: int
    report: dict


class KernelRun:
    def __init__(self, suite: str, modes: list[str]):
        self.suite = suite
        self.modes = modes
        self.readings: dict[tuple[str, str], Reading] = {}
        self.skipped: dict[str, str] = {}
        self.dmesg: dict[str, str] = {}
        #: Guest shell outputs the tests look at: name -> stdout.
        self.shell: dict[str, str] = {}
        #: `wqinspect check` run straight on a live target: (phase, mode) -> result.
        self.checks: dict[tuple[str, str], CheckRun] = {}
        #: `wqinspect diagnose --json`: (phase, mode) -> result.
        self.diagnoses: dict[tuple[str, str], CheckRun] = {}
        #: Parity with the kernel's tools/workqueue scripts: output of each side.
        self.parity: dict[str, str] = {}
        self.prepared = None
        self.error: Exception | None = None
        self.dir = BUILD / "vm" / suite
        self._done = False

    # ---- helpers

    def symbols(self) -> list[str]:
        return [x for f in self.prepared.debug_files() for x in ("-s", str(f))]

    def read_host(self, mode: str, target: list[str], phase: str, commands_on_target: bool = False) -> Reading:
        """Read with wqinspect on the host: a snapshot, then every command's JSON.

        The commands run straight on the target when ``commands_on_target`` (the QMP reading, so the
        CLI's own path to a live target is used), else on the snapshot read in this mode (``--from``),
        which holds everything the readers found.
        """
        with TIMINGS.step(f"read {mode}", f"{self.suite} {phase}"):
            snap_file = self.dir / f"{phase}-{mode}.json"
            run_wqinspect(["snapshot", "-o", str(snap_file), *target, *self.symbols()])
            r = Reading(mode, json.loads(snap_file.read_text()))
            source = [*target, *self.symbols()] if commands_on_target else ["--from", str(snap_file)]
            for cmd in COMMANDS:
                r.outputs[cmd] = json.loads(run_wqinspect([cmd, "--json", *source]))
        self.readings[(phase, mode)] = r
        return r

    def check_live(self, target: list[str], phase: str, mode: str, scenarios: bool = True) -> None:
        with TIMINGS.step(f"check {mode}", f"{self.suite} {phase}"):
            args = ["check", "--json", *target, *self.symbols(), *(scenario_args() if scenarios else [])]
            p = subprocess.run(wqinspect_argv() + args, capture_output=True, text=True, timeout=600)
            if p.returncode not in (0, 1):
                raise TestbedError(f"wqinspect check failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
            self.checks[(phase, mode)] = CheckRun(p.returncode, json.loads(p.stdout))

    def diagnose(self, target: list[str], phase: str, mode: str, extra: list[str] = ()) -> None:
        with TIMINGS.step(f"diagnose {mode}", f"{self.suite} {phase}"):
            args = ["diagnose", "--json", *target, *extra]
            if "--from" not in target:
                args += self.symbols()
            p = subprocess.run(wqinspect_argv() + args, capture_output=True, text=True, timeout=600)
            if p.returncode not in (0, 1):
                raise TestbedError(f"wqinspect diagnose failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
            self.diagnoses[(phase, mode)] = CheckRun(p.returncode, json.loads(p.stdout))

    def _parity(self, guest) -> None:
        """The kernel's wq_monitor.py and wq_dump.py, and wqinspect's monitor and topology, on one paused guest."""
        from testbed import kerneltools

        with TIMINGS.step("fetch kernel scripts", self.suite):
            tools = kerneltools.workqueue_tools(self.prepared.kernel)
        target = ["--qemu", str(guest.qmp_socket)]
        with TIMINGS.step("parity", self.suite):
            self.parity["monitor"] = run_wqinspect(["monitor", "--json", "-i", "0", *target, *self.symbols()])
            self.parity["topology"] = run_wqinspect(["topology", "--json", *target, *self.symbols()])
            drgn = [str(Path(sys.executable).with_name("drgn")), *target, *self.symbols()]
            for name, args in (("wq_monitor.py", ["-i", "0", "-j"]), ("wq_dump.py", [])):
                if name in tools:
                    p = subprocess.run([*drgn, str(tools[name]), *args], capture_output=True, text=True, timeout=600)
                    if p.returncode != 0:
                        raise TestbedError(f"{name} failed: {p.stderr.strip()[-2000:]}")
                    self.parity[name] = p.stdout

    def _offline_phase(self, guest) -> None:
        """CPU 1 taken offline and a delayed work queued on it: its timer is stranded on a dead wheel."""
        with TIMINGS.step("offline", self.suite):
            guest.sh("taskset 1 insmod /test/wqi.ko scenarios=offline offline_cpu=1")
            time.sleep(2)  # past the work's 1 s delay: on an online CPU its timer would have fired
        core = self._paused_dump(guest, "offline")
        self.read_host("vmcore", ["-c", str(core)], "offline")
        self.diagnose(["-c", str(core)], "offline", "vmcore")
        core.unlink()
        with TIMINGS.step("rmmod", f"{self.suite} offline"):
            guest.sh("rmmod wqi", timeout=60)
            _, self.shell["offline: cpu1 online after rmmod"] = guest.sh("cat /sys/devices/system/cpu/cpu1/online")
            _, self.dmesg["offline"] = guest.sh("dmesg")

    def _paused_dump(self, guest, phase: str) -> Path:
        """A kdump-zlib vmcore of the guest, paused for the dump and resumed after."""
        guest.pause()
        core = self.dir / f"{phase}.kdump-zlib"
        try:
            with TIMINGS.step("dump kdump-zlib", f"{self.suite} {phase}"):
                guest.dump(core, "kdump-zlib")
        finally:
            guest.resume()
        return core

    def _stall_phase(self, guest) -> None:
        with TIMINGS.step("leak and stall", self.suite):
            # The kcore reading left the vmlinux in the page cache: drop it, or the dump grows fourfold.
            guest.sh("sync; echo 3 > /proc/sys/vm/drop_caches")
            guest.sh("insmod /test/wqi_leak.ko && rmmod wqi_leak")
            # insmod runs on CPU 0, so that the shell does not queue behind the hog on CPU 1.
            guest.sh("taskset 1 insmod /test/wqi.ko scenarios=stall,rcu stall_cpu=1 stall_ms=9000 stall_warmups=0")
            time.sleep(6)
        core = self._paused_dump(guest, "stall")
        self.read_host("vmcore", ["-c", str(core)], "stall")
        self.diagnose(["-c", str(core)], "stall", "vmcore", ["--thresh", "5"])
        with TIMINGS.step("rmmod", f"{self.suite} stall"):
            guest.sh("rmmod wqi", timeout=120)  # waits for the hog to end

    def _mayday_phase(self, guest) -> None:
        with TIMINGS.step("mayday", self.suite):
            guest.sh("insmod /test/wqi.ko scenarios=mayday")
            ident = guest.sh_start(scenarios.MAYDAY_SCRIPT.read_text())
            time.sleep(1.5)  # the script holds thread creation off for 4 s
        guest.pause()
        try:
            target = ["--qemu", str(guest.qmp_socket)]
            self.read_host("qmp", target, "mayday")
            self.diagnose(["--from", str(self.dir / "mayday-qmp.json")], "mayday", "qmp")
            self.check_live(target, "mayday", "qmp", scenarios=False)
        finally:
            guest.resume()
        guest.sh_result(ident, timeout=60)
        with TIMINGS.step("rmmod", f"{self.suite} mayday"):
            guest.sh("rmmod wqi", timeout=60)

    def read_kcore(self, guest, phase: str) -> Reading:
        """Read inside the guest, on /proc/kcore, with the host's wqinspect over virtiofs.

        drgn takes 5 to 25 s to load a vmlinux's debug info in a TCG guest, so wqinspect runs there
        once; the commands render the snapshot it read.
        """
        with TIMINGS.step("read kcore", f"{self.suite} {phase}"):
            argv = wqinspect_argv() + ["snapshot", "-o", "-", *self.symbols()]
            snap_file = self.dir / f"{phase}-kcore.json"
            for attempt in (1, 2):
                _, out = guest.sh(guest.host_command(argv), timeout=900)
                snap_file.write_text(out)
                # A snapshot of a running kernel can catch an item between its pwq's counters and its
                # pool's lists (seen once in CI: a system_wq item on one CPU).  `check` on the live
                # kernel reads again and calls such a violation transient; a saved snapshot cannot, so
                # the snapshot is taken once more, as `check` would read again.
                extra = scenario_args() if phase == "scenarios" else []
                p = subprocess.run(wqinspect_argv() + ["check", "--json", "--from", str(snap_file), *extra],
                                   capture_output=True, text=True, timeout=600)
                if p.returncode == 0 or attempt == 2:
                    break
                print(f"kernelrun: the kcore snapshot of {self.suite} ({phase}) fails check, as a live read may: "
                      f"read once more\n{p.stdout[-1500:]}", file=sys.stderr)
            r = Reading("kcore", json.loads(out))
            for cmd in COMMANDS:
                r.outputs[cmd] = json.loads(run_wqinspect([cmd, "--json", "--from", str(snap_file)]))
        self.readings[(phase, "kcore")] = r
        return r

    # ---- the run

    def run(self) -> "KernelRun":
        if self._done:
            if self.error:
                raise self.error
            return self
        self._done = True
        try:
            self._run()
        except Exception as e:
            self.error = e
            raise
        return self

    def _run(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.prepared = bed.prepare(self.suite)
        want_kcore = "kcore" in self.modes
        reason = hostroot_available() if want_kcore else None
        if want_kcore and self.prepared.kernel.arch != "amd64":
            # kcore mode runs the host's wqinspect inside the guest over virtiofs: x86-64 binaries.
            reason = (f"the host's Python and drgn are x86-64 programs and cannot run in the "
                      f"{self.prepared.kernel.arch} guest")
        if reason:
            self.skipped["kcore"] = reason
        guest = bed.boot(self.prepared, hostroot=want_kcore and not reason)
        try:
            with TIMINGS.step("load scenarios", self.suite):
                # "traffic" too: a burst of work, so that the monitor's counters move.
                bed.insmod(guest, "wqi", **scenarios.params_for([*scenarios.ALL, "traffic"]))
            self._read_all_modes(guest, "scenarios")
            with TIMINGS.step("rmmod", self.suite):
                guest.sh("rmmod wqi")
                time.sleep(1)
            if "qmp" in self.modes:
                guest.pause()
                self.read_host("qmp", ["--qemu", str(guest.qmp_socket)], "unloaded")
                guest.resume()
                # Checked while the guest runs: a read racing the kernel must at worst be transient.
                self.check_live(["--qemu", str(guest.qmp_socket)], "unloaded", "qmp", scenarios=False)
                self.diagnose(["--qemu", str(guest.qmp_socket)], "unloaded", "qmp")
            _, self.dmesg["unloaded"] = guest.sh("dmesg")
            if "vmcore" in self.modes:
                self._offline_phase(guest)  # before the stall phase: it leaves a dangling timer behind
                self._stall_phase(guest)
            if "qmp" in self.modes:
                self._mayday_phase(guest)
        finally:
            with TIMINGS.step("stop", self.suite):
                guest.stop()

    def _read_all_modes(self, guest, phase: str) -> None:
        if phase == "scenarios":
            # The kernel's own workqueue dump (sysrq-t ends in show_all_workqueues()), for `dump` to match;
            # the snapshot's log keeps it.
            guest.sh("echo t > /proc/sysrq-trigger")
        guest.pause()
        try:
            if "qmp" in self.modes:
                self.read_host("qmp", ["--qemu", str(guest.qmp_socket)], phase, commands_on_target=True)
                self.check_live(["--qemu", str(guest.qmp_socket)], phase, "qmp")
                self._parity(guest)
            if "vmcore" in self.modes:
                for fmt in ("kdump-zlib", "elf"):
                    core = self.dir / f"{phase}.{fmt}"
                    with TIMINGS.step(f"dump {fmt}", f"{self.suite} {phase}"):
                        guest.dump(core, fmt)
                    mode = "vmcore" if fmt == "kdump-zlib" else "vmcore-elf"
                    self.read_host(mode, ["-c", str(core)], phase)
                    if fmt == "elf":
                        core.unlink()  # as large as the guest's memory
        finally:
            guest.resume()
        if "kcore" in self.modes and "kcore" not in self.skipped:
            self.read_kcore(guest, phase)


_runs: dict[str, KernelRun] = {}


def kernel_run(suite: str, modes: list[str]) -> KernelRun:
    if suite not in _runs:
        _runs[suite] = KernelRun(suite, modes)
    return _runs[suite].run()


def env_list(name: str, default: str) -> list[str]:
    return os.environ.get(name, default).split()
