# SPDX-License-Identifier: LGPL-2.1-or-later
"""Open the kernel to inspect: the running one, a vmcore, or a QEMU guest.

Every way this can fail ends in a :class:`TargetError` whose message is one
line a user can act on; the CLI prints it and exits with code 2.
"""

import logging
import os
import re
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import drgn
from drgn import Program

from .snapshot import Target


class TargetError(Exception):
    """The kernel could not be opened or read (exit code 2)."""


@dataclass
class Opened:
    prog: Program
    target: Target


def _quiet_drgn() -> None:
    # drgn reports through the "drgn" logger ("did not match any loaded
    # modules", "flattened format", ...): wqinspect turns what matters into
    # its own messages.
    log = logging.getLogger("drgn")
    if not os.environ.get("WQI_DEBUG"):
        log.setLevel(logging.ERROR)


def _core_kind(path: Path) -> str:
    """"elf", "kdump" or "flattened"; a TargetError for anything else."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise TargetError(f"{path}: no such file") from None
    except PermissionError:
        raise TargetError(f"{path}: permission denied") from None
    if not stat.S_ISREG(st.st_mode):
        raise TargetError(f"{path} is not a regular file")
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] == b"\x7fELF":
                return _check_elf_core(path, f, head, st.st_size)
    except PermissionError:
        raise TargetError(f"{path}: permission denied (vmcores are often mode 0400: try sudo)") from None
    if head[:8] in (b"KDUMP   ", b"DISKDUMP"):
        return "kdump"
    if head[:12] == b"makedumpfile":
        return "flattened"
    if not head:
        raise TargetError(f"{path} is empty")
    raise TargetError(f"{path} is not a vmcore: expected an ELF core dump or a kdump-compressed file")


def _check_elf_core(path: Path, f, head: bytes, size: int) -> str:
    if head[4] != 2 or head[5] != 1:
        raise TargetError(f"{path} is not a 64-bit little-endian ELF file")
    e_type, = struct.unpack_from("<H", head, 16)
    if e_type != 4:  # ET_CORE
        what = "an executable" if e_type == 2 else "a relocatable object (a kernel module?)" if e_type == 1 else \
            "not a core dump"
        raise TargetError(f"{path} is {what}, not a vmcore (debug files go after -s)")
    phoff, = struct.unpack_from("<Q", head, 32)
    phentsize, phnum = struct.unpack_from("<HH", head, 54)
    f.seek(phoff)
    table = f.read(phentsize * phnum)
    if len(table) < phentsize * phnum:
        raise TargetError(f"{path} is truncated: its program headers end past the end of the file")
    need = 0
    for i in range(phnum):
        _, _, offset, _, _, filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        need = max(need, offset + filesz)
    if need > size:
        raise TargetError(f"{path} is truncated: the dump needs {need} bytes, the file has {size}")
    return "elf"


def _qmp_precheck(path: str) -> None:
    """Fail fast where drgn would hang: QEMU serves one QMP client per socket."""
    if ":" in path and not path.startswith(("/", ".")):
        return  # host:port, left to drgn
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise TargetError(f"{path}: no such QMP socket") from None
    if not stat.S_ISSOCK(mode):
        raise TargetError(f"{path} is not a socket (start QEMU with -qmp unix:{path},server=on,wait=off)")
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(3)
    try:
        s.connect(path)
        greeting = s.recv(4096)
    except ConnectionRefusedError:
        raise TargetError(f"nothing listens on {path}: is QEMU running?") from None
    except socket.timeout:
        raise TargetError(f"QEMU does not answer on {path}: another client may be using it "
                          "(QEMU serves one QMP client per socket)") from None
    except OSError as e:
        raise TargetError(f"cannot connect to {path}: {e.strerror}") from None
    finally:
        s.close()
    if b"QMP" not in greeting:
        raise TargetError(f"{path} does not speak QMP")


def _release(prog: Program) -> str | None:
    try:
        info = prog["VMCOREINFO"].string_().decode(errors="replace")
    except (KeyError, LookupError, drgn.FaultError):
        return None
    m = re.search(r"^OSRELEASE=(\S+)", info, re.M)
    return m.group(1) if m else None


def _dbg_hint(release: str | None) -> str:
    if not release:
        return "pass the kernel's vmlinux with -s"
    return (f"install linux-image-{release}-dbg (Debian) or pass the vmlinux of {release} with -s")


def _load_debug_info(prog: Program, symbols: list[str]) -> None:
    release = _release(prog)
    for s in symbols:
        if not os.path.exists(s):
            raise TargetError(f"{s}: no such file")
    if symbols:
        try:
            prog.load_debug_info(symbols)
        except drgn.MissingDebugInfoError:
            pass
        except Exception as e:
            raise TargetError(f"cannot load debug info from {', '.join(symbols)}: {e}") from None
    else:
        try:
            prog.load_default_debug_info()
        except drgn.MissingDebugInfoError:
            pass  # kernel modules without debug info: checked below, module symbols come from kallsyms
    main = prog.main_module()
    if main.wants_debug_file():
        if symbols:
            build_id = main.build_id.hex() if main.build_id else "unknown"
            raise TargetError(f"none of {', '.join(symbols)} is the vmlinux of this kernel "
                              f"({release or 'unknown release'}, build ID {build_id}): {_dbg_hint(release)}")
        raise TargetError(f"no debug info for kernel {release or '(unknown release)'}: {_dbg_hint(release)}")
    # Functions of modules without debug info still get names, from kallsyms.
    if any(m.wants_debug_file() for m in prog.modules() if m is not main):
        try:
            from drgn.helpers.linux.kallsyms import load_module_kallsyms

            prog.register_symbol_finder("module_kallsyms", load_module_kallsyms(prog), enable_index=-1)
        except Exception:  # noqa: BLE001 - names are a convenience; addresses are still shown
            pass


def open_target(core: str | None = None, qemu: str | None = None, symbols: tuple[str, ...] = ()) -> Opened:
    """Open the kernel to inspect and load its debug info."""
    _quiet_drgn()
    symbols = list(symbols)
    if core and qemu:
        raise TargetError("give either --core or --qemu, not both")
    if core:
        path = Path(core)
        kind = _core_kind(path)
        prog = Program()
        try:
            prog.set_core_dump(str(path))
        except Exception:  # noqa: BLE001
            # QEMU's kdump files name no architecture: assume the host's.
            prog = Program(drgn.host_platform)
            try:
                prog.set_core_dump(str(path))
            except Exception as e:  # noqa: BLE001
                raise TargetError(f"{path} cannot be opened as a {kind} vmcore (truncated or corrupt?): {e}") from None
        target = Target("vmcore", str(path.resolve()), live=False)
    elif qemu:
        _qmp_precheck(qemu)
        prog = Program()
        try:
            prog.set_qemu_qmp(qemu)
        except Exception as e:  # noqa: BLE001
            raise TargetError(f"cannot attach to the QEMU guest on {qemu}: {e}") from None
        target = Target("qmp", qemu, live=True)
    else:
        if not os.path.exists("/proc/kcore"):
            raise TargetError("this kernel has no /proc/kcore (CONFIG_PROC_KCORE): give a vmcore with -c")
        if os.geteuid() != 0:
            raise TargetError("reading the running kernel needs root: run it with sudo "
                              "(or give a vmcore with -c, a QEMU guest with --qemu)")
        prog = Program()
        try:
            prog.set_kernel()
        except PermissionError:
            raise TargetError("cannot read /proc/kcore: permission denied (lockdown or missing CAP_SYS_RAWIO?)") from None
        except Exception as e:  # noqa: BLE001
            raise TargetError(f"cannot open the running kernel: {e}") from None
        target = Target("kcore", "/proc/kcore", live=True)
    if not prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL:
        raise TargetError(f"{core or qemu} holds no Linux kernel (no VMCOREINFO: for QEMU guests use "
                          "-device vmcoreinfo and load qemu_fw_cfg in the guest)")
    _load_debug_info(prog, symbols)
    try:
        prog.type("struct workqueue_struct")
        prog["jiffies"].value_()
    except LookupError:
        raise TargetError("the debug info has no workqueue types: is it the kernel's vmlinux?") from None
    except drgn.FaultError as e:
        raise TargetError(f"the kernel's memory cannot be read ({e}): truncated or corrupt dump?") from None
    return Opened(prog, target)
