# SPDX-License-Identifier: LGPL-2.1-or-later
"""Workqueues and what hangs off them: pwqs and their inactive items, flushers, node_nr_active, maydays.

Each workqueue, pwq, flusher and node counter is read with one bulk read, a pwq's
record carrying its link to the next one; the per-cpu pwq slots of all workqueues
with one read per CPU and per-cpu chunk; the other lists are walked with raw words.
"""


from ..kernel.cpus import cpumask_cpus
from ..kernel.pool import attrs_record, pool_record, worker_record
from ..kernel.structs import fresh_pages, member_offset, words
from ..kernel.walk import linked_records, list_node_addresses
from ..kernel.workqueue import (affinity_scope_names, completion_waiters, cpu_to_node, flexible_array,
                                flusher_record, nr_active_record, pwq_list_offset, pwq_record, workqueue_addresses,
                                workqueue_record)
from ..snapshot import Flusher, FlusherWhere, NodeNrActive, Pwq, Work, Workqueue, Where
from ..snapshot.layout import decode_flags
from .base import READ_ERRORS, Reader, fault_text
from .pools import attrs_cpumask, read_worker


def read_workqueues(r: Reader, system: dict[int, str]) -> tuple[list[Workqueue], list, list[Work]]:
    """Every workqueue on the ``workqueues`` list, with its pwqs and their inactive items; and the
    rescuers that are attached to no pool (so on no pool's list)."""
    wqs, workers, works = [], [], []
    seen = r.seen_workers
    # Each workqueue is read once here: the per-cpu pwq slots of all of them are then read together.
    fields: dict[int, dict] = {}
    rec = workqueue_record(r.prog)
    for address in r.collect("workqueues", workqueue_addresses(r.prog)):
        with r.guard(f"workqueue {address:#x}"):
            fields[address] = rec.read(address)
    percpu_words = _percpu_slots(r, [f["cpu_pwq"] for f in fields.values()]) if r.lay.wq_cpu_pwq == "cpu_pwq" else {}
    for address, wq in fields.items():
        fresh_pages(r.prog)
        with r.guard(f"workqueue {address:#x}"):
            out, wworks = read_workqueue(r, address, system, wq, percpu_words)
            wqs.append(out)
            works += wworks
            if out.rescuer and out.rescuer not in seen:
                with r.guard(f"rescuer of {out.name}"):
                    worker, rworks = read_worker(r, out.rescuer, None)
                    seen.add(worker.address)
                    workers.append(worker)
                    works += rworks
    if not wqs and not any(w.object == "workqueues" for w in r.warnings):
        r.warn("workqueues", "the kernel has no workqueue at all: the list head is damaged")
    return wqs, workers, works


def _list(r: Reader, what: str, head: int, first: int, last: int, node_off: int) -> list[int]:
    if first == head and last == head:
        return []  # empty, and head->prev agrees
    return [n - node_off for n in r.collect(what, list_node_addresses(r.prog, head, first=first, last=last))]


def _pwqs(r: Reader, what: str, head: int, first: int, last: int, rec) -> list[tuple[int, dict]]:
    """The pwqs on the ``pwqs`` list of the workqueue ``what`` names, each read once: its record carries the
    next link.  A pwq that cannot be read whole gets a warning, and its link alone goes on with the list."""
    if first == head and last == head:
        return []
    prog = r.prog

    def unreadable(pwq: int, e: Exception) -> None:
        r.warn(f"pwq {pwq:#x} of {what}", fault_text(e))

    def walk():
        if first == head:  # a damaged head: next says empty, prev does not (WalkError)
            yield from list_node_addresses(prog, head, first=first, last=last)
        yield from linked_records(prog, head, first, pwq_list_offset(prog, "pwqs_node"), rec.lo, rec.span,
                                  rec.decode, "pwqs_next", on_fault=unreadable)

    return r.collect(f"{what} pwqs", walk())


#: Per-cpu slots closer together than this are read with one read.
_SLOTS_GAP = 1 << 16


def _percpu_slots(r: Reader, pointers: list[int]) -> dict[int, int]:
    """The words at ``per_cpu_ptr(p, cpu)`` for each pointer and possible CPU, {address: word}.
    Workqueues allocate their slots one after another, so a CPU's slots lie in a few dense runs of
    its per-cpu area (one per percpu chunk): each run is read with one read.  A run that cannot be
    read (a hole in a chunk) is left out: the caller reads those slots one by one."""
    prog, c = r.prog, r.cpus
    pointers = [p for p in pointers if p]
    out: dict[int, int] = {}
    for cpu in c.possible:
        addrs = sorted(c.per_cpu_ptr(p, cpu) for p in pointers)
        start = 0
        for i in range(1, len(addrs) + 1):
            if i < len(addrs) and addrs[i] - addrs[i - 1] <= _SLOTS_GAP:
                continue
            run, start = addrs[start:i], i
            if len(run) < 2:
                continue
            lo = run[0]
            try:
                block = words(prog, lo, (run[-1] - lo) // 8 + 1)
            except READ_ERRORS:
                continue
            out.update((a, block[(a - lo) // 8]) for a in run if (a - lo) % 8 == 0)
    return out


def read_workqueue(r: Reader, address: int, system: dict[int, str], wq: dict | None = None,
                   percpu_words: dict[int, int] | None = None) -> tuple[Workqueue, list[Work]]:
    """The workqueue at ``address`` (``wq``: its record, if read already; ``percpu_words``: per-cpu words
    read already, see _percpu_slots) with its pwqs and their inactive items."""
    prog, lay = r.prog, r.lay
    rec = workqueue_record(prog)
    wq = wq or rec.read(address)
    flags = wq["flags"]
    if lay.wq_max_active:
        max_active, saved, min_active = wq["max_active"], wq["saved_max_active"], wq["min_active"]
    else:
        max_active = saved = wq["saved_max_active"]
        min_active = None
    rescuer = wq["rescuer"]
    rescuer_task, rescuer_pid = 0, None
    if rescuer:
        # A fault here is a warning on the rescuer: the workqueue, its pwqs and items are read on.
        try:
            rescuer_task = worker_record(prog).read(rescuer)["task"]
            rescuer_pid = r.task_fields(rescuer_task)["pid"] if rescuer_task else None
        except READ_ERRORS as e:
            r.warn(f"rescuer {rescuer:#x} of workqueue {address:#x}", fault_text(e))
            rescuer_task = 0
    out = Workqueue(
        address=address, name=wq["name"], system_var=system.get(address), flags=flags,
        flag_names=decode_flags(flags, lay.wq_flags), kind=lay.wq_kind(flags), max_active=max_active,
        saved_max_active=saved, min_active=min_active, work_color=wq["work_color"],
        flush_color=wq["flush_color"], nr_pwqs_to_flush=wq["nr_pwqs_to_flush"],
        nr_drainers=wq["nr_drainers"], rescuer=rescuer or None,
        rescuer_pid=rescuer_pid,
        dfl_pwq=wq["dfl_pwq"] or None,
    )
    what = f"workqueue {out.name}"
    attrs = wq["attrs"]
    unbound = flags & lay.wq_flag("WQ_UNBOUND")
    nodes = r.cpus.nr_node_ids
    tbl_off = flexible_array(prog, "struct workqueue_struct", "numa_pwq_tbl")
    if attrs and unbound:
        with r.guard(what):
            a = attrs_record(prog).read(attrs)
            out.cpus = attrs_cpumask(r, attrs, "cpumask")
            if lay.attrs_affn_scope:
                scope = a["affn_scope"]
                names = affinity_scope_names(prog)
                out.affn_scope = names[scope] if 0 <= scope < len(names) else str(scope)
            if lay.attrs_affn_strict:
                out.affn_strict = bool(a["affn_strict"])
            out.nice = a["nice"]
        if lay.wq_cpu_pwq == "cpu_pwqs" and not wq["cpu_pwq"] and tbl_off is not None:
            # Before v6.6: unbound workqueues pick a pwq per NUMA node.
            with r.guard(what):
                tbl = words(prog, address + tbl_off, nodes)
                out.node_pools = [[n, pool_id_of_pwq(r, p)] for n, p in enumerate(tbl) if p]
    if rescuer_task:
        with r.guard(f"rescuer of {out.name}"):
            out.rescuer_cpus = cpumask_cpus(prog, r.task_fields(rescuer_task)["cpus_ptr"])
    with r.guard(f"{what} flushers"):
        if wq["first_flusher"]:
            out.first_flusher = read_flusher(r, wq["first_flusher"], FlusherWhere.FIRST)
        fl_off = member_offset(prog, "struct wq_flusher", "list")
        for which, where in (("flusher_queue", FlusherWhere.QUEUE), ("flusher_overflow", FlusherWhere.OVERFLOW)):
            found = _list(r, what, address + rec.offset(which), wq[which], wq[which + "_prev"], fl_off)
            getattr(out, which).extend(read_flusher(r, f, where) for f in found)
    maydays = set(_list(r, f"{what} maydays", address + rec.offset("maydays"), wq["maydays"], wq["maydays_prev"],
                        pwq_list_offset(prog, "mayday_node")))
    out.maydays = sorted(maydays)
    pending: set[int] = set()
    nna_off = flexible_array(prog, "struct workqueue_struct", "node_nr_active")
    if lay.wq_node_nr_active and unbound and nna_off is not None:
        with r.guard(f"{what} node_nr_active"):
            nrec = nr_active_record(prog)
            pend_off = pwq_list_offset(prog, "pending_node")
            for i, nna in enumerate(words(prog, address + nna_off, nodes + 1)):
                if not nna:
                    continue
                n = nrec.read(nna)
                waiting = _list(r, what, nna + nrec.offset("pending_pwqs"), n["pending_pwqs"],
                                n["pending_pwqs_prev"], pend_off)
                pending.update(waiting)
                out.node_nr_active.append(NodeNrActive(i, i if i < nodes else None, n["nr"], n["max"], waiting))
    cpu_map: dict[int, list[int]] = {}
    slots: dict[int, int] = {}
    with r.guard(f"{what} per-cpu pwqs"):
        for p in _pwq_slots(r, address, wq, tbl_off, cpu_map, percpu_words or {}):
            slots[p] = slots.get(p, 0) + 1
    works: list[Work] = []
    prec = pwq_record(prog)
    for p, fields in _pwqs(r, what, address + rec.offset("pwqs"), wq["pwqs"], wq["pwqs_prev"], prec):
        try:  # as r.guard(), without a context manager per pwq
            pwq, inactive = read_pwq(r, p, out, cpu_map, maydays, pending, prec, fields)
        except READ_ERRORS as e:
            r.warn(f"pwq {p:#x} of {what}", fault_text(e))
            continue
        pwq.slots = slots.get(pwq.address, 0)
        out.pwqs.append(pwq)
        works += inactive
    if not out.pwqs and not any(w.object.startswith(f"{what} pwqs") for w in r.warnings):
        r.warn(f"{what} pwqs", "the workqueue has no pwq: its pwqs list head is damaged")
    return out, works


def _pwq_slots(r: Reader, address: int, wq: dict, tbl_off: int | None, cpu_map: dict[int, list[int]],
               read: dict[int, int]) -> list[int]:
    """Fill ``cpu_map`` (pwq -> CPUs whose slot points to it) and return the pwq of each slot the workqueue
    holds a reference through: every possible CPU's ``cpu_pwq``, or before v6.6 the per-cpu pwqs or the
    ``numa_pwq_tbl`` node slots; then ``dfl_pwq``."""
    prog, lay, c = r.prog, r.lay, r.cpus
    percpu = wq["cpu_pwq"]
    out = []
    if lay.wq_cpu_pwq == "cpu_pwq":
        for cpu in c.possible:
            slot = c.per_cpu_ptr(percpu, cpu)
            p = read[slot] if slot in read else prog.read_word(slot)
            cpu_map.setdefault(p, []).append(cpu)
            out.append(p)
    elif percpu:
        # Before v6.6 per-cpu workqueues embed their pwqs in per-cpu memory ...
        for cpu in c.possible:
            p = c.per_cpu_ptr(percpu, cpu)
            cpu_map.setdefault(p, []).append(cpu)
            out.append(p)
    else:
        # ... and unbound ones pick a pwq by the CPU's NUMA node.
        tbl = words(prog, address + tbl_off, c.nr_node_ids) if tbl_off is not None else []
        for cpu in c.possible:
            node = cpu_to_node(prog, cpu)
            p = tbl[node] if 0 <= node < len(tbl) else wq["dfl_pwq"]
            cpu_map.setdefault(p, []).append(cpu)
        out += tbl
    if wq["dfl_pwq"]:
        out.append(wq["dfl_pwq"])
    return [p for p in out if p]


def pool_id_of_pwq(r: Reader, pwq: int) -> int:
    pool = r.prog.read_word(pwq + member_offset(r.prog, "struct pool_workqueue", "pool"))
    return pool_id(r, pool)


def pool_id(r: Reader, pool: int) -> int:
    if pool in r.pool_ids:
        return r.pool_ids[pool]
    return pool_record(r.prog).read(pool)["id"]


def read_pwq(r: Reader, address: int, wq: Workqueue, cpu_map, maydays, pending,
             rec=None, p: dict | None = None) -> tuple[Pwq, list[Work]]:
    """The pwq at ``address`` (``p``: its record, if read already) and its inactive items."""
    prog, lay = r.prog, r.lay
    rec = rec or pwq_record(prog)
    p = p or rec.read(address)
    r.pwq_owner[address] = wq
    pool = p["pool"]
    pid = pool_id(r, pool)
    # Most pwqs of a large state hold nothing: their (zero) counters are one list and one dict.
    shared = r.shared
    in_flight = p["nr_in_flight"]
    key = tuple(in_flight)
    in_flight = shared.get(key) or shared.setdefault(key, in_flight)
    stats = None
    if lay.pwq_stats:
        key = ("stats", *p["stats"])
        stats = shared.get(key) or shared.setdefault(key, dict(zip(lay.pwq_stats, p["stats"])))
    # Positional, in Pwq's field order: address, pool_id, pool, work_color, flush_color, refcnt, nr_in_flight,
    # nr_active, max_active, plugged, nr_inactive, on_mayday, pending, cpus, is_default, slots, stats.
    pwq = Pwq(address, pid, pool, p["work_color"], p["flush_color"], p["refcnt"], in_flight, p["nr_active"],
              None if lay.wq_max_active else p["max_active"], bool(p["plugged"]) if lay.pwq_plugged else None,
              0, address in maydays, address in pending, cpu_map.get(address, []), address == wq.dfl_pwq, 0, stats)
    head = address + rec.offsets["inactive_works"]
    if p["inactive_works"] == head and p["inactive_works_prev"] == head:
        return pwq, []  # empty, and head->prev agrees (most pwqs: no work_items() call, no message made)
    works = r.work_items(f"pwq {address:#x} inactive_works", head, p["inactive_works"], p["inactive_works_prev"],
                         Where.INACTIVE, pid)
    for w in works:
        if w.pwq != address:
            # The list an item sits on says which pwq holds it; a data word that disagrees is damaged.
            r.warn(f"work {w.address:#x} on pwq {address:#x} inactive_works",
                   f"its data word {w.data:#x} names pwq {w.pwq or 0:#x}: counted on the list's pwq")
            w.pwq = address
    pwq.nr_inactive = len(works)
    return pwq, works


def read_flusher(r: Reader, address: int, where: FlusherWhere) -> Flusher:
    prog = r.prog
    f = flusher_record(prog).read(address)
    done = address + member_offset(prog, "struct wq_flusher", "done")
    waiters = [t for t in (r.task(t) for t in r.collect("flusher", completion_waiters(prog, done))) if t]
    return Flusher(address, f["flush_color"], where, waiters)
