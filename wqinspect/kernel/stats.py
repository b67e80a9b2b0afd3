# SPDX-License-Identifier: LGPL-2.1-or-later
"""Per-workqueue counters for the live monitor, read cheaply enough to refresh every second.

Everything is read with raw memory reads at offsets found in the debug info:
one read for each workqueue's name and flags, one for each pwq's counters.
The ``pwq->stats[]`` indices come from the ``PWQ_STAT_*`` enumerators by name
(commit 725e8ec59c56, "workqueue: Add pwq->stats[] and a monitoring script",
in v6.5); kernels before that have no statistics, and the monitor shows the
counts that exist there.
"""

import struct
from dataclasses import dataclass

from drgn import Program, offsetof, sizeof

from .layout import layout
from .structs import byte_order, reader
from .walk import linked_records, list_node_addresses


@dataclass
class WqCounters:
    address: int
    name: str
    flags: int
    #: Summed over the pwqs, by PWQ_STAT_ name ("started", "completed", ...); None before v6.5.
    stats: dict[str, int] | None
    nr_active: int
    in_flight: int
    #: Items on inactive lists (counted only when asked: it walks the lists).
    inactive: int | None = None


class _Offsets:
    def __init__(self, prog: Program):
        wq = prog.type("struct workqueue_struct")
        pwq = prog.type("struct pool_workqueue")
        self.wq_list = offsetof(wq, "list")
        self.wq_pwqs = offsetof(wq, "pwqs")
        self.wq_name = offsetof(wq, "name")
        self.wq_name_len = sizeof(wq.member("name").type)
        self.wq_flags = offsetof(wq, "flags")
        self.pwq_node = offsetof(pwq, "pwqs_node")
        self.nr_active = offsetof(pwq, "nr_active")
        self.in_flight = offsetof(pwq, "nr_in_flight")
        self.nr_colors = pwq.member("nr_in_flight").type.length
        lay = layout(prog)
        self.inactive = offsetof(pwq, lay.pwq_inactive_list)
        self.stat_names = lay.pwq_stats
        self.stats = offsetof(pwq, "stats") if lay.pwq_stats else None
        # nr_in_flight[], nr_active, stats[] and the next pwq's link of a pwq with one read and one unpack.
        fields = [(self.in_flight, f"{self.nr_colors}i", 4 * self.nr_colors), (self.nr_active, "i", 4),
                  (self.pwq_node, "Q", 8)]
        if self.stats is not None:
            fields.append((self.stats, f"{len(self.stat_names)}Q", 8 * len(self.stat_names)))
        fields.sort()
        self.lo = pos = fields[0][0]
        fmt = byte_order(prog)
        for off, code, size in fields:
            fmt += (f"{off - pos}x" if off > pos else "") + code
            pos = off + size
        self.span = pos - self.lo
        self.unpack = struct.Struct(fmt).unpack_from
        # Where each member's values are among the unpacked ones.
        at, i = {}, 0
        for off, code, size in fields:
            at[off] = i
            i += size // (8 if code.endswith("Q") else 4)
        self.at_in_flight, self.at_active = at[self.in_flight], at[self.nr_active]
        self.at_stats = at.get(self.stats)
        self.at_next = at[self.pwq_node]
        self.nvalues = i
        # The workqueue's name, flags and pwqs list head.
        self.wq_lo = min(self.wq_pwqs, self.wq_name, self.wq_flags)
        self.wq_span = max(self.wq_pwqs + 16, self.wq_name + self.wq_name_len, self.wq_flags + 4) - self.wq_lo
        self.u32 = struct.Struct(fmt[0] + "I")
        self.two_words = struct.Struct(fmt[0] + "QQ")


def _offsets(prog: Program) -> _Offsets:
    try:
        return prog.cache["wqinspect_stats_offsets"]
    except KeyError:
        o = prog.cache["wqinspect_stats_offsets"] = _Offsets(prog)
        return o


def has_stats(prog: Program) -> bool:
    return bool(layout(prog).pwq_stats)


def workqueue_counters(prog: Program, wq: int, count_inactive: bool = False) -> WqCounters:
    """Counters of the ``struct workqueue_struct`` at ``wq``, summed over its pwqs."""
    o = _offsets(prog)
    nstats = len(o.stat_names)
    # The name, the flags and the pwqs list head with one read.
    read = reader(prog)
    raw = read(wq + o.wq_lo, o.wq_span)
    name = raw[o.wq_name - o.wq_lo:][:o.wq_name_len].split(b"\0", 1)[0].decode(errors="replace")
    flags, = o.u32.unpack_from(raw, o.wq_flags - o.wq_lo)
    head = wq + o.wq_pwqs
    pnode, last = o.two_words.unpack_from(raw, o.wq_pwqs - o.wq_lo)
    # Each pwq's counters and its next link with one read (this runs for every pwq of every workqueue);
    # the sums are taken in C at the end.
    if pnode == head:
        list(list_node_addresses(prog, head, first=head, last=last))  # empty, or WalkError for a damaged head
    pwqs, rows = [], []
    for pwq, values in linked_records(prog, head, pnode, o.pwq_node, o.lo, o.span, o.unpack, o.at_next):
        pwqs.append(pwq)
        rows.append(values)
    sums = list(map(sum, zip(*rows))) if rows else [0] * o.nvalues
    active = sums[o.at_active]
    in_flight = sum(sums[o.at_in_flight:o.at_in_flight + o.nr_colors])
    totals = sums[o.at_stats:o.at_stats + nstats] if nstats else []
    inactive = 0
    if count_inactive:
        for pwq in pwqs:
            inactive += sum(1 for _ in list_node_addresses(prog, pwq + o.inactive))
    return WqCounters(wq, name, flags, dict(zip(o.stat_names, totals)) if nstats else None, active,
                      in_flight, inactive if count_inactive else None)
