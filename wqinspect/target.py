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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import drgn
from drgn import Program

from .errors import TargetError  # noqa: F401 (part of this module's interface)
from .snapshot import Target


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


#: Distribution families, from the kernel release string (the target's own kernel) first.
_RELEASE_FAMILIES = (
    (re.compile(r"\.fc\d+"), "fedora"),
    (re.compile(r"\.el\d+"), "rhel"),
    (re.compile(r"\+deb\d+|^\d+\.\d+\.\d+-\d+-(?:cloud-|rt-)?(?:amd64|arm64|armmp|686|686-pae|ppc64el|s390x)"),
     "debian"),
    (re.compile(r"-(?:generic|lowlatency|aws|azure|gcp|gke|kvm|oracle|ibm|raspi)(?:-\d+k)?$"), "ubuntu"),
    (re.compile(r"-default$"), "suse"),
)


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    """The fields of an os-release(5) file; empty when it cannot be read."""
    fields = {}
    try:
        with open(path) as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep and key and not key.startswith("#"):
                    fields[key] = value.strip().strip("\"'")
    except OSError:
        pass
    return fields


def distribution(release: str | None, host: dict[str, str] | None = None) -> str | None:
    """The distribution family whose packages would hold this kernel's debug info.

    The release string of the target's kernel decides when it names a distribution (a vmcore of a Fedora
    kernel read on a Debian host needs Fedora's package); otherwise the host's /etc/os-release does.
    """
    for pattern, family in _RELEASE_FAMILIES:
        if release and pattern.search(release):
            return family
    host = os_release() if host is None else host
    # ID first, then ID_LIKE in its order (Rocky is "rhel centos fedora": RHEL's packages).
    for i in [host.get("ID", "")] + host.get("ID_LIKE", "").split():
        for family, names in (("ubuntu", ("ubuntu",)), ("debian", ("debian",)), ("fedora", ("fedora",)),
                              ("rhel", ("rhel", "centos", "rocky", "almalinux", "ol")),
                              ("suse", ("suse", "opensuse", "sles", "opensuse-leap", "opensuse-tumbleweed"))):
            if i in names:
                return family
    return None


def dbg_hint(release: str | None, family: str | None = None, debuginfod: str | None = None) -> str:
    """What to install or pass for the kernel's debug info, for the distribution at hand.

    ``debuginfod`` is "off" (drgn built without it, or --no-debuginfod), "available" (drgn has it but left it
    off, as drgn 0.3.0 does for kernels), "unset" (enabled, no DEBUGINFOD_URLS) or "tried" (the servers in
    DEBUGINFOD_URLS were asked).
    """
    if not release:
        return "pass the kernel's vmlinux with -s"
    ways = {
        "debian": f"install linux-image-{release}-dbg (Debian)",
        "ubuntu": f"install linux-image-{release}-dbgsym (Ubuntu, from ddebs.ubuntu.com)",
        "fedora": f"run 'dnf debuginfo-install kernel-{release}' (Fedora)",
        "rhel": f"run 'debuginfo-install kernel-{release}' (RHEL and its rebuilds)",
        "suse": "install the kernel's -debuginfo package (zypper install kernel-default-debuginfo)",
    }
    hint = [ways[family]] if family in ways else []
    if debuginfod == "available":
        hint.append("fetch it with --debuginfod (DEBUGINFOD_URLS set)")
    elif debuginfod == "unset":
        hint.append("set DEBUGINFOD_URLS to fetch it with debuginfod")
    hint.append(f"pass the vmlinux of {release} with -s (a file or a directory)")
    text = ", ".join(hint[:-1]) + (" or " if len(hint) > 1 else "") + hint[-1]
    return f"debuginfod had none; {text}" if debuginfod == "tried" else text


def _debuginfod_state(prog: Program, asked: bool | None) -> str:
    if "debuginfod" not in prog.enabled_debug_info_finders():
        return "available" if asked is None and "debuginfod" in prog.registered_debug_info_finders() else "off"
    return "tried" if os.environ.get("DEBUGINFOD_URLS", "").strip() else "unset"


#: Kernel debug files a -s directory is searched for (bounded: a debug tree can be large).
_KERNEL_FILE = re.compile(r"^(?:vmlinux(?:-.+)?(?:\.debug)?|.+\.ko(?:\.debug)?)$")
_WALK_LIMIT = 200_000


def _search_directory(directory: str, release: str | None) -> list[str]:
    """vmlinux and module debug files under ``directory``, those of ``release`` only where the tree tells."""
    found: list[str] = []
    seen = 0
    for root, dirs, files in os.walk(directory, onerror=None, followlinks=False):
        seen += len(files) + len(dirs)
        if seen > _WALK_LIMIT:
            raise TargetError(f"{directory}: too large to search (over {_WALK_LIMIT} entries): "
                              "give the vmlinux itself or a smaller directory with -s")
        # Other kernels' module trees (lib/modules/<other release>) are skipped.
        if release and os.path.basename(root) == "modules":
            dirs[:] = [d for d in dirs if d == release]
        dirs[:] = [d for d in dirs if d != ".build-id"]
        for name in files:
            if _KERNEL_FILE.match(name):
                if name.startswith("vmlinux-") and release and release not in name:
                    continue
                found.append(os.path.join(root, name))
    return found


@dataclass(frozen=True)
class DebugOptions:
    """Where debug info comes from, as drgn's own options say it (see ``drgn --help``)."""

    #: -s: files, or directories searched for vmlinux and modules.
    symbols: tuple[str, ...] = ()
    #: --debug-directory: searched by build ID and debug link, before /usr/lib/debug.
    debug_directories: tuple[str, ...] = ()
    #: --kernel-directory: searched for vmlinux and modules, before /boot and /lib/modules.
    kernel_directories: tuple[str, ...] = ()
    #: --no-default-debug-directories / --no-default-kernel-directories.
    no_default_directories: bool = False
    #: --debuginfod / --no-debuginfod; None leaves drgn's default (on when drgn has it and DEBUGINFOD_URLS is set).
    debuginfod: bool | None = None


def _configure(prog: Program, opts: DebugOptions, dirs_of_symbols: list[str]) -> None:
    o = prog.debug_info_options
    debug_dirs = tuple(opts.debug_directories) + tuple(dirs_of_symbols)
    kernel_dirs = tuple(opts.kernel_directories) + tuple(dirs_of_symbols)
    if opts.no_default_directories:
        o.directories = debug_dirs
        o.kernel_directories = kernel_dirs
    else:
        o.directories = debug_dirs + tuple(o.directories)
        o.kernel_directories = kernel_dirs + tuple(o.kernel_directories)
    if opts.debuginfod is not None:
        finders = [f for f in prog.enabled_debug_info_finders() if f != "debuginfod"]
        if opts.debuginfod:
            if "debuginfod" not in prog.registered_debug_info_finders():
                raise TargetError("--debuginfod: this drgn was built without debuginfod support")
            finders.append("debuginfod")
        prog.set_enabled_debug_info_finders(finders)


def _load_debug_info(prog: Program, opts: DebugOptions) -> None:
    release = _release(prog)
    files, dirs = [], []
    for s in opts.symbols:
        if os.path.isdir(s):
            dirs.append(s)
        elif os.path.exists(s):
            files.append(s)
        else:
            raise TargetError(f"{s}: no such file")
    _configure(prog, opts, dirs)
    for d in dirs:
        files += _search_directory(d, release)
    # Files alone (-s vmlinux ...) are all that is loaded, as before; anything else adds drgn's standard
    # search, which the directories and debuginfod options steer.
    standard = not (files and not dirs)
    try:
        prog.load_debug_info(files, default=standard)
    except drgn.MissingDebugInfoError:
        pass  # kernel modules without debug info: checked below, module symbols come from kallsyms
    except Exception as e:  # noqa: BLE001
        raise TargetError(f"cannot load debug info from {', '.join(opts.symbols) or 'the standard places'}: "
                          f"{e}") from None
    main = prog.main_module()
    if main.wants_debug_file():
        hint = dbg_hint(release, distribution(release), _debuginfod_state(prog, opts.debuginfod))
        if opts.symbols:
            build_id = main.build_id.hex() if main.build_id else "unknown"
            given = ", ".join(opts.symbols)
            what = f"none of {given} is" if files or not dirs else f"{given} holds no file that is"
            raise TargetError(f"{what} the vmlinux of this kernel "
                              f"({release or 'unknown release'}, build ID {build_id}): {hint}")
        raise TargetError(f"no debug info for kernel {release or '(unknown release)'}: {hint}")
    # Functions of modules without debug info still get names, from kallsyms.
    if any(m.wants_debug_file() for m in prog.modules() if m is not main):
        try:
            from drgn.helpers.linux.kallsyms import load_module_kallsyms

            prog.register_symbol_finder("module_kallsyms", load_module_kallsyms(prog), enable_index=-1)
        except Exception:  # noqa: BLE001 - names are a convenience; addresses are still shown
            pass


def _read_vmcoreinfo(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except FileNotFoundError:
        raise TargetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TargetError(f"{path} is a directory, not a vmcoreinfo file") from None
    except OSError as e:
        raise TargetError(f"cannot read {path}: {e.strerror}") from None
    if b"OSRELEASE=" not in data:
        raise TargetError(f"{path} is not a vmcoreinfo file (no OSRELEASE= line)")
    return data


def _program(vmcoreinfo: bytes | None, platform=None) -> Program:
    if vmcoreinfo is None:
        return Program(platform) if platform else Program()
    try:
        return Program(platform, vmcoreinfo=vmcoreinfo)
    except Exception as e:  # noqa: BLE001 - drgn's BadDataError, ValueError
        raise TargetError(f"the --vmcoreinfo file is not usable: {e}") from None


def open_target(core: str | None = None, qemu: str | None = None, symbols: tuple[str, ...] = (), *,
                debug: DebugOptions | None = None, vmcoreinfo: str | None = None,
                progress: Callable[[str], None] | None = None) -> Opened:
    """Open the kernel to inspect and load its debug info.

    ``symbols`` adds to ``debug.symbols``; ``vmcoreinfo`` overrides the VMCOREINFO of the target (drgn's
    --vmcoreinfo); ``progress`` is told, in a few words, what is being done.
    """
    _quiet_drgn()
    say = progress or (lambda _: None)
    debug = debug or DebugOptions()
    if symbols:
        debug = replace(debug, symbols=tuple(debug.symbols) + tuple(symbols))
    if core and qemu:
        raise TargetError("give either --core or --qemu, not both")
    for d in (*debug.debug_directories, *debug.kernel_directories):
        if not os.path.isdir(d):
            raise TargetError(f"{d}: no such directory")
    for s in debug.symbols:
        if not os.path.exists(s):
            raise TargetError(f"{s}: no such file")
    info = _read_vmcoreinfo(vmcoreinfo) if vmcoreinfo else None
    if core:
        path = Path(core)
        kind = _core_kind(path)
        say(f"opening {path.name}")
        from .kdump import KdumpError, header_platform, libkdumpfile_reason, open_program, symbols_platform

        # QEMU's kdump files name no architecture but x86_64: take the one the file's VMCOREINFO or the
        # vmlinux (-s) tells, else assume the host's.  (Never the vmlinux's over the file's own: a
        # vmlinux of another architecture must fail as the wrong vmlinux, not crash libkdumpfile.)
        platform = (header_platform(str(path)) or symbols_platform(debug.symbols)) if kind != "elf" else None
        # Good kdump files that libkdumpfile cannot read are read without it (wqinspect/kdump.py).
        reason = libkdumpfile_reason(str(path), platform) if kind != "elf" else None
        if reason is None:
            prog = _program(info)
            try:
                prog.set_core_dump(str(path))
            except Exception:  # noqa: BLE001
                platform = platform or drgn.host_platform
                prog = _program(info, platform)
                try:
                    prog.set_core_dump(str(path))
                except Exception as e:  # noqa: BLE001
                    if kind == "elf":
                        raise TargetError(f"{path} cannot be opened as an ELF vmcore (truncated or corrupt?): {e}") \
                            from None
                    reason = str(e)
        if reason is not None:
            try:
                prog = open_program(str(path), info, platform)
            except KdumpError as own:
                raise TargetError(f"{path} cannot be opened as a {kind} vmcore: libkdumpfile: {reason}; "
                                  f"wqinspect's kdump reader: {own}") from None
            except Exception as own:  # noqa: BLE001 - drgn refused the memory or the VMCOREINFO
                raise TargetError(f"{path} cannot be opened as a {kind} vmcore: libkdumpfile: {reason}; "
                                  f"without libkdumpfile: {own}") from None
        target = Target("vmcore", str(path.resolve()), live=False)
    elif qemu:
        _qmp_precheck(qemu)
        say(f"attaching to the QEMU guest on {qemu}")
        prog = _program(info)
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
        prog = _program(info)
        try:
            prog.set_kernel()
        except PermissionError:
            raise TargetError("cannot read /proc/kcore: permission denied "
                              "(lockdown or missing CAP_SYS_RAWIO?)") from None
        except Exception as e:  # noqa: BLE001
            raise TargetError(f"cannot open the running kernel: {e}") from None
        target = Target("kcore", "/proc/kcore", live=True)
    if not prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL:
        raise TargetError(f"{core or qemu} holds no Linux kernel (no VMCOREINFO: for QEMU guests use "
                          "-device vmcoreinfo and load qemu_fw_cfg in the guest, or give it with --vmcoreinfo)")
    say(f"loading debug info for {_release(prog) or 'the kernel'}")
    _load_debug_info(prog, debug)
    try:
        prog.type("struct workqueue_struct")
        prog["jiffies"].value_()
    except LookupError:
        raise TargetError("the debug info has no workqueue types: is it the kernel's vmlinux?") from None
    except drgn.FaultError as e:
        raise TargetError(f"the kernel's memory cannot be read ({e}): truncated or corrupt dump?") from None
    return Opened(prog, target)


def target_of(prog: Program) -> Target:
    """Describe a program opened elsewhere (by drgn's own CLI, a script) as a snapshot's target."""
    flags = prog.flags
    if not flags & drgn.ProgramFlags.IS_LIVE:
        return Target("vmcore", prog.core_dump_path or "", live=False)
    if os.path.exists("/proc/kcore") and _is_running_kernel(prog):
        return Target("kcore", "/proc/kcore", live=True)
    return Target("qmp", "", live=True)


def _is_running_kernel(prog: Program) -> bool:
    try:
        return _release(prog) == os.uname().release
    except Exception:  # noqa: BLE001
        return False
