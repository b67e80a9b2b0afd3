# SPDX-License-Identifier: LGPL-2.1-or-later
"""The workqueue watchdog and CPU-hog detection, the log, and task stacks."""

import re
from typing import Iterator

from drgn import Object, Program
from drgn.helpers.linux.printk import get_printk_records

from .cpus import cpus



def watchdog_thresh(prog: Program) -> int | None:
    """``wq_watchdog_thresh`` in seconds, or None without CONFIG_WQ_WATCHDOG (Debian's kernels)."""
    try:
        return prog["wq_watchdog_thresh"].value_()
    except KeyError:
        return None


def watchdog_touched(prog: Program) -> tuple[int, dict[int, int]]:
    """``wq_watchdog_touched`` and each possible CPU's ``wq_watchdog_touched_cpu`` (jiffies)."""
    per = prog["wq_watchdog_touched_cpu"].address_
    c = cpus(prog)
    return prog["wq_watchdog_touched"].value_(), {cpu: prog.read_word(c.per_cpu_ptr(per, cpu)) for cpu in c.possible}


def cpu_intensive_thresh_us(prog: Program) -> int | None:
    """``wq_cpu_intensive_thresh_us`` (v6.5+), else None."""
    try:
        return prog["wq_cpu_intensive_thresh_us"].value_()
    except KeyError:
        return None


def for_each_hog(prog: Program) -> Iterator[tuple[int, int]]:
    """
    The kernel's table of CPU-hogging work functions
    (CONFIG_WQ_CPU_INTENSIVE_REPORT): (function address, times reported).
    """
    ents = prog["wci_ents"]
    for i in range(min(prog["wci_nr_ents"].value_(), len(ents))):
        yield ents[i].func.value_(), ents[i].cnt.counter.value_()


#: Log lines wqinspect keeps: the watchdog's report, hog reports, and other workqueue messages.
_LOG_RE = re.compile(rb"workqueue|hogged CPU|stuck for|Showing busy|Showing backtraces|^ *pwq \d|^pool \d"
                     rb"|^ *(in-flight|pending|inactive):")


def workqueue_log(prog: Program, limit: int = 2000) -> list[tuple[float, str]]:
    """Workqueue-related records of the kernel log: (seconds since boot, text)."""
    out = []
    for r in get_printk_records(prog):
        if _LOG_RE.search(r.text):
            out.append((r.timestamp / 1e9, r.text.decode(errors="replace")))
    return out[-limit:]


#: Frames of a task that waits for work items or workqueues.
FLUSH_FRAMES = ("__flush_work", "flush_work", "__flush_workqueue", "flush_workqueue", "drain_workqueue",
                "flush_delayed_work", "flush_rcu_work", "__cancel_work_sync", "cancel_work_sync",
                "cancel_delayed_work_sync", "destroy_workqueue", "workqueue_drain")


def task_frames(prog: Program, task: Object, limit: int = 64,
                located: dict | None = None) -> list[tuple[int, str | None, str | None]]:
    """
    A task's stack, innermost first: (program counter, function name, crash-style location).

    The location is ``symbol+0xoffset/0xsize`` from the ELF symbol containing the
    program counter; None for a function inlined into its caller (the caller's
    frame, next, carries the location) or where no symbol covers the address.
    """
    out: list[tuple[int, str | None, str | None]] = []
    # drgn 0.3.0 searches the ELF symbol table for each address (about 1.5 ms a lookup on a distribution
    # kernel); stacks share most of their frames (every idle CPU has the same), so a caller that unwinds
    # many gives ``located``, where each (pc, interrupted) is looked up once (frame.symbol() looks up the
    # pc, or pc - 1 for a return address).
    if located is None:
        located = {}
    for frame in prog.stack_trace(task):
        if len(out) >= limit:
            break
        name = frame.name
        if out and out[-1][1] == name:
            continue
        where = None
        if not frame.is_inline:
            pc = frame.pc
            key = (pc, frame.interrupted)
            try:
                where = located[key]
            except KeyError:
                try:
                    sym = frame.symbol()
                except LookupError:
                    sym = None
                if sym is not None:
                    where = f"{sym.name}+{pc - sym.address:#x}/{sym.size:#x}"
                located[key] = where
        out.append((frame.pc, name, where))
    return out
