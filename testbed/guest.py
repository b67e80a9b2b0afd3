# SPDX-License-Identifier: LGPL-2.1-or-later
"""A QEMU guest: boot it, run commands in it, dump its memory.

The guest has two QMP sockets: ``ctl`` for the harness (pause, dump, quit)
and ``drgn`` for live inspection (QEMU serves one client per socket).  With
``hostroot`` the host's root file system is shared read-only over virtiofs,
so that the host's Python and wqinspect run inside the guest on /proc/kcore.
Commands reach the guest through a virtio port served by the guest's init
(see guest-init.sh).
"""

import base64
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import TestbedError
from .paths import run_dir
from .qmp import QMP

VIRTIOFSD = Path("/usr/lib/qemu/virtiofsd")
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


#: Debian architecture -> (QEMU binary, machine and CPU options, serial console of the guest).
#: arm64: QEMU's "virt" board (fw_cfg, so -device vmcoreinfo works; PCI for virtio), a Cortex-A72
#: (TCG emulates it faster than "max", which adds pointer authentication and more).
QEMU = {
    "amd64": ("qemu-system-x86_64", [], "ttyS0"),
    "arm64": ("qemu-system-aarch64", ["-M", "virt,gic-version=3", "-cpu", "cortex-a72"], "ttyAMA0"),
}


def accelerator(arch: str = "amd64") -> list[str]:
    """KVM only where a real KVM module is loaded; /dev/kvm alone may be a PVM stub."""
    if arch != "amd64":
        return ["-accel", "tcg"]  # another architecture than the host's is always emulated
    if any(Path(f"/sys/module/{m}").exists() for m in ("kvm_intel", "kvm_amd")) and os.access("/dev/kvm", os.W_OK):
        return ["-accel", "kvm", "-cpu", "host"]
    return ["-accel", "tcg"]


def hostroot_available() -> str | None:
    """None if the host root can be shared with a guest, else the reason it cannot."""
    if os.geteuid() != 0:
        return "sharing the host root over virtiofs needs root"
    if not VIRTIOFSD.exists():
        return f"{VIRTIOFSD} is missing (package qemu-system-common)"
    return None


class Guest:
    def __init__(self, name: str, vmlinuz: Path, initrd: Path, *, memory_mb: int = 1536, cpus: int = 2,
                 hostroot: bool = True, agent: bool = True, run: str | None = None, cmdline: str = "",
                 qemu_args: tuple[str, ...] = (), arch: str = "amd64"):
        self.name = name
        self.arch = arch
        self.dir = run_dir(name)
        self.console = self.dir / "console.log"
        self.ctl_socket = self.dir / "ctl.qmp"
        self.qmp_socket = self.dir / "drgn.qmp"
        self.agent_socket = self.dir / "agent.sock"
        self.vfs_socket = self.dir / "vfs.sock"
        self.memory_mb = memory_mb
        self.cpus = cpus
        self.hostroot = hostroot
        self.agent = agent
        args = [f"console={QEMU[arch][2]}", "panic=-1"]
        if hostroot:
            args.append("wqi.hostroot=hostroot")
        if agent:
            args.append("wqi.agent=1")
        if run:
            args.append("wqi.run=" + base64.b64encode(run.encode()).decode())
        self.cmdline = " ".join(args + ([cmdline] if cmdline else []))
        #: Extra QEMU options (devices), e.g. a pvpanic device for the crash scenarios.
        self.qemu_args = list(qemu_args)
        self.vmlinuz = vmlinuz
        self.initrd = initrd
        self.qemu: subprocess.Popen | None = None
        self.virtiofsd: subprocess.Popen | None = None
        self.ctl: QMP | None = None
        self._agent_sock: socket.socket | None = None
        self._agent_file = None
        self._ids = itertools.count(1)

    # ---- life cycle

    #: A booting kernel whose console stays silent this long has hung: a normal TCG boot never pauses
    #: for more than a few seconds (the longest gap in the test bed's consoles is 3 s, on 7.3-rc).
    BOOT_SILENCE = 60.0

    def start(self, timeout: float = 180.0) -> "Guest":
        """Boot the guest.  A kernel that dies or hangs while booting under TCG is booted once more,
        with a line on stderr that shows the first console's tail; a guest that fails twice fails with
        the second.  Both were seen once in many boots: an int3 oops in sched_clock_cpu() while a static
        key is patched (7.2), and a console that stopped after the HPET's lines, before the switch to
        the tsc-early clocksource (7.2, in CI)."""
        try:
            return self._start(timeout)
        except TestbedError as e:
            text = str(e)
            died = "Kernel panic" in text or "Oops" in text
            hung = "console has been silent" in text
            if not text.startswith("the guest did not boot") or not (died or hung):
                raise
            print(f"testbed: {self.name}: the kernel {'died' if died else 'hung'} while booting; booting it once "
                  f"more\n{text[-1500:]}", file=sys.stderr)
            self.dir.mkdir(parents=True, exist_ok=True)  # stop() removed it
            return self._start(timeout)

    def _start(self, timeout: float) -> "Guest":
        mem = f"{self.memory_mb}M"
        qemu, machine, _ = QEMU[self.arch]
        cmd = [qemu, *machine, *accelerator(self.arch), "-smp", str(self.cpus), "-m", mem,
               "-display", "none", "-no-reboot", "-nodefaults", "-device", "vmcoreinfo",
               "-kernel", str(self.vmlinuz), "-initrd", str(self.initrd), "-append", self.cmdline,
               "-serial", f"file:{self.console}",
               "-qmp", f"unix:{self.ctl_socket},server=on,wait=off",
               "-qmp", f"unix:{self.qmp_socket},server=on,wait=off",
               # A shared memory backend (virtiofs needs it), the same in every configuration.
               "-object", f"memory-backend-memfd,id=mem,size={mem},share=on", "-numa", "node,memdev=mem",
               *self.qemu_args]
        if self.agent:
            cmd += ["-device", "virtio-serial-pci",
                    "-chardev", f"socket,id=agent,path={self.agent_socket},server=on,wait=off",
                    "-device", "virtserialport,chardev=agent,name=wqi.agent"]
        if self.hostroot:
            reason = hostroot_available()
            if reason:
                raise TestbedError(reason)
            with open(self.dir / "virtiofsd.log", "w") as log:  # the child keeps its own descriptor
                self.virtiofsd = subprocess.Popen(
                    [str(VIRTIOFSD), f"--socket-path={self.vfs_socket}", "-o", "source=/", "-o", "cache=always",
                     "-o", "sandbox=chroot", "-o", "log_level=err"],
                    stdout=subprocess.DEVNULL, stderr=log)
            self._wait_for(lambda: self.vfs_socket.exists(), 10, "virtiofsd did not create its socket")
            cmd += ["-chardev", f"socket,id=vfs,path={self.vfs_socket}",
                    "-device", "vhost-user-fs-pci,chardev=vfs,tag=hostroot"]
        with open(self.dir / "qemu.log", "w") as log:
            self.qemu = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        try:
            self._wait_for_boot(timeout)
            self.ctl = QMP(self.ctl_socket)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for(self, cond, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if self.qemu is not None and self.qemu.poll() is not None:
                raise TestbedError(f"{what}: QEMU exited with {self.qemu.returncode}\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TestbedError(f"{what} within {timeout:.0f} s\n{self.tail()}")
            time.sleep(0.1)

    def _wait_for_boot(self, timeout: float) -> None:
        """Wait for the guest's ready line; give up early on a console silent for BOOT_SILENCE."""
        seen, since = -1, time.monotonic()

        def ready() -> bool:
            nonlocal seen, since
            text = self.console_text()
            if "WQI-GUEST-READY" in text:
                return True
            now = time.monotonic()
            if len(text) != seen:
                seen, since = len(text), now
            elif now - since > self.BOOT_SILENCE:
                raise TestbedError(f"the guest did not boot: its console has been silent for "
                                   f"{self.BOOT_SILENCE:.0f} s\n{self.tail()}")
            return False

        self._wait_for(ready, timeout, "the guest did not boot")

    def console_text(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        text = self.console_text().splitlines()[-lines:]
        qlog = self.dir / "qemu.log"
        extra = qlog.read_text(errors="replace").strip() if qlog.exists() else ""
        return ("--- console tail ---\n" + "\n".join(text) +
                (f"\n--- qemu stderr ---\n{extra}" if extra else ""))

    def stop(self) -> None:
        if self._agent_sock is not None:
            self._agent_sock.close()
            self._agent_sock = None
        if self.ctl is not None:
            try:
                self.ctl.execute("quit")
            except (TestbedError, OSError):
                pass
            self.ctl.close()
            self.ctl = None
        for proc in (self.qemu, self.virtiofsd):
            if proc is None:
                continue
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        self.qemu = self.virtiofsd = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Guest":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- control

    def pause(self) -> None:
        self.ctl.execute("stop")

    def resume(self) -> None:
        self.ctl.execute("cont")

    def dump(self, path: Path, fmt: str = "kdump-zlib") -> Path:
        """Write the guest's memory to ``path`` (``elf`` or ``kdump-zlib``)."""
        path.unlink(missing_ok=True)
        self.ctl.execute("dump-guest-memory", paging=False, protocol=f"file:{path}", format=fmt)
        return path

    # ---- commands inside the guest

    def _agent(self):
        if self._agent_file is None:
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(self.agent_socket))
            self._agent_sock = s
            self._agent_file = s.makefile("rwb")
        return self._agent_file

    def sh(self, script: str, timeout: float = 600.0, check: bool = True) -> tuple[int, str]:
        """Run a busybox shell script in the guest; return (exit code, output)."""
        return self.sh_result(self.sh_start(script), timeout, check, script)

    def sh_start(self, script: str) -> str:
        """Send a script to the guest agent without waiting for it; :meth:`sh_result` collects it."""
        f = self._agent()
        ident = str(next(self._ids))
        f.write(f"{ident} {base64.b64encode(script.encode()).decode()}\n".encode())
        f.flush()
        return ident

    def sh_result(self, ident: str, timeout: float = 600.0, check: bool = True, script: str = "") -> tuple[int, str]:
        f = self._agent()
        self._agent_sock.settimeout(timeout)
        try:
            while True:
                line = f.readline()
                if not line:
                    raise TestbedError(f"the guest agent hung up\n{self.tail()}")
                parts = line.decode(errors="replace").split()
                if len(parts) == 4 and parts[0] == "WQI-RESULT" and parts[1] == ident:
                    break
            rc, n = int(parts[2]), int(parts[3])
            out = f.read(n).decode(errors="replace")
        except socket.timeout:
            raise TestbedError(f"guest command timed out after {timeout:.0f} s: {script[:200]}\n"
                               f"{self.tail()}") from None
        if check and rc != 0:
            raise TestbedError(f"guest command failed ({rc}): {script[:200]}\n{out[-2000:]}")
        return rc, out

    def host_command(self, argv: list[str], env: dict[str, str] | None = None) -> str:
        """A shell command line that runs ``argv`` from the shared host root."""
        import shlex

        envs = {"PATH": GUEST_PATH, "HOME": "/root", "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        return "chroot /host /usr/bin/env -i " + " ".join(
            shlex.quote(f"{k}={v}") for k, v in envs.items()) + " " + shlex.join(argv)
