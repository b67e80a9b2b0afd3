# SPDX-License-Identifier: LGPL-2.1-or-later
"""What every reader of the capture shares: warnings, symbolization, tasks and work items.

A fault or an endless list while reading one object becomes a
:class:`~wqinspect.snapshot.ReadWarning` on that object (:meth:`Reader.guard`,
:meth:`Reader.collect`) and the rest of the capture goes on: a live kernel
changes under the reader, and a vmcore may be corrupt.
"""

from contextlib import contextmanager
from typing import Iterable

from drgn import FaultError, Object, Program

from ..kernel.cache import per_program
from ..kernel.cpus import cpus
from ..kernel.layout import layout
from ..kernel.pool import task_record
from ..kernel.walk import LIMIT as WALK_LIMIT, WalkError, linked_records, list_node_addresses
from ..kernel.work import RawWork, barrier_waiter, work_offsets
from ..snapshot import Barrier, FuncRef, Module, ReadWarning, TaskRef, Work, Where
from ..snapshot.layout import decode_work_data

#: Errors a racing live kernel or a corrupt dump produce while reading.
READ_ERRORS = (FaultError, WalkError, ValueError, OverflowError)

#: What libkdumpfile says of a page that makedumpfile filtered out (drgn's FaultError text).
_EXCLUDED_PAGE = "Excluded page"


def fault_text(e: Exception) -> str:
    """A read error as one line; a page makedumpfile left out of the dump says so, never looks like corruption."""
    if isinstance(e, FaultError) and _EXCLUDED_PAGE in str(e):
        return (f"page excluded by makedumpfile -d 31 at {e.address:#x} (the dump leaves out free, cache and "
                f"user pages; the object is not corrupt, it is not in the dump)")
    return f"{type(e).__name__}: {e}"


#: TASK_NOLOAD: with TASK_UNINTERRUPTIBLE it makes TASK_IDLE, shown as "I" (as drgn's task_state_to_char()).
_TASK_NOLOAD = 0x400


def symbol_name(prog: Program, address: int) -> str | None:
    """The name of the symbol containing ``address`` (cached per program)."""
    def lookup():
        try:
            return prog.symbol(address).name
        except LookupError:
            return None

    return per_program(prog, "symbol_names", address, lookup)


class Reader:
    """One capture's reading state: the program, its layout, the warnings, the modules seen."""

    def __init__(self, prog: Program):
        self.prog = prog
        self.lay = layout(prog)
        self.cpus = cpus(prog)
        self.warnings: list[ReadWarning] = []
        self.modules: list[Module] = []
        self.image: tuple[int, int] | None = None
        #: Which workqueue each pwq read belongs to (for work items whose pwq is on no list).
        self.pwq_owner: dict = {}
        #: Pool address -> id, and the workers read so far (read_pools() fills them for the workqueues).
        self.pool_ids: dict[int, int] = {}
        self.seen_workers: set[int] = set()
        self._funcs: dict[int, FuncRef] = {}
        #: data word -> (its decoding, its flag names): decoded()
        self._work_data: dict[int, tuple] = {}
        #: Equal values shared between objects (see Snapshot): lists by their items, dicts by their values.
        self.shared: dict[tuple, object] = {}
        self._tasks: dict[int, TaskRef | None] = {}
        self._task_fields: dict[int, dict] = {}
        self._barrier_func = self.lay.wq_barrier_func
        for obj, message in self.cpus.problems:
            self.warn(obj, message)

    def warn(self, obj: str, message: str) -> None:
        self.warnings.append(ReadWarning(obj, message))

    @contextmanager
    def guard(self, obj: str):
        """Turn a read error inside the block into a warning about ``obj``."""
        try:
            yield
        except READ_ERRORS as e:
            self.warn(obj, fault_text(e))

    def collect(self, obj: str, items: Iterable) -> list:
        """Everything an iterator yields before a read error (which becomes a warning)."""
        out = []
        try:
            for x in items:
                out.append(x)
        except READ_ERRORS as e:
            self.warn(obj, f"{fault_text(e)} (read {len(out)} entries)")
        return out

    # ---- symbols

    def module_of(self, address: int) -> str | None:
        return next((m.name for m in self.modules if any(a <= address < b for a, b in m.ranges)), None)

    def func(self, address: int) -> FuncRef:
        ref = self._funcs.get(address)
        if ref is None:
            ref = self._funcs[address] = FuncRef(address, symbol_name(self.prog, address), self.module_of(address))
        return ref

    def is_code(self, address: int) -> bool:
        """Whether ``address`` is in the kernel image or in a loaded module."""
        image = self.image
        if image and image[0] <= address < image[1]:
            return True
        return any(a <= address < b for m in self.modules for a, b in m.ranges)

    # ---- tasks

    def task_fields(self, address: int) -> dict:
        """The decoded ``struct task_struct`` at ``address`` (pid, comm, state, ...): one read."""
        try:
            return self._task_fields[address]
        except KeyError:
            t = self._task_fields[address] = task_record(self.prog).read(address)
            return t

    def task_state(self, address: int, t: dict) -> str | None:
        """As drgn's task_state_to_char(), from the decoded fields."""
        prog = self.prog
        try:
            chars, report, _ = prog.cache["task_state_to_char"]
        except KeyError:
            from drgn.helpers.linux.sched import task_state_to_char

            try:
                return task_state_to_char(Object(prog, "struct task_struct *", address))
            except READ_ERRORS + (LookupError, AttributeError):
                return None
        state = (t["state"] | t["exit_state"]) & report
        try:
            char = chars[state.bit_length()]
        except IndexError:
            return None
        return "I" if char == "D" and (t["state"] & ~state) == _TASK_NOLOAD else char

    def task(self, address: int) -> TaskRef | None:
        """A reference to the task at ``address`` (None for NULL); cached for the capture."""
        if not address:
            return None
        try:
            ref = self._tasks[address]
        except KeyError:
            t = self.task_fields(address)
            ref = TaskRef(t["pid"], t["comm"], address, self.task_state(address, t))
            self._tasks[address] = ref
        return None if ref is None else TaskRef(ref.pid, ref.comm, ref.address, ref.state)

    # ---- work items

    def work(self, raw: RawWork, where: Where, position: int, pool_id: int | None, worker: int | None = None) -> Work:
        d, names = self.decoded(raw.data)
        func = self._funcs.get(raw.func) or self.func(raw.func)
        # Positional, in Work's field order (address, func, data, flag_names, color, where, position, pwq, wq,
        # wq_name, pool_id, worker): work_items() makes 100,000 of them, a third faster than by keyword.
        work = Work(raw.address, func, raw.data, names, d.color, where, position, d.pwq or None, None, None,
                    d.pool_id if pool_id is None else pool_id, worker)
        if raw.func == self._barrier_func and raw.func is not None:
            barrier = Barrier()
            with self.guard(f"barrier {raw.address:#x}"):
                barrier.waiter = self.task(barrier_waiter(self.prog, raw.address))
            work.barrier = barrier
        return work

    def work_items(self, what: str, head: int, first: int | None, last: int | None, where: Where,
                   pool_id: int | None, worker: int | None = None, skip: int | None = None) -> list[Work]:
        """The items on the work list at ``head`` (``first``/``last``: the head's next and prev, if read already),
        positions counted from 0 (an item whose function is ``skip``, the rescuer's cursor, is left out but
        keeps its position).  A read error ends the list with a warning about ``what``, as :meth:`collect`."""
        out: list[Work] = []
        if first == head and last == head:
            return out  # empty, and head->prev agrees
        n = 0
        try:
            prog = self.prog
            if first is None:
                first = prog.read_word(head)
            if first == head:
                list(list_node_addresses(prog, head, first=first, last=last))  # empty, or WalkError: damaged head
                return out
            # work() written out in the loop, for lists of 100,000 items: one Work per item.
            o = work_offsets(prog)
            cache, funcs, barrier_func, append = self._work_data, self._funcs, self._barrier_func, out.append
            for address, (data, _, func) in linked_records(prog, head, first, o.entry, 0, o.size, o.unpack, 1,
                                                           WALK_LIMIT):
                if skip is None or func != skip:
                    if func == barrier_func:
                        append(self.work(RawWork(address, data, func), where, n, pool_id, worker))
                    else:
                        d, names = cache.get(data) or self.decoded(data)
                        append(Work(address, funcs.get(func) or self.func(func), data, names, d.color, where, n,
                                    d.pwq or None, None, None, d.pool_id if pool_id is None else pool_id, worker))
                n += 1
        except READ_ERRORS as e:
            self.warn(what, f"{fault_text(e)} (read {n} entries)")
        return out

    def decoded(self, data: int):
        """The decoded work data word and its flag names (cached for the capture)."""
        try:
            return self._work_data[data]
        except KeyError:
            d = decode_work_data(self.lay, data)
            v = self._work_data[data] = d, d.flag_names()
            return v
