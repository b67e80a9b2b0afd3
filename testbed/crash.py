# SPDX-License-Identifier: LGPL-2.1-or-later
"""Kernels that really crash: the crash scenarios of ``fixtures/kmod/wqi_crash.c`` and their vmcores.

Each scenario boots a guest with ``oops=panic`` (``kernel.panic_on_oops=1``) (``kernel.hung_task_panic=1`` for the hung
task), loads the buggy module and waits until the console shows the panic.  The guest has a
``pvpanic-pci`` device: the kernel reports its panic there (QMP event ``GUEST_PANICKED``), and the
guest is paused once the console shows the end of the panic.  The panicked guest's memory is then dumped
through QMP (``dump-guest-memory``, kdump-zlib and ELF), and the ELF dump is filtered on the host
by Debian's ``makedumpfile -d 31`` (free, cache and user pages dropped), the way kdump-tools saves a
vmcore, in every compression this makedumpfile has (see :func:`makedumpfile_formats`).
"""

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import TestbedError, initramfs, kbuild, kernels
from .guest import Guest
from .kernels import Kernel
from .paths import BUILD
from .timing import TIMINGS

#: name -> (the guest script that crashes the kernel, the console line that proves it, what
#: the cause must be).  Each script runs in the background (the crash may come before it ends).
SCENARIOS: dict[str, str] = {
    # The static delayed work's timer expires in freed module memory: a page fault in the timer softirq.
    "oops-timer": "insmod /test/wqi_crash.ko crash=timer delay_ms=3000 && rmmod wqi_crash",
    # A worker calls a work function of the unloaded module.
    "oops-work-unloaded": "insmod /test/wqi_crash.ko crash=work-unloaded delay_ms=3000 && rmmod wqi_crash",
    # A queued item freed: list_del corruption when its neighbour is activated.
    "oops-work-free": "insmod /test/wqi_crash.ko crash=work-free",
    # A task blocked in flush_work() behind a work that never ends.
    "hung-flush": ("echo 1 > /proc/sys/kernel/hung_task_panic; echo 4 > /proc/sys/kernel/hung_task_timeout_secs; "
                   "insmod /test/wqi_crash.ko crash=hung-flush"),
    # A crash that has nothing to do with workqueues.
    "sysrq-c": "echo c > /proc/sysrq-trigger",
}

#: The console line every panic prints, and its last line (printed before the final loop).
PANIC_LINE = "Kernel panic - not syncing"
END_PANIC_LINE = "---[ end Kernel panic"

#: Modules the crash guests load: no virtiofs (the host root is not shared), pvpanic's PCI driver.
CRASH_GUEST_MODULES = ("qemu_fw_cfg", "virtio_pci", "virtio_console", "pvpanic_pci")

#: makedumpfile's compression options, by the name of the compression (``-E``: ELF, uncompressed).
MAKEDUMPFILE_OPTIONS = {"zlib": "-c", "lzo": "-l", "snappy": "-p", "zstd": "-z", "elf": "-E"}
MAKEDUMPFILE = "makedumpfile"


def makedumpfile_formats() -> list[str]:
    """The formats the host's makedumpfile writes: zlib and ELF always, lzo/snappy/zstd if built in.

    Debian bookworm's makedumpfile 1.7.2 prints ``lzo enabled``, ``snappy disabled``, ``zstd disabled``
    in ``makedumpfile -v``.
    """
    if shutil.which(MAKEDUMPFILE) is None:
        raise TestbedError("makedumpfile is missing: apt-get install makedumpfile")
    out = subprocess.run([MAKEDUMPFILE, "-v"], capture_output=True, text=True).stdout
    formats = ["zlib"]
    for name in ("lzo", "snappy", "zstd"):
        if re.search(rf"^{name}\s+enabled", out, re.M):
            formats.append(name)
    return formats + ["elf"]


def normalize_qemu_elf(path: Path) -> None:
    """Put the program headers of a QEMU ELF dump right after the ELF header, in place.

    QEMU 7.2 writes two section headers at offset 64 and the program headers after them (and
    ``e_ehsize`` 8); makedumpfile 1.7.2 looks for the program headers at offset 64 and fails with
    "Can't get the number of PT_LOAD".  The section headers (only ``.shstrtab``) are dropped.
    """
    with open(path, "r+b") as f:
        ehdr = bytearray(f.read(64))
        if ehdr[:4] != b"\x7fELF" or ehdr[4] != 2:
            raise TestbedError(f"{path} is not an ELF64 file")
        phoff = int.from_bytes(ehdr[0x20:0x28], "little")
        phentsize = int.from_bytes(ehdr[0x36:0x38], "little")
        phnum = int.from_bytes(ehdr[0x38:0x3a], "little")
        if phoff == 64:
            return
        f.seek(phoff)
        phdrs = f.read(phentsize * phnum)
        first_data = min(int.from_bytes(phdrs[i * phentsize + 8:i * phentsize + 16], "little") for i in range(phnum))
        if 64 + len(phdrs) > first_data:
            raise TestbedError(f"{path}: no room for the program headers before the data")
        ehdr[0x20:0x28] = (64).to_bytes(8, "little")       # e_phoff
        ehdr[0x28:0x30] = (0).to_bytes(8, "little")        # e_shoff
        ehdr[0x34:0x36] = (64).to_bytes(2, "little")       # e_ehsize
        ehdr[0x3c:0x40] = (0).to_bytes(4, "little")        # e_shnum, e_shstrndx
        f.seek(0)
        f.write(ehdr + phdrs)


def makedumpfile(elf: Path, out: Path, fmt: str, dump_level: int = 31) -> Path:
    """Filter an ELF vmcore with ``makedumpfile -d LEVEL`` into ``out`` (kdump-compressed or ``-E`` ELF)."""
    out.unlink(missing_ok=True)
    # --message-level 31: every message, so that a failure says why.
    p = subprocess.run([MAKEDUMPFILE, MAKEDUMPFILE_OPTIONS[fmt], "-d", str(dump_level), "--message-level", "31",
                        str(elf), str(out)], capture_output=True, text=True)
    if p.returncode != 0 or not out.exists():
        raise TestbedError(f"makedumpfile {MAKEDUMPFILE_OPTIONS[fmt]} -d {dump_level} failed ({p.returncode}): "
                           f"{(p.stderr + p.stdout).strip()[-2500:]}")
    return out


@dataclass
class CrashRun:
    """One crash scenario on one kernel: the console, the QEMU run state and the vmcores."""

    scenario: str
    kernel: Kernel
    console: str
    status: str
    #: The kernel reported its panic to QEMU's pvpanic device (QMP event GUEST_PANICKED).
    pvpanic: bool = False
    #: vmcore kind -> path: "qmp-kdump-zlib" (QEMU's own), "mdf-zlib", "mdf-lzo", "mdf-elf", ...
    cores: dict[str, Path] = field(default_factory=dict)
    debug_files: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def symbols(self) -> list[str]:
        return [x for f in self.debug_files for x in ("-s", str(f))]

    @property
    def panicked(self) -> bool:
        return PANIC_LINE in self.console


_prepared: dict[str, tuple[Path, dict[str, Path]]] = {}
_kernels: dict[str, Kernel] = {}


def prepare(kernel: Kernel) -> tuple[Path, dict[str, Path]]:
    """The crash guest's initramfs and the test modules (built once per kernel and process)."""
    if kernel.release in _prepared:
        return _prepared[kernel.release]
    with TIMINGS.step("build modules", kernel.release):
        mods = kbuild.build_modules(kernel)
    with TIMINGS.step("initramfs", f"{kernel.release} crash"):
        load = initramfs.module_files(kernel, CRASH_GUEST_MODULES)
        out = BUILD / "initramfs" / f"{kernel.release}-crash.cpio.gz"
        out.parent.mkdir(parents=True, exist_ok=True)
        initramfs.build(out, load, {"/test/wqi_crash.ko": mods["wqi_crash"]})
    _prepared[kernel.release] = out, mods
    return out, mods


def run(suite: str, scenario: str, out: Path, *, formats: list[str] | None = None,
        timeout: float = 90.0) -> CrashRun:
    """Boot ``suite``'s kernel, crash it with ``scenario``, dump the panicked guest into ``out``."""
    if scenario not in SCENARIOS:
        raise TestbedError(f"unknown crash scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    kernel = _kernels.get(suite) or _kernels.setdefault(suite, kernels.ensure(suite))
    initrd, mods = prepare(kernel)
    out.mkdir(parents=True, exist_ok=True)
    formats = makedumpfile_formats() if formats is None else formats
    # panic=0: stay in the panic (the test bed's guests otherwise reboot, and -no-reboot ends QEMU).
    guest = Guest(f"crash-{scenario}", kernel.vmlinuz, initrd, memory_mb=512, hostroot=False,
                  cmdline="panic=0 oops=panic no_timer_check",  # TCG on a busy host fails the IO-APIC timer check
                  qemu_args=("-device", "pvpanic-pci", "-action", "panic=none"))
    t0 = time.monotonic()
    with TIMINGS.step("boot", f"{kernel.release} {scenario}"):
        guest.start()
    try:
        result = CrashRun(scenario, kernel, "", "", debug_files=[kernel.vmlinux, mods["wqi_crash"]])
        with TIMINGS.step("crash", f"{kernel.release} {scenario}"):
            t1 = time.monotonic()
            # oops=panic on the command line; the sysctl too, as kdump-tools' users set it.
            guest.sh("echo 1 > /proc/sys/kernel/panic_on_oops")
            # Not waited for: the kernel may die before the agent answers.
            guest.sh_start(f"({SCENARIOS[scenario]}) > /dev/console 2>&1 &")
            guest._wait_for(lambda: PANIC_LINE in guest.console_text(), timeout,
                            f"the {scenario} scenario did not panic the kernel")
            result.seconds["to panic"] = round(time.monotonic() - t1, 2)
            # pvpanic tells QEMU (event GUEST_PANICKED; -action panic=none keeps the guest running, so
            # that the panicking CPU reaches the kernel's final loop, whose stack unwinds through the oops).
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                guest.ctl.execute("query-status")  # collects the events that came meanwhile
                result.pvpanic = any(e["event"] == "GUEST_PANICKED" for e in guest.ctl.events)
                if result.pvpanic and END_PANIC_LINE in guest.console_text():
                    break
                time.sleep(0.2)
            guest.pause()
            result.status = guest.ctl.execute("query-status")["status"]
            result.console = guest.console_text()
        elf = out / f"{scenario}.elf"
        with TIMINGS.step("dump", f"{kernel.release} {scenario}"):
            result.cores["qmp-kdump-zlib"] = guest.dump(out / f"{scenario}.qmp.kdump-zlib", "kdump-zlib")
            guest.dump(elf, "elf")
            elf.chmod(0o600)
            normalize_qemu_elf(elf)
        with TIMINGS.step("makedumpfile -d 31", f"{kernel.release} {scenario}"):
            for fmt in formats:
                t2 = time.monotonic()
                result.cores[f"mdf-{fmt}"] = makedumpfile(elf, out / f"{scenario}.mdf.{fmt}", fmt)
                result.seconds[f"makedumpfile {fmt}"] = round(time.monotonic() - t2, 2)
        elf.unlink()  # as large as the guest's memory
        result.seconds["total"] = round(time.monotonic() - t0, 2)
        (out / f"{scenario}.console.log").write_text(result.console)
        return result
    finally:
        guest.stop()


def capture_fixtures(suites: list[str], out_dir: Path, wqinspect_argv: list[str]) -> list[Path]:
    """Snapshots of the crash scenarios for fixtures/snapshots: ``<suite>-crash-<scenario>.json`` from the QMP
    vmcore of each, and ``<suite>-crash-oops-timer-d31.json`` from its makedumpfile -d 31 one (excluded pages)."""
    written = []
    for suite in suites:
        for scenario in SCENARIOS:
            r = run(suite, scenario, BUILD / "vm" / "crash" / suite, formats=["zlib"])
            cores = [("qmp-kdump-zlib", f"{suite}-crash-{scenario}.json")]
            if scenario == "oops-timer":
                cores.append(("mdf-zlib", f"{suite}-crash-{scenario}-d31.json"))
            for kind, name in cores:
                with TIMINGS.step("capture", f"{suite} {scenario} {kind}"):
                    subprocess.run([*wqinspect_argv, "snapshot", "-o", str(out_dir / name), "-c",
                                    str(r.cores[kind]), *r.symbols()], check=True)
                written.append(out_dir / name)
    return written
