# SPDX-License-Identifier: LGPL-2.1-or-later
"""Invariants of the workqueue algorithm, evaluated on a snapshot.

Each check states a fact the kernel's code keeps true whenever the locks
that protect it are free (kernel/workqueue.c; the model in
:mod:`wqinspect.model.machine` keeps the same facts, and its own states are
checked with the same code by the property tests).  A check yields one
:class:`Result` per object it looks at; the ``expected`` and ``found`` fields
say what was wrong.

``read.complete`` makes the checks honest about their input: an object that
could not be read (a read warning of the snapshot) or holds implausible values
(:mod:`wqinspect.model.plausible`) is a violation, unless no check covers it
(see :data:`UNCOVERED`), so that ``check`` is never "ok" over what it could not see.
"""

from collections import Counter
from functools import partial
from itertools import count, filterfalse
from operator import attrgetter, itemgetter
from typing import Callable, Iterator

from ..snapshot import Pwq, Snapshot, Verdict, Where, Workqueue
from .plausible import damage

DEFAULT_NOT_RUNNING = frozenset({"WORKER_PREP", "WORKER_CPU_INTENSIVE", "WORKER_UNBOUND", "WORKER_REBOUND"})


def _text(slot: str):
    """A text field of a Result: given as a str, or as a function that makes it when it is first read (a
    check of 100,000 items words only what is shown)."""
    def get(self) -> str:
        v = getattr(self, slot)
        if callable(v):
            v = str(v())
            setattr(self, slot, v)
        return v

    def put(self, value) -> None:
        setattr(self, slot, value)

    return property(get, put)


class Result:
    """One check of one object: ``object``, ``expected`` and ``found`` are text (see :func:`_text`)."""

    __slots__ = ("check", "_object", "_expected", "_found", "ok", "verdict")

    object = _text("_object")
    expected = _text("_expected")
    found = _text("_found")

    def __init__(self, check: str, object, expected, found, ok: bool, verdict: Verdict | str = ""):
        self.check = check
        self._object, self._expected, self._found = object, expected, found
        self.ok = ok
        #: ok, violated, or transient (violated once, gone when re-read).
        self.verdict = verdict or (Verdict.OK if ok else Verdict.VIOLATED)

    def _fields(self) -> tuple:
        return self.check, self.object, self.expected, self.found, self.ok, self.verdict

    def __eq__(self, other):
        return self._fields() == other._fields() if isinstance(other, Result) else NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        names = ("check", "object", "expected", "found", "ok", "verdict")
        return f"Result({', '.join(f'{n}={v!r}' for n, v in zip(names, self._fields()))})"

    @property
    def key(self) -> tuple[str, str]:
        return self.check, self.object


class _Held:
    """What a check yields for an object that holds when only failing results are kept (_Index.keep_ok):
    counted with the results, never kept, and cheaper to make than a Result."""

    __slots__ = ()
    ok = True


HELD = _Held()


def _r(check, obj, expected, found) -> Result:
    return Result(check, obj, str(expected), str(found), expected == found)


class _Index:
    """Lookups shared by the checks (the snapshot's index, and the layout's facts)."""

    def __init__(self, snap: Snapshot, keep_ok: bool = True):
        self.snap = snap
        self.pools = snap.ix.pools
        self.workers = snap.ix.workers
        self.pwq_items = snap.ix.works_by_pwq
        self.nr_colors = snap.kernel.features.nr_colors
        #: Before v5.15: the color of uncolored barriers, and no color recorded for running items.
        self.no_color = snap.kernel.features.work_no_color
        self.running_color = snap.kernel.features.worker_current_color
        self.not_running = snap.kernel.features.not_running_flag_names() or DEFAULT_NOT_RUNNING
        self._labels: dict[tuple[int, int], str] = {}
        self._objects: dict[int, partial] = {}
        #: Whether the results that hold are wanted.  When not, a check over thousands of objects may
        #: yield HELD for an object that holds instead of making its Result.
        self.keep_ok = keep_ok

    def pwq_label(self, wq: Workqueue, p: Pwq) -> str:
        key = (id(wq), id(p))
        label = self._labels.get(key)
        if label is None:
            where = f"cpu {','.join(map(str, p.cpus))}" if p.cpus else "default"
            label = self._labels[key] = f"pwq {p.address:#x} of {wq.label} ({where})"
        return label

    def pwq_object(self, wq: Workqueue, p: Pwq):
        """The pwq's label, made when it is read (one maker per pwq, shared by the checks)."""
        key = id(p)
        made = self._objects.get(key)
        if made is None or made.args[0] is not wq:
            made = self._objects[key] = partial(self.pwq_label, wq, p)
        return made

    def colors_valid(self, wq: Workqueue) -> bool:
        """Color checks other than colors.range only make sense on valid colors."""
        return all(0 <= c < self.nr_colors for c in (wq.work_color, wq.flush_color))

    def window(self, wq: Workqueue) -> set[int]:
        """Colors from flush_color to work_color, cyclically (just work_color when idle)."""
        c, out = wq.flush_color, set()
        for _ in range(self.nr_colors):
            out.add(c)
            if c == wq.work_color:
                break
            c = (c + 1) % self.nr_colors
        return out


Check = Callable[[_Index], Iterator[Result]]
CHECKS: dict[str, tuple[str, Check]] = {}


def check(name: str, description: str):
    def deco(fn):
        CHECKS[name] = (description, fn)
        return fn
    return deco


# ---- colors and flushing (§10.1)

@check("colors.range", "work and flush colors are valid color numbers")
def _colors_range(ix):
    for wq in ix.snap.workqueues:
        ok = all(0 <= c < ix.nr_colors for c in (wq.work_color, wq.flush_color))
        yield Result("colors.range", f"workqueue {wq.label}", f"colors in 0..{ix.nr_colors - 1}",
                     f"work {wq.work_color} flush {wq.flush_color}", ok)


@check("colors.pwq_work_color", "every pwq has the workqueue's work color")
def _pwq_work_color(ix):
    for wq in ix.snap.workqueues:
        if not ix.colors_valid(wq):
            continue
        for p in wq.pwqs:
            if p.work_color == wq.work_color and not ix.keep_ok:
                yield HELD
                continue
            yield _r("colors.pwq_work_color", ix.pwq_object(wq, p), wq.work_color, p.work_color)


@check("colors.pwq_flush_color", "a pwq's flush color is -1 or the workqueue's flush color")
def _pwq_flush_color(ix):
    for wq in ix.snap.workqueues:
        if not ix.colors_valid(wq):
            continue
        for p in wq.pwqs:
            ok = p.flush_color in (-1, wq.flush_color)
            if ok and not ix.keep_ok:
                yield HELD
                continue
            yield Result("colors.pwq_flush_color", ix.pwq_object(wq, p), f"-1 or {wq.flush_color}",
                         str(p.flush_color), ok)


@check("colors.window", "items are in flight only with colors from flush_color to work_color")
def _color_window(ix):
    for wq in ix.snap.workqueues:
        if not ix.colors_valid(wq):
            continue
        window = ix.window(wq)
        expected = f"nr_in_flight only in colors {sorted(window)}"
        for p in wq.pwqs:
            outside = {c: n for c, n in enumerate(p.nr_in_flight) if n and c not in window} if any(
                p.nr_in_flight) else None
            if not outside and not ix.keep_ok:
                yield HELD
                continue
            yield Result("colors.window", ix.pwq_object(wq, p), expected,
                         f"outside: {outside}" if outside else "none outside", not outside)


@check("flush.idle", "without a flush in progress colors agree, no pwq flushes and nothing is counted")
def _flush_idle(ix):
    for wq in ix.snap.workqueues:
        if not ix.colors_valid(wq):
            continue
        if wq.flushing:
            continue
        found = (f"flush {wq.flush_color} work {wq.work_color}, nr_pwqs_to_flush {wq.nr_pwqs_to_flush}, "
                 f"pwq flush colors {sorted({p.flush_color for p in wq.pwqs})}")
        ok = (wq.flush_color == wq.work_color and wq.nr_pwqs_to_flush == 0
              and all(p.flush_color == -1 for p in wq.pwqs))
        yield Result("flush.idle", f"workqueue {wq.label}",
                     "flush color = work color, nr_pwqs_to_flush 0, pwq flush colors -1", found, ok)


@check("flush.nr_pwqs_to_flush", "during a flush, nr_pwqs_to_flush counts the pwqs still flushing")
def _nr_pwqs_to_flush(ix):
    for wq in ix.snap.workqueues:
        if wq.first_flusher is None:
            continue
        yield _r("flush.nr_pwqs_to_flush", f"workqueue {wq.label}",
                 sum(1 for p in wq.pwqs if p.flush_color != -1), wq.nr_pwqs_to_flush)


@check("flush.flusher_colors", "the first flusher waits for flush_color, queued ones for later colors in order "
       "(overflow flushers, moved to the queue together, share one)")
def _flusher_colors(ix):
    for wq in ix.snap.workqueues:
        if not ix.colors_valid(wq):
            continue
        if not wq.flushing:
            continue
        expected, found, ok = [], [], True
        if wq.first_flusher is not None:
            expected.append(f"first {wq.flush_color}")
            found.append(f"first {wq.first_flusher.flush_color}")
            ok &= wq.first_flusher.flush_color == wq.flush_color
        window = ix.window(wq) - {wq.work_color}

        def pos(color, base=wq.flush_color):  # place in the window, from flush_color
            return (color - base) % ix.nr_colors

        prev = None
        for f in wq.flusher_queue:
            found.append(f"queued {f.flush_color}")
            if prev is None:  # after the first flusher's color (equal only while no first flusher)
                ok &= pos(f.flush_color) > 0 or wq.first_flusher is None
            else:  # flush_workqueue() gives every overflow flusher the same color
                ok &= pos(f.flush_color) >= pos(prev)
            ok &= f.flush_color in window
            prev = f.flush_color
        expected.append(f"queued in {sorted(window - {wq.flush_color})}, in order")
        yield Result("flush.flusher_colors", f"workqueue {wq.label}", "; ".join(expected), "; ".join(found), ok)


@check("flush.overflow", "flushers overflow only when every color is in use")
def _overflow(ix):
    for wq in ix.snap.workqueues:
        if not ix.colors_valid(wq):
            continue
        if not wq.flusher_overflow:
            continue
        yield _r("flush.overflow", f"workqueue {wq.label}", f"flush_color {(wq.work_color + 1) % ix.nr_colors}",
                 f"flush_color {wq.flush_color}")


# ---- counts against the lists (§10.2, §10.3)

#: Where.in_pool, as a set: looked up for every item.
_IN_POOL = frozenset(w for w in Where if w.in_pool)


def _items_of(ix, p: Pwq):
    return ix.pwq_items.get(p.address, [])


@check("in_flight.count", "nr_in_flight[color] counts the pwq's queued, inactive, scheduled and running items")
def _in_flight(ix):
    for wq in ix.snap.workqueues:
        if not ix.colors_valid(wq):
            continue
        window = sorted(ix.window(wq))
        nothing = "items by color none"
        for p in wq.pwqs:
            if not _items_of(ix, p):  # (most pwqs: nothing counted, nothing may be in flight)
                if not ix.keep_ok and not any(p.nr_in_flight) and window[-1] < len(p.nr_in_flight):
                    yield HELD  # (the Result below would hold)
                    continue
                found = {c: p.nr_in_flight[c] for c in window if c < len(p.nr_in_flight)}
                yield Result("in_flight.count", ix.pwq_object(wq, p), nothing, partial(_in_flight_found, found),
                             len(found) == len(window) and not any(found.values()))
                continue
            counted = dict.fromkeys(window, 0)
            # Before v5.15 a running item's color is not recorded (Layout.worker_current_color):
            # such items may make up any color's difference, and must make up all of it.
            unknown = 0
            for w in _items_of(ix, p):
                if w.where not in _IN_POOL or (ix.no_color is not None and w.color == ix.no_color):
                    continue  # before v5.15, barriers are uncolored and not counted
                if w.color is not None:
                    counted[w.color] = counted.get(w.color, 0) + 1
                elif w.where == Where.RUNNING and not ix.running_color:
                    unknown += 1
            # Colors outside the window are colors.window's business.
            found = {c: p.nr_in_flight[c] for c in window if c < len(p.nr_in_flight)}
            want = {c: counted[c] for c in window}
            missing = {c: found.get(c, 0) - n for c, n in want.items()}
            ok = want == found or (unknown > 0 and all(d >= 0 for d in missing.values())
                                   and sum(missing.values()) == unknown)
            yield Result("in_flight.count", ix.pwq_object(wq, p), partial(_in_flight_expected, want, unknown),
                         partial(_in_flight_found, found), ok)


def _in_flight_expected(want: dict, unknown: int) -> str:
    return ("items by color " + (", ".join(f"c{c}:{n}" for c, n in want.items() if n) or "none")
            + (f" and {unknown} running of unknown color" if unknown else ""))


def _in_flight_found(found: dict) -> str:
    return "nr_in_flight " + (", ".join(f"c{c}:{n}" for c, n in found.items() if n) or "none")


@check("nr_active.count", "nr_active counts the pwq's active items (barriers and inactive ones excluded)")
def _nr_active(ix):
    for wq in ix.snap.workqueues:
        for p in wq.pwqs:
            # A running item counts from its start (pwq_dec_nr_in_flight() uses the data word saved
            # then), whatever its word says now: it may have requeued itself as inactive.
            active = sum(1 for w in _items_of(ix, p) if not w.is_barrier and (
                w.where == "running" or (w.where in ("worklist", "scheduled") and "INACTIVE" not in w.flag_names)))
            if active == p.nr_active and not ix.keep_ok:
                yield HELD
                continue
            yield _r("nr_active.count", ix.pwq_object(wq, p), f"nr_active {active}", f"nr_active {p.nr_active}")


def _work_object(w) -> str:
    return f"{w.where} {w.func} {w.address:#x} ({w.wq_name})"


@check("inactive.flag", "items on inactive lists, and barriers, carry WORK_STRUCT_INACTIVE (v5.15+)")
def _inactive_flag(ix):
    for w in ix.snap.works:
        if ix.no_color is not None and w.is_barrier:
            continue  # before v5.15 a barrier is uncolored instead (WORK_NO_COLOR), on any list
        if w.where == "inactive" or (w.is_barrier and w.where != "running"):
            ok = "INACTIVE" in w.flag_names
            if ok and not ix.keep_ok:
                yield HELD
                continue
            yield Result("inactive.flag", partial(_work_object, w), "INACTIVE set",
                         ",".join(w.flag_names) or "no flags", ok)


def _node_index(ix, wq: Workqueue, p: Pwq) -> int | None:
    pool = ix.pools.get(p.pool_id)
    if pool is None:
        return None
    return ix.snap.kernel.nr_node_ids if pool.node < 0 else pool.node


@check("inactive.activation", "a pwq holds items inactive only while it has no active slot to give them "
       "(v6.9+ unbound: while it waits on its node's pending_pwqs)")
def _activation(ix):
    for wq in ix.snap.workqueues:
        nna = {n.index: n for n in wq.node_nr_active}
        for p in wq.pwqs:
            waiting = [w for w in _items_of(ix, p) if w.where == "inactive" and not w.is_barrier]
            if not waiting:
                continue
            if p.max_active is not None:
                limit, blocked = f"nr_active {p.nr_active} >= max_active {p.max_active}", p.nr_active >= p.max_active
            elif nna:
                # v6.9+ unbound: a pwq whose tryinc fails joins its node's pending_pwqs and stays
                # there while it has inactive items.  nr may stay below max meanwhile (a raised
                # max, on CPU hotplug, is filled one completion at a time), so only the queue is
                # an invariant.
                n = nna.get(_node_index(ix, wq, p))
                if p.plugged:
                    limit, blocked = "plugged", True
                elif n is None:
                    limit, blocked = "a node counter", False
                else:
                    limit, blocked = f"waiting on node {n.index}'s pending_pwqs", p.address in n.pending_pwqs
            else:
                limit, blocked = f"nr_active {p.nr_active} >= max_active {wq.max_active}", p.nr_active >= wq.max_active
            yield Result("inactive.activation", ix.pwq_object(wq, p), f"{len(waiting)} inactive only if {limit}",
                         "at its limit" if blocked else "a slot is free", blocked)


@check("node.nr_sum", "a node's nr counts the active items of the pwqs whose pool is on that node (v6.9+)")
def _node_sum(ix):
    for wq in ix.snap.workqueues:
        if not wq.node_nr_active:
            continue
        sums: dict[int, int] = {}
        for p in wq.pwqs:
            idx = _node_index(ix, wq, p)
            sums[idx] = sums.get(idx, 0) + p.nr_active
        for n in wq.node_nr_active:
            yield _r("node.nr_sum", f"workqueue {wq.label} node {'-' if n.node is None else n.node}",
                     f"nr {sums.get(n.index, 0)}", f"nr {n.nr}")


@check("pwq.refcnt", "a pwq's refcount covers its slots, the items in flight on it and a pending mayday")
def _refcnt(ix):
    for wq in ix.snap.workqueues:
        for p in wq.pwqs:
            # Every queued, scheduled or running item holds a reference (insert_work() takes it).
            items = sum(1 for w in _items_of(ix, p) if w.where in _IN_POOL)
            need = p.slots + items + (1 if p.on_mayday else 0)
            if p.refcnt >= need and not ix.keep_ok:
                yield HELD
                continue
            yield Result("pwq.refcnt", ix.pwq_object(wq, p), f">= {need} ({p.slots} slots, {items} items"
                         f"{', mayday' if p.on_mayday else ''})", str(p.refcnt), p.refcnt >= need)


#: Where an item's pwq comes from its data word or its worker's current_pwq (an inactive item is on its
#: pwq's own list: the reader counts it there).
_NAMES_ITS_PWQ = frozenset((Where.WORKLIST, Where.SCHEDULED, Where.RUNNING))


@check("works.pwq", "every queued, scheduled or running item names a pwq of a workqueue (the pwq it holds a "
       "reference on)")
def _work_pwq(ix):
    pwqs = ix.snap.ix.pwqs
    # Where a workqueue or a pwq could not be read, an unknown pwq may be one of those: read.complete
    # fails on the warning, and the items are not judged one by one.
    unread = any(w.object.startswith(("workqueue", "pwq")) for w in ix.snap.warnings)
    for w in ix.snap.works:
        if w.where in _NAMES_ITS_PWQ and not (unread and w.pwq not in pwqs):
            yield Result("works.pwq", partial(_work_object, w), "a pwq on a workqueue's pwqs list",
                         "no pwq" if w.pwq is None else f"pwq {w.pwq:#x}", w.pwq in pwqs)


# ---- pools and workers (§10.4)

@check("pool.nr_idle", "nr_idle is the length of the idle list")
def _nr_idle(ix):
    for pool in ix.snap.pools:
        yield _r("pool.nr_idle", f"pool {pool.id}", f"nr_idle {len(pool.idle)}", f"nr_idle {pool.nr_idle}")


@check("pool.idle_flags", "workers on the idle list, and only they, have WORKER_IDLE")
def _idle_flags(ix):
    for pool in ix.snap.pools:
        idle = set(pool.idle)
        flagged = {a for a in pool.workers if "WORKER_IDLE" in ix.workers[a].flag_names} if all(
            a in ix.workers for a in pool.workers) else set()
        bad = sorted(idle ^ flagged)
        yield Result("pool.idle_flags", f"pool {pool.id}", "idle list = workers with WORKER_IDLE",
                     "mismatch: " + ", ".join(ix.workers[a].name or hex(a) if a in ix.workers else hex(a)
                                              for a in bad) if bad else "same", not bad)


@check("pool.nr_workers", "nr_workers counts the attached workers that are neither rescuers nor dying")
def _nr_workers(ix):
    for pool in ix.snap.pools:
        live = [a for a in pool.workers if a in ix.workers and ix.workers[a].rescuer_of is None
                and "WORKER_DIE" not in ix.workers[a].flag_names]
        yield _r("pool.nr_workers", f"pool {pool.id}", f"nr_workers {len(live)}", f"nr_workers {pool.nr_workers}")


@check("pool.nr_running", "nr_running counts a bound per-cpu pool's workers that are running (0 elsewhere)")
def _nr_running(ix):
    for pool in ix.snap.pools:
        managed = pool.kind in ("cpu", "cpu-highpri") and "POOL_DISASSOCIATED" not in pool.flag_names
        if managed:
            running = sum(1 for a in pool.workers if a in ix.workers
                          and not ix.not_running & set(ix.workers[a].flag_names) and not ix.workers[a].sleeping)
        else:
            running = 0
        yield _r("pool.nr_running", f"pool {pool.id}", f"nr_running {running}", f"nr_running {pool.nr_running}")


@check("worker.busy", "busy_hash holds exactly the workers with a current work item, in their own pool")
def _busy(ix):
    for pool in ix.snap.pools:
        busy = set(pool.busy)
        current = {a for a in pool.workers if a in ix.workers and ix.workers[a].current_work is not None}
        bad = sorted(busy ^ current)
        wrong_pool = [a for a in busy if a in ix.workers and ix.workers[a].current_pwq is not None
                      and ix.snap.pwq(ix.workers[a].current_pwq)[1] is not None
                      and ix.snap.pwq(ix.workers[a].current_pwq)[1].pool_id != pool.id]
        yield Result("worker.busy", f"pool {pool.id}", "busy_hash = workers running an item of this pool",
                     ("differ: " + ", ".join(hex(a) for a in bad) if bad else "") +
                     (f" items of another pool: {', '.join(hex(a) for a in wrong_pool)}" if wrong_pool else "")
                     or "same", not bad and not wrong_pool)


# ---- rescuers and barriers (§10.7)

@check("mayday.rescuer", "only WQ_MEM_RECLAIM workqueues with a rescuer have pwqs asking for help")
def _mayday(ix):
    for wq in ix.snap.workqueues:
        if not wq.maydays:
            continue
        ok = "WQ_MEM_RECLAIM" in wq.flag_names and wq.rescuer is not None
        yield Result("mayday.rescuer", f"workqueue {wq.label}", "WQ_MEM_RECLAIM and a rescuer",
                     f"{len(wq.maydays)} pwq(s) on maydays, flags {','.join(wq.flag_names) or '-'}, "
                     f"rescuer {'yes' if wq.rescuer else 'none'}", ok)


@check("barrier.waiter", "every barrier item has the task that waits in flush_work()")
def _barrier(ix):
    for w in ix.snap.works:
        if w.is_barrier:
            waiter = w.barrier.waiter
            yield Result("barrier.waiter", f"barrier {w.address:#x} ({w.wq_name})", "a waiting task",
                         f"{waiter.pid} {waiter.comm}" if waiter else "none", waiter is not None)


# ---- the input itself

#: Objects of read warnings that no check covers (what deep captures read for diagnose): a
#: warning about any other object makes ``read.complete`` fail.  Matched as lowercase prefixes.
UNCOVERED = ("modules", "module", "last_unloaded_module", "uptime", "kernel", "topology", "workqueue watchdog",
             "cpu intensive", "hog table", "tasks", "task ", "cpu ", "timer wheel", "delayed work timer", "rcu",
             "sysfs", "stack")


def covered(obj: str) -> bool:
    """Whether a read warning about ``obj`` concerns an object the checks look at."""
    return not obj.lower().startswith(UNCOVERED)


@check("read.complete", "every object the checks cover was read, and read plausibly (no read warning, no "
       "implausible value)")
def _read_complete(ix):
    bad = [w for w in [*ix.snap.warnings, *damage(ix.snap).warnings] if covered(w.object)]
    for w in bad:
        yield Result("read.complete", w.object, "read without warnings", w.message, False)
    if not bad:
        yield Result("read.complete", "the snapshot", "read without warnings",
                     f"{len(ix.snap.warnings)} warning(s), none about a checked object", True)


def evaluate(snap: Snapshot, only: set[str] | None = None, counts: Counter | None = None) -> list[Result]:
    """The results of the checks (``only``: of these).  Given ``counts``, only the results that do not
    hold are kept and ``counts`` counts all of them by check: a check of 100,000 items holds 300,000
    results, which only ``check --all`` shows (the checks of thousands of objects then yield HELD for
    an object that holds instead of making its Result)."""
    ix = _Index(snap, keep_ok=counts is None)
    out: list[Result] = []
    for name, (_, fn) in CHECKS.items():
        if only is not None and name not in only:
            continue
        if counts is None:
            out.extend(fn(ix))
            continue
        # Streamed in C: each result is counted (zip with a counter, which zip reads only after a result)
        # and dropped unless it does not hold.
        seen = count()
        out.extend(filterfalse(attrgetter("ok"), map(itemgetter(0), zip(fn(ix), seen))))
        counts[name] += next(seen)
    return out
