# SPDX-License-Identifier: LGPL-2.1-or-later
"""A real kdump capture inside the guest, the way Debian's kdump-tools saves a vmcore.

The guest boots with ``crashkernel=256M`` and the host's root shared over virtiofs (testbed/guest.py);
Debian's ``kexec -p`` (package kexec-tools, run from the shared root) loads the same kernel as the
capture kernel, with the test bed's initramfs.  When the first kernel panics, it boots the capture
kernel, whose init mounts the shared root read-write and saves ``/proc/vmcore`` with Debian's
``makedumpfile -d 31`` (compressed, and as ELF with ``-E``) into a directory of the host.  The host
reads those files: nothing of QEMU's dump is involved.
"""

import base64
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import TestbedError, bed
from .crash import SCENARIOS
from .guest import Guest
from .timing import TIMINGS

KEXEC = Path("/usr/sbin/kexec")
#: Run from the shared host root in the capture kernel (Debian's path).
MAKEDUMPFILE = "/usr/bin/makedumpfile"
CRASHKERNEL = "256M"
#: What the capture kernel's init runs (guest-init.sh, wqi.run=): save /proc/vmcore into OUT, then power off.
CAPTURE_SCRIPT = """
mount -t virtiofs hostroot /host || {{ echo WQI-KDUMP-FAILED mount; poweroff -f; }}
for d in proc sys dev; do mount --bind /$d /host/$d; done
echo WQI-KDUMP-START $(cut -d' ' -f1 /proc/uptime)
chroot /host {mdf} -c -d 31 /proc/vmcore {out}/vmcore.mdf.zlib > /dev/console 2>&1 \\
  && chroot /host {mdf} -E -d 31 /proc/vmcore {out}/vmcore.mdf.elf > /dev/console 2>&1 \\
  && echo WQI-KDUMP-SAVED
sync
echo WQI-KDUMP-DONE
poweroff -f
"""


@dataclass
class KdumpRun:
    scenario: str
    console: str
    cores: dict[str, Path] = field(default_factory=dict)
    debug_files: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def symbols(self) -> list[str]:
        return [x for f in self.debug_files for x in ("-s", str(f))]


def run(suite: str, scenario: str, out: Path, timeout: float = 300.0) -> KdumpRun:
    """Crash ``suite``'s kernel with ``scenario`` and let kdump save the vmcore into ``out``."""
    if not KEXEC.exists():
        raise TestbedError(f"{KEXEC} is missing: apt-get install kexec-tools")
    if not Path(MAKEDUMPFILE).exists():
        raise TestbedError(f"{MAKEDUMPFILE} is missing: apt-get install makedumpfile")
    p = bed.prepare(suite)
    out = out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    script = CAPTURE_SCRIPT.format(out=shlex.quote(str(out)), mdf=MAKEDUMPFILE)
    capture_cmdline = ("console=ttyS0 panic=0 reset_devices nr_cpus=1 irqpoll no_timer_check "
                       "wqi.run=" + base64.b64encode(script.encode()).decode())
    guest = Guest(f"kdump-{scenario}", p.kernel.vmlinuz, p.initrd, memory_mb=1024, hostroot=True,
                  cmdline=f"crashkernel={CRASHKERNEL} panic=0 oops=panic no_timer_check")
    result = KdumpRun(scenario, "", debug_files=[p.kernel.vmlinux, p.modules["wqi_crash"]])
    with TIMINGS.step("boot", f"{p.kernel.release} kdump"):
        guest.start()
    try:
        with TIMINGS.step("kexec -p", p.kernel.release):
            guest.sh(guest.host_command([str(KEXEC), "-p", str(p.kernel.vmlinuz), f"--initrd={p.initrd}",
                                         f"--append={capture_cmdline}"]))
            _, loaded = guest.sh("cat /sys/kernel/kexec_crash_loaded")
            if loaded.strip() != "1":
                raise TestbedError(f"kexec -p did not load a capture kernel\n{guest.tail()}")
        t0 = time.monotonic()
        with TIMINGS.step("crash and kdump", f"{p.kernel.release} {scenario}"):
            guest.sh("echo 1 > /proc/sys/kernel/panic_on_oops")
            guest.sh_start(f"({SCENARIOS[scenario]}) > /dev/console 2>&1 &")
            guest._wait_for(lambda: "WQI-KDUMP-DONE" in guest.console_text() or
                            "WQI-KDUMP-FAILED" in guest.console_text(), timeout,
                            f"kdump did not save the vmcore of {scenario}")
        result.seconds["crash to saved"] = round(time.monotonic() - t0, 1)
        result.console = guest.console_text()
        # No "Kernel panic" line: on an oops the kernel boots the capture kernel at once (oops_end()).
        if "WQI-KDUMP-SAVED" not in result.console:
            raise TestbedError(f"kdump of {scenario} failed\n{guest.tail(60)}")
        for kind, name in (("kdump-mdf-zlib", "vmcore.mdf.zlib"), ("kdump-mdf-elf", "vmcore.mdf.elf")):
            result.cores[kind] = out / name
        (out / "console.log").write_text(result.console)
        return result
    finally:
        guest.stop()
