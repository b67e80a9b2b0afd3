# SPDX-License-Identifier: LGPL-2.1-or-later
"""Why a kernel crashed: the report in its log, the panicking CPU, its task and stack, the memory named.

Read only from a kernel that panicked (``panic_cpu`` is set): a vmcore that QEMU took of the panicked
guest, or one that kdump saved.  The report's lines are taken as the kernel printed them; the
crashed task's stack is unwound by drgn from the dump's registers of that CPU, through the
exception frame (pt_regs) of the oops; each address the report names (the faulting address, the
list pointers of a ``list_del corruption``) is looked up: kernel image, module, module area of
no loaded module, slab object (drgn's slab helpers: cache, allocated or free).
"""

import re

from drgn import FaultError, Program

from ..kernel import memory as kmem
from ..snapshot import Crash, CrashAddress, CrashFrame, HungTask, LogRecord
from .base import READ_ERRORS, Reader, fault_text

#: Lines of a crash report that the record keeps.
_REPORT_RE = re.compile(
    r"^(BUG: |Oops|kernel BUG at |general protection fault|INFO: task |RIP: |CR2: |Workqueue: |"
    r"Kernel panic - not syncing|list_(del|add) corruption|CPU: \d+ |Modules linked in:|"
    r"WARNING: |Unable to handle kernel|invalid opcode)")
#: Where a report starts.
_START_RE = re.compile(r"^(BUG: |Oops|kernel BUG at |general protection fault|INFO: task .* blocked for more than|"
                       r"list_(del|add) corruption|Kernel panic - not syncing|invalid opcode|WARNING: )")
_FAULT_RES = (
    re.compile(r"BUG: unable to handle page fault for address: ([0-9a-f]+)"),
    re.compile(r"BUG: kernel NULL pointer dereference, address: ([0-9a-f]+)"),
    re.compile(r"general protection fault, probably for non-canonical address (0x[0-9a-f]+)"),
)
#: (pid_t and the seconds of an unsigned long: at most 10 and 20 digits, the bounds of the snapshot's types.)
_HUNG_RE = re.compile(r"INFO: task (.+):(\d{1,9}) blocked for more than (\d{1,12}) seconds")
_PANIC_RE = re.compile(r"Kernel panic - not syncing: (.*)")
#: The header __die() prints: "<what>: <error code> [#<die counter>]".
_DIE_RE = re.compile(r": [0-9a-f]{4} \[#\d+\]")
#: The kernel's RIP (CS 0010), not a user one (0033) of a syscall's frame.
_RIP_RE = re.compile(r"^RIP: 0010:(\S+)")
_LAST_UNLOADED_RE = re.compile(r"\[last unloaded: ([^\]( ]+)")
#: list_del corruption reports (lib/list_debug.c): the entry being deleted, its neighbour, what the neighbour held.
_LIST_NEIGHBOUR_RE = re.compile(r"list_\w+ corruption\. (next|prev)->(?:prev|next) should be ([0-9a-f]+), "
                                r"but was ([0-9a-f]+)\. \((?:next|prev)=([0-9a-f]+)\)")
_LIST_NULL_RE = re.compile(r"list_\w+ corruption, ([0-9a-f]+)->(?:next|prev) is (?:NULL|LIST_POISON\d)")
#: The most report lines kept.
LINES_LIMIT = 80
#: Kernel addresses have the top bit set (x86-64, arm64): below it lies user space.
_KERNEL_HALF = 1 << 63
FRAMES_LIMIT = 64


def panic_cpu(prog: Program) -> int | None:
    """The CPU that panicked, or None when the kernel did not panic (``panic_cpu`` is -1)."""
    try:
        cpu = prog["panic_cpu"].counter.value_()
    except (LookupError, AttributeError) + READ_ERRORS:
        return None
    return cpu if cpu >= 0 else None


_TRACE_RE = re.compile(r"^\s*([\w.]+\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[[\w]+\])?)\s*$")
_TRACE_END_RE = re.compile(r"^(Modules linked in:|---\[ end|</TASK>)")


def log_trace(records) -> list[str]:
    """The first ``Call Trace:`` of the report: its reliable entries; if it has none (the kernel's unwinder
    could not start, e.g. from code of an unloaded module), its ``?`` entries, kept with their ``?``."""
    reliable: list[str] = []
    guessed: list[str] = []
    inside = False
    for _, text in records:
        line = text.strip()
        if not inside:
            inside = line == "Call Trace:"
            continue
        if _TRACE_END_RE.search(line) or len(reliable) >= FRAMES_LIMIT:
            break
        m = _TRACE_RE.match(line)
        if m:
            reliable.append(m.group(1))
        elif line.startswith("? "):
            m = _TRACE_RE.match(line[2:])
            if m and len(guessed) < FRAMES_LIMIT:
                guessed.append("? " + m.group(1))
    return reliable or guessed


def report_lines(records) -> list[LogRecord]:
    """The crash report's lines among ``records`` ((seconds, text) pairs), from the first report on."""
    out: list[LogRecord] = []
    started = False
    for t, text in records:
        line = text.strip()
        if not started and _START_RE.search(line):
            started = True
        if started and _REPORT_RE.search(line) and not line.startswith("---[ end"):
            out.append(LogRecord(t, line))
    return out[:LINES_LIMIT]


def parse_report(crash: Crash) -> list[tuple[int, str]]:
    """Fill the fields that come from the log; return the addresses it names, with their roles."""
    addresses: list[tuple[int, str]] = []
    seen_oops = False
    # The die header ("Oops: 0002 [#1] ...", 5.10's "invalid opcode: 0000 [#1] ..."): the oops' own RIP is the
    # first after it; a RIP before it belongs to something the report printed first, e.g. the backtrace of a
    # CPU-hogging worker after "BUG: workqueue lockup".
    die = next((i for i, rec in enumerate(crash.lines) if _DIE_RE.search(rec.text)), None)
    for i, rec in enumerate(crash.lines):
        line = rec.text
        m = _PANIC_RE.search(line)
        if m and crash.panic is None:
            crash.panic = m.group(1)
        m = _HUNG_RE.search(line)
        if m:
            crash.hung_tasks.append(HungTask(m.group(1), int(m.group(2)), int(m.group(3))))
        if line.startswith(("Oops", "BUG: ", "kernel BUG", "general protection", "invalid opcode")):
            seen_oops = True
        m = _RIP_RE.search(line)
        if m and (seen_oops if die is None else i > die) and crash.rip is None:
            crash.rip = m.group(1)
        m = _LAST_UNLOADED_RE.search(line)
        if m and crash.last_unloaded is None:
            crash.last_unloaded = m.group(1)
        if crash.fault_address is None:
            for rx in _FAULT_RES:
                m = rx.search(line)
                if m:
                    crash.fault_address = int(m.group(1), 16)
                    addresses.append((crash.fault_address, "fault address"))
                    break
        m = _LIST_NEIGHBOUR_RE.search(line)
        if m:
            side, should, was, neighbour = m.groups()
            addresses += [(int(should, 16), "list entry"), (int(neighbour, 16), side),
                          (int(was, 16), f"{side}'s {'prev' if side == 'next' else 'next'}")]
        m = _LIST_NULL_RE.search(line)
        if m:
            addresses.append((int(m.group(1), 16), "list entry"))
    return addresses


def classify(r: Reader, address: int, role: str, module_area: tuple[int, int] | None) -> CrashAddress:
    """What the memory at ``address`` is, in the dump."""
    prog = r.prog
    a = CrashAddress(address, role)
    ref = r.func(address)
    a.symbol = ref.name
    if r.image and r.image[0] <= address < r.image[1]:
        a.region = "kernel image"
    elif ref.module is not None:
        a.region, a.module = "module", ref.module
    elif module_area and module_area[0] <= address < module_area[1]:
        a.region = "module area"
    try:
        prog.read(address, 1)
    except FaultError as e:
        a.readable, a.error = False, fault_text(e)
    except (ValueError, OverflowError) as e:
        a.readable, a.error = False, f"{type(e).__name__}: {e}"
    if a.region == "other" and a.readable:
        try:
            from drgn.helpers.linux.slab import slab_object_info

            info = slab_object_info(prog, address)
        except (LookupError, NotImplementedError, ValueError) + READ_ERRORS:
            info = None
        if info is not None:
            a.region = "slab"
            try:
                a.slab_cache = info.slab_cache.name.string_().decode(errors="replace")
            except READ_ERRORS:
                pass
            a.slab_allocated = info.allocated
            a.slab_object = info.address
    return a


def crashed_frames(r: Reader, crash: Crash) -> None:
    """The crashed task and its stack (drgn unwinds through the pt_regs of the oops)."""
    prog = r.prog
    try:
        thread = prog.crashed_thread()
        trace = thread.stack_trace()
    except (LookupError, ValueError) + READ_ERRORS as e:
        crash.frames_error = f"{type(e).__name__}: {fault_text(e) if isinstance(e, FaultError) else e}"
        return
    try:
        crash.task = r.task(thread.object.value_())
    except READ_ERRORS + (LookupError,) as e:
        r.warn("crashed task", f"{type(e).__name__}: {e}")
    inlined: list[str] = []
    try:
        for frame in trace:
            if len(crash.frames) >= FRAMES_LIMIT:
                break
            name = frame.name
            if frame.pc < _KERNEL_HALF:
                break  # the user-space context a system call interrupted: the kernel stack ends here
            if frame.is_inline:
                if name:
                    inlined.append(name)
                continue
            f = CrashFrame(pc=frame.pc, inlined=inlined, interrupted=bool(frame.interrupted))
            inlined = []
            try:
                sym = frame.symbol()
                f.function, f.offset, f.size = sym.name, frame.pc - sym.address, sym.size
            except LookupError:
                sym = None
            if sym is None and crash.frames:
                # Code no symbol covers (e.g. of an unloaded module) has no unwind information either:
                # the frames drgn would give past it are guesses.
                crash.frames.append(f)
                crash.frames_error = (f"the stack cannot be unwound past {frame.pc:#x}, which lies in no "
                                      f"symbol (the kernel's Call Trace in the log goes on)")
                break
            f.module = r.func(frame.pc).module
            try:
                filename, line, _ = frame.source()
                f.source = f"{filename}:{line}"
            except LookupError:
                pass
            crash.frames.append(f)
    except READ_ERRORS as e:
        crash.frames_error = f"{type(e).__name__}: {fault_text(e) if isinstance(e, FaultError) else e}"


def read_crash(r: Reader) -> Crash | None:
    """The crash record of a kernel that panicked; None for one that did not."""
    prog = r.prog
    cpu = panic_cpu(prog)
    if cpu is None:
        return None
    crash = Crash(cpu=cpu)
    try:
        from drgn.helpers.linux.printk import get_printk_records

        records = [(rec.timestamp / 1e9, rec.text.decode(errors="replace")) for rec in get_printk_records(prog)]
    except (LookupError,) + READ_ERRORS as e:
        r.warn("kernel log", f"{type(e).__name__}: {fault_text(e) if isinstance(e, FaultError) else e}")
        records = []
    crash.lines = report_lines(records)
    start = next((i for i, (_, text) in enumerate(records) if _START_RE.search(text.strip())), len(records))
    crash.log_trace = log_trace(records[start:])
    named = parse_report(crash)
    crashed_frames(r, crash)
    exc = crash.exception_frame
    if exc is not None:
        named.append((exc.pc, "RIP"))
    area = None
    try:
        area = kmem.module_area(prog)
    except (LookupError,) + READ_ERRORS:
        pass
    seen = set()
    for address, role in named:
        if (address, role) in seen or not address:
            continue
        seen.add((address, role))
        crash.addresses.append(classify(r, address, role, area))
    return crash
