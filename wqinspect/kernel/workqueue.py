# SPDX-License-Identifier: LGPL-2.1-or-later
"""Workqueues and their pool_workqueues: where they are and how they are laid out.

The members read from a ``struct workqueue_struct``, ``struct pool_workqueue``,
``struct wq_flusher`` and ``struct wq_node_nr_active`` are listed here once;
the capture reads each object with one bulk read (:mod:`wqinspect.kernel.structs`)
and walks their lists with raw words (:mod:`wqinspect.kernel.walk`).
Kernel-version differences come from :func:`wqinspect.kernel.layout.layout`.
"""

import mmap
import re
import struct
from operator import attrgetter, methodcaller
from typing import Iterator

from drgn import FaultError, Program, offsetof

from .cache import per_program
from .layout import layout
from .structs import Record, member_offset, record
from .walk import list_node_addresses

#: The most tasks read from one completion's wait queue.
WAITERS_LIMIT = 4096


def workqueue_addresses(prog: Program) -> Iterator[int]:
    """Addresses of the ``struct workqueue_struct`` on the global ``workqueues`` list (bounded walk)."""
    off = offsetof(prog.type("struct workqueue_struct"), "list")
    for node in list_node_addresses(prog, prog["workqueues"].address_):
        yield node - off


def workqueue_record(prog: Program) -> Record:
    lay = layout(prog)
    members = {
        "flags": "flags", "name": "name", "saved_max_active": "saved_max_active", "work_color": "work_color",
        "flush_color": "flush_color", "nr_pwqs_to_flush": "nr_pwqs_to_flush", "nr_drainers": "nr_drainers",
        "rescuer": "rescuer", "dfl_pwq": "dfl_pwq", "first_flusher": "first_flusher",
        "flusher_queue": "flusher_queue.next", "flusher_queue_prev": "flusher_queue.prev",
        "flusher_overflow": "flusher_overflow.next", "flusher_overflow_prev": "flusher_overflow.prev",
        "maydays": "maydays.next", "maydays_prev": "maydays.prev", "pwqs": "pwqs.next", "pwqs_prev": "pwqs.prev",
        "cpu_pwq": lay.wq_cpu_pwq, "attrs": lay.wq_attrs,
    }
    if lay.wq_max_active:
        members.update(max_active="max_active", min_active="min_active")
    return record(prog, "struct workqueue_struct", members)


def workqueue_name_record(prog: Program) -> Record:
    return record(prog, "struct workqueue_struct", {"name": "name"})


def pwq_record(prog: Program) -> Record:
    lay = layout(prog)
    members = {
        "pool": "pool", "work_color": "work_color", "flush_color": "flush_color", "refcnt": "refcnt",
        "nr_in_flight": "nr_in_flight", "nr_active": "nr_active", "inactive_works": f"{lay.pwq_inactive_list}.next",
        "inactive_works_prev": f"{lay.pwq_inactive_list}.prev", "pwqs_next": "pwqs_node.next",
    }
    if not lay.wq_max_active:
        members["max_active"] = "max_active"
    if lay.pwq_plugged:
        members["plugged"] = "plugged"
    if lay.pwq_stats:
        members["stats"] = "stats"
    return record(prog, "struct pool_workqueue", members)


def pwq_list_offset(prog: Program, member: str) -> int:
    """Offset in ``struct pool_workqueue`` of the list node ``member`` (pwqs_node, mayday_node, pending_node)."""
    off = member_offset(prog, "struct pool_workqueue", member)
    if off is None:
        raise LookupError(f"struct pool_workqueue has no {member}")
    return off


def flusher_record(prog: Program) -> Record:
    return record(prog, "struct wq_flusher", {"list": "list.next", "flush_color": "flush_color"})


def nr_active_record(prog: Program) -> Record:
    return record(prog, "struct wq_node_nr_active", {
        "max": "max", "nr": "nr", "pending_pwqs": "pending_pwqs.next", "pending_pwqs_prev": "pending_pwqs.prev"})


def flexible_array(prog: Program, type_name: str, member: str) -> int | None:
    """Offset of a flexible array member (``numa_pwq_tbl``, ``node_nr_active``), None if absent."""
    return member_offset(prog, type_name, member)


def completion_waiters(prog: Program, done: int) -> Iterator[int]:
    """
    Tasks sleeping in ``wait_for_completion()`` on the ``struct completion`` at ``done``.

    :return: addresses of ``struct task_struct``
    """
    wait = done + offsetof(prog.type("struct completion"), "wait")
    if layout(prog).completion_swait:
        head = wait + offsetof(prog.type("struct swait_queue_head"), "task_list")
        q = prog.type("struct swait_queue")
        node_off, task_off = offsetof(q, "task_list"), offsetof(q, "task")
    else:
        head = wait + offsetof(prog.type("struct wait_queue_head"), "head")
        q = prog.type("struct wait_queue_entry")
        node_off, task_off = offsetof(q, "entry"), offsetof(q, "private")
    for node in list_node_addresses(prog, head, WAITERS_LIMIT):
        yield prog.read_word(node - node_off + task_off)


#: The names of the system workqueues' variables (system_wq, system_bh_wq, system_dfl_long_wq ...).
_SYSTEM_WQ = rb"system_\w*wq"


def _elf_symbol_names(prog: Program, pattern: bytes) -> list[str] | None:
    """The names in vmlinux's ELF symbol string table that match ``pattern`` (each to be looked up in the
    debug info), or None where vmlinux's file is not known."""
    try:
        path = prog.main_module().debug_file_path
    except LookupError:
        return None
    return symtab_names(path, pattern) if path else None


def symtab_names(path: str, pattern: bytes) -> list[str] | None:
    """The names in an ELF file's symbol string table that match ``pattern`` in full: one regular
    expression over the table, where ``prog.symbols()`` would make 200,000 Python objects first.
    None when the file is not a 64-bit ELF with a symbol table."""
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            if m[:5] != b"\x7fELF\x02":
                return None
            end = "<" if m[5] == 1 else ">"
            shoff, = struct.unpack_from(end + "Q", m, 0x28)
            shentsize, shnum = struct.unpack_from(end + "HH", m, 0x3a)
            for i in range(shnum):
                sh_type, = struct.unpack_from(end + "I", m, shoff + i * shentsize + 4)
                if sh_type == 2:  # SHT_SYMTAB; its sh_link is the string table
                    link, = struct.unpack_from(end + "I", m, shoff + i * shentsize + 0x28)
                    s_off, s_size = struct.unpack_from(end + "QQ", m, shoff + link * shentsize + 0x18)
                    table = m[s_off:s_off + s_size]
                    # The linker shares suffixes: "system_wq" is the tail of "__kstrtab_system_wq".
                    found = set()
                    for n in re.findall(pattern + rb"(?=\0)", table):
                        found.update(n[i:].decode() for i in range(len(n)) if re.fullmatch(pattern, n[i:]))
                    return sorted(found)
    except (OSError, ValueError, struct.error):
        return None
    return None


def system_workqueues(prog: Program) -> dict[int, str]:
    """
    The kernel's system workqueues: {address of the workqueue: variable name}.

    Several share a name (two "events" since ``system_percpu_wq`` was added),
    so the variable that points to a workqueue is what tells them apart.
    """
    try:
        return prog.cache["wqinspect_system_wqs"]
    except KeyError:
        pass
    found: dict[int, str] = {}
    names = _elf_symbol_names(prog, _SYSTEM_WQ)
    if names is None:
        # 200,000 symbols: their names are filtered by C iterators before any Python code sees them.
        pattern = re.compile(_SYSTEM_WQ.decode())
        names = sorted(set(filter(pattern.fullmatch, filter(methodcaller("startswith", "system_"),
                                                            map(attrgetter("name"), prog.symbols())))))
    for name in names:
        try:
            var = prog.variable(name)
        except (KeyError, LookupError):
            continue
        if var.type_.type_name() == "struct workqueue_struct *" and var.value_():
            found.setdefault(var.value_(), name)
    prog.cache["wqinspect_system_wqs"] = found
    return found


def affinity_scope_names(prog: Program) -> list[str]:
    """``wq_affn_names[]`` (v6.6+), cached per program."""
    try:
        return prog.cache["wqinspect_affn_names"]
    except KeyError:
        names = prog["wq_affn_names"]
        out = prog.cache["wqinspect_affn_names"] = [names[i].string_().decode(errors="replace")
                                                    for i in range(len(names))]
        return out


def cpu_to_node(prog: Program, cpu: int) -> int:
    """The NUMA node of ``cpu`` (per-cpu ``numa_node``; 0 without NUMA), cached per program."""
    def lookup():
        from drgn.helpers.linux.percpu import per_cpu

        try:
            return per_cpu(prog["numa_node"], cpu).value_()
        except (KeyError, LookupError, FaultError):
            return 0

    return per_program(prog, "cpu_node", cpu, lookup)
