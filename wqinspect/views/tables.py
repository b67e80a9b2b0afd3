# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tables and trees for people, from the view models (:mod:`wqinspect.views.models`).

Each function turns a view model into blocks (:class:`~wqinspect.views.render.Table`,
:class:`~wqinspect.views.render.Node`, notes) that :class:`~wqinspect.views.render.Writer`
lays out, escapes and writes; rows are generated as they are written.
"""

from collections.abc import Iterator

from ..snapshot import Snapshot, Work, cpulist
from . import models as m
from .models import seconds
from .render import Column, Node, Note, Styled, Table

#: Flags the KIND column already says.
_KIND_FLAGS = ("WQ_UNBOUND", "WQ_BH", "__WQ_ORDERED", "WQ_SYSFS")


def header(snap: Snapshot) -> Note:
    k, t = snap.kernel, snap.target
    live = "live" if t.live else "post-mortem"
    if snap.loaded_from:
        what = f"snapshot {snap.loaded_from} ({t.mode}, {live}, captured {t.captured_at or '?'})"
    else:
        what = f"{t.mode} {t.source} ({live})"
    return Note(f"{k.release}  {what}  jiffies {k.jiffies}  HZ {k.hz or '?'}  cpus {cpulist(k.online_cpus)}", "bold")


def warnings(items) -> list[Note]:
    return [Note(f"warning: {w.object}: {w.message}", "yellow") for w in items]


def short_flags(names, prefix: str) -> str:
    out = []
    for n in names:
        s = n.lstrip("_")
        out.append(s[len(prefix):] if s.startswith(prefix) else s)
    return ",".join(out) or "-"


def _n(v) -> str:
    return "-" if v is None else str(v)


def _addr(kind: str, a) -> str:
    return "-" if a is None else f"(struct {kind} *){a:#x}"


def flush_state(wq) -> str:
    parts = []
    if wq.flushing:
        parts.append(f"flushing {wq.flush_color}→{wq.work_color}")
    if wq.nr_drainers:
        parts.append("draining")
    return ", ".join(parts)


def kind(wq) -> str:
    """The kind, with wq_dump.py's strict marker (``unbound,S``)."""
    return f"{wq.kind},S" if m.strict(wq) else str(wq.kind)


def pool_label(pool) -> str:
    if pool is None:
        return "-"
    if pool.cpu >= 0:
        return f"{pool.id} (cpu {pool.cpu}{' BH' if pool.kind.startswith('bh') else ''}" \
               f"{' hi' if pool.kind.endswith('highpri') else ''})"
    return f"{pool.id} (cpus {cpulist(pool.cpus)})"


def _verbose(view, cols: list[Column]) -> list[Column]:
    return cols[:1] + [Column("ADDRESS")] + cols[1:] if view.opts.verbose else cols


def _with_addr(view, row: tuple, kind: str, address) -> tuple:
    return row[:1] + (_addr(kind, address),) + row[1:] if view.opts.verbose else row


# -- views ------------------------------------------------------------------------------------------------------------


def workqueues(v: m.WorkqueuesView) -> Iterator:
    cols = [Column("WORKQUEUE", fit="name"), Column("KIND"), Column("FLAGS", fit="wrap"), Column("MAX", fit="wrap"),
            Column("NODES nr/max", fit="wrap"), Column("ACTIVE", True), Column("INACTIVE", True),
            Column("IN-FLIGHT", True), Column("RESCUER", True), Column("SYSFS"), Column("STATE", fit="wrap")]

    def rows():
        for wq in v.rows:
            tot = v.totals[id(wq)]
            flags = [f for f in wq.flag_names if f not in _KIND_FLAGS]
            limit = str(wq.max_active) if wq.min_active is None else f"{wq.max_active} (min {wq.min_active})"
            nodes = " ".join(f"{'-' if n.node is None else n.node}:{n.nr}/{n.max}" for n in wq.node_nr_active)
            yield _with_addr(v, (wq.label, kind(wq), short_flags(flags, "WQ_"), limit, nodes or "-",
                                 str(tot["active"]), str(tot["inactive"]), str(tot["in_flight"]),
                                 _n(wq.rescuer_pid), "yes" if "WQ_SYSFS" in wq.flag_names else "", flush_state(wq)),
                             "workqueue_struct", wq.address)

    yield header(v.snap)
    yield Table("workqueues", _verbose(v, cols), rows())
    yield from warnings(v.snap.warnings)


def pools(v: m.PoolsView) -> Iterator:
    cols = [Column("ID", True), Column("KIND"), Column("CPUS", fit="wrap"), Column("NODE", True),
            Column("NICE", True), Column("FLAGS", fit="wrap"), Column("WORKERS", True), Column("IDLE", True),
            Column("RUNNING", True), Column("WORKLIST", True), Column("PROGRESS", True),
            Column("MANAGER", fit="name")]

    def rows():
        for p in v.rows:
            ago = v.progress_ago(p)
            progress = f"{seconds(ago)} ago" if ago is not None else "-"
            if p.cpu_stall:
                progress += " STALL"
            manager = v.snap.worker(p.manager)
            yield _with_addr(v, (str(p.id), str(p.kind), cpulist(p.cpus), str(p.node), str(p.nice),
                                 short_flags(p.flag_names, "POOL_"), str(p.nr_workers), str(p.nr_idle),
                                 str(p.nr_running), str(p.worklist_len), progress,
                                 (manager.name or "") if manager else ""), "worker_pool", p.address)

    yield header(v.snap)
    yield Table("worker pools", _verbose(v, cols), rows())
    yield from warnings(v.snap.warnings)


def workers(v: m.WorkersView) -> Iterator:
    cols = [Column("WORKER", fit="name"), Column("PID", True), Column("POOL", True), Column("FLAGS", fit="wrap"),
            Column("STATE", fit="wrap"), Column("CURRENT", fit="name"), Column("RUNNING FOR", True, fit="wrap"),
            Column("LAST", fit="name")]

    def rows():
        for w in v.rows:
            if w.task is None:
                name, pid = Styled("(BH pseudo-worker, no task)", "dim"), "-"
            else:
                name, pid = w.name or w.task.comm, str(w.task.pid)
            ran = []
            if w.current_start is not None:
                ran.append(seconds(v.running_for(w)))
            if w.current_cpu_ns is not None:
                ran.append(f"cpu {w.current_cpu_ns / 1e6:.0f}ms")
            yield _with_addr(v, (name, pid, _n(w.pool_id), short_flags(w.flag_names, "WORKER_"), w.state,
                                 str(w.current_func) if w.current_func else "", " ".join(ran),
                                 str(w.last_func or "")), "worker", w.address)

    yield header(v.snap)
    yield Table("workers", _verbose(v, cols), rows())
    yield from warnings(v.snap.warnings)


def works(v: m.WorksView) -> Iterator:
    snap = v.snap
    cols = [Column("WHERE"), Column("FUNCTION", fit="name"), Column("WORKQUEUE", fit="name"), Column("POOL", True),
            Column("COLOR", True), Column("FLAGS", fit="wrap"), Column("DETAIL", fit="wrap")]
    if v.opts.verbose:
        cols.insert(2, Column("ADDRESS"))
    wqs = snap.ix.workqueues
    labels: dict = {}
    funcs: dict = {}

    def rows():
        # 100,000 rows: the text of what items share (a workqueue, a function, a place, a number) is made once.
        where_text, num = {}, {None: "-"}
        for n, w in v.groups():
            label = labels.get(w.wq)
            if label is None:
                wq = wqs.get(w.wq)
                label = labels[w.wq] = wq.label if wq else (w.wq_name or "-")
            f = w.func
            key = (f.address, f.name, f.module)
            func = funcs.get(key)
            if func is None:
                func = funcs[key] = str(f)
            if n > 1:
                func = f"{n}*{func}"
            where = w.where
            wtext = where_text.get(where)
            if wtext is None:
                wtext = where_text[where] = str(where)
            pool = "-" if where in m.OFF_POOL else num.get(w.pool_id) or num.setdefault(w.pool_id, str(w.pool_id))
            color = num.get(w.color) or num.setdefault(w.color, str(w.color))
            quiet = n > 1 or (where in m.QUEUED and w.barrier is None and w.delayed is None)
            row = (wtext, func, label, pool, color, ",".join(w.flag_names) or "-", "" if quiet else v.detail(w))
            if v.opts.verbose:
                row = row[:2] + (_addr("work_struct", w.address) if n == 1 else "",) + row[2:]
            yield row

    footer = []
    if len(v.rows) < v.selected:
        footer.append(f"first {len(v.rows)} of {v.selected} work items (--limit)")
    if v.fold:
        footer.append("runs of alike items folded as N*function, as the kernel's dump does (--all lists each)")
    yield header(snap)
    yield Table("work items", cols, rows(), footer)
    if snap.broken_timers:
        yield Note(f"{len(snap.broken_timers)} timer wheel link(s) point to unreadable memory "
                   "(see 'wqinspect diagnose')", "yellow")
    yield from warnings(snap.warnings)


def _work_line(v, w: Work, n: int = 1) -> str:
    detail = v.detail(w) if n == 1 else ""
    flags = ",".join(f for f in w.flag_names if f not in ("PENDING", "PWQ"))
    func = str(w.func) if n == 1 else f"{n}*{w.func}"
    addr = f"  {_addr('work_struct', w.address)}" if v.opts.verbose and n == 1 else ""
    return (f"{w.where} {func}{addr}" + (f"  color {w.color}" if w.color is not None else "")
            + (f"  {flags}" if flags else "") + (f"  {detail}" if detail else ""))


def show(v: m.ShowView) -> Iterator:
    snap = v.snap
    fold = v.opts.terminal and not v.opts.all
    yield header(snap)
    for part in v.parts:
        wq, tot = part.wq, part.totals
        state = flush_state(wq)
        root = Node(f"{wq.label}  {wq.kind}  max_active {wq.max_active}  active {tot['active']} inactive "
                    f"{tot['inactive']} in-flight {tot['in_flight']}  colors work {wq.work_color} flush "
                    f"{wq.flush_color}" + (f"  {state}" if state else "")
                    + (f"  {_addr('workqueue_struct', wq.address)}" if v.opts.verbose else ""), "bold")
        for f in wq.flushers:
            who = ", ".join(f"{t.pid} {t.comm}" for t in f.waiters) or "?"
            root.add(f"flusher ({f.where}) color {f.flush_color}: {who}", "magenta")
        for n in wq.node_nr_active:
            root.add(f"node {'-' if n.node is None else n.node}: nr_active {n.nr}/{n.max}"
                     f"{f', {len(n.pending_pwqs)} pwq(s) waiting' if n.pending_pwqs else ''}", "dim")
        for pp in part.pwqs:
            p = pp.pwq
            inflight = " ".join(f"c{c}:{n}" for c, n in enumerate(p.nr_in_flight) if n)
            extra = [f"cpus {cpulist(p.cpus)}" if p.cpus else "", "default" if p.is_default else "",
                     "plugged" if p.plugged else "", "MAYDAY" if p.on_mayday else "",
                     "pending" if p.pending else "", f"flush color {p.flush_color}" if p.flush_color >= 0 else ""]
            limit = f"/{p.max_active}" if p.max_active is not None else ""
            pnode = root.add(f"pwq {p.address:#x} → pool {pool_label(pp.pool)}  active {p.nr_active}{limit} "
                             f"inactive {p.nr_inactive} in-flight {inflight or 0} refcnt {p.refcnt}  "
                             + " ".join(e for e in extra if e))
            for _, worker, held in pp.holders:
                wnode = pnode.add(f"worker {m.worker_label(worker)}  {worker.state if worker else ''}")
                for n, w in m.groups(held, fold):
                    wnode.add(_work_line(v, w, n))
            for n, w in m.groups(pp.queued, fold):
                pnode.add(_work_line(v, w, n))
        for n, w in m.groups(part.pending, fold):
            root.add(_work_line(v, w, n))
        yield root
    yield from warnings(snap.warnings)


def check(v: m.CheckView) -> Iterator:
    report = v.report
    yield header(v.snap)
    yield Table("checks", [Column("CHECK", fit="name"), Column("OBJECTS", True), Column("VIOLATED", True, keep=True),
                           Column("TRANSIENT", True, keep=True), Column("WHAT IT CHECKS", fit="wrap")],
                [(row["check"], str(row["checked"]),
                  Styled(str(row["violated"]), "bold red" if row["violated"] else ""), str(row["transient"]),
                  row["description"]) for row in v.summary])
    if v.rows:
        style = {"violated": "bold red", "transient": "yellow"}
        yield Table("results" if v.show_all else "violations",
                    [Column("CHECK", fit="name"), Column("OBJECT", fit="wrap"), Column("EXPECTED", fit="wrap"),
                     Column("FOUND", fit="wrap"), Column("VERDICT")],
                    ((r.check, r.object, r.expected, r.found, Styled(str(r.verdict), style.get(r.verdict, "green")))
                     for r in v.rows))
    n_v, n_t = len(report.violated), len(report.transient)
    yield Note(f"{report.checked} results: " + (f"{n_v} violated" if n_v else "every invariant holds")
               + (f", {n_t} transient (gone when re-read; {report.reads} reads)" if n_t else ""),
               "bold red" if n_v else "bold green")
    yield from warnings(v.snap.warnings)


def findings(v: m.FindingsView) -> Iterator:
    """Ranked findings: severity and what on one line, where, the evidence, then the suggestion."""
    style = {"critical": "bold red", "warning": "bold yellow", "info": "bold cyan"}
    snap = v.snap
    yield header(snap)
    for i, f in enumerate(v.rows, 1):
        yield Note("")
        yield Note(f"{i:>2}. {str(f.severity).upper():8} {f.what}   [{f.where}]", style.get(f.severity, "bold"))
        for e in f.evidence:
            yield Note(f"      • {e}")
        if f.suggestion:
            yield Note(f"      → {f.suggestion}", "italic")
    yield Note("")
    yield Note(f"{len(v.rows)} finding(s)" + (f", {v.critical} critical" if v.critical else "")
               if v.rows else "nothing found", "bold red" if v.critical else "bold")
    if not snap.log and not snap.stacks and snap.target.mode != "model":
        yield Note("note: this snapshot has no log or stacks (not a deep capture)", "dim")
    yield from warnings(snap.warnings)


def monitor(v: m.MonitorView) -> Iterator:
    from datetime import datetime

    sample, rows, interval = v.sample, v.rows, v.interval

    def n(x, fmt="{}"):
        return "-" if x is None else fmt.format(x)

    when = datetime.fromtimestamp(sample.time).strftime("%H:%M:%S") if 0 < sample.time < 1e11 else "?"
    title = f"workqueues  {sample.kernel}  {when}" + (f"  every {interval:g}s" if interval else "")
    if sample.has_stats:
        names = ("total", "infl", "CPUtime", "CPUitsv", "CMW/RPR", "mayday", "rescued", "total/s", "CPU%", "active")
        cols = [Column("WORKQUEUE", fit="name")] + [Column(c, True) for c in names]
        yield Table(title, _verbose(v, cols), (_with_addr(v, (
            r.wq.label, n(r.total), n(r.infl), n(r.cpu_time, "{:.1f}"), n(r.cpu_intensive), n(r.cmw_rpr),
            n(r.mayday), n(r.rescued), n(r.rates.get("total"), "{:.1f}"), n(r.rates.get("cpu%"), "{:.1f}"),
            str(r.wq.nr_active)), "workqueue_struct", r.wq.address) for r in rows))
    else:
        yield Note("this kernel has no workqueue statistics (pwq->stats[] came in v6.5): "
                   "showing the active, inactive and in-flight items", "yellow")
        cols = [Column("WORKQUEUE", fit="name"), Column("active", True), Column("inactive", True),
                Column("in flight", True)]
        yield Table(title, _verbose(v, cols), (_with_addr(v, (r.wq.label, str(r.wq.nr_active), n(r.wq.inactive),
                                                              str(r.wq.in_flight)), "workqueue_struct", r.wq.address)
                                               for r in rows))
    yield from warnings(sample.warnings)


def topology(v: m.TopologyView) -> Iterator:
    snap = v.snap
    yield header(snap)
    topo = snap.topology
    if topo is not None and topo.scopes:
        yield Table(f"affinity scopes  (wq_unbound_cpumask {cpulist(topo.unbound_cpus)})",
                    [Column("SCOPE", fit="name"), Column("PODS", True), Column("POD CPUS", fit="wrap"),
                     Column("POD NODES", fit="wrap"), Column("CPU → POD", fit="wrap")],
                    [(s.name + (" (default)" if s.default else ""), str(s.nr_pods),
                      " ".join(f"[{i}]={cpulist(c)}" for i, c in enumerate(s.pod_cpus)),
                      " ".join(f"[{i}]={n}" for i, n in enumerate(s.pod_node)),
                      " ".join(f"[{c}]={p}" for c, p in enumerate(s.cpu_pod) if c in snap.kernel.possible_cpus))
                     for s in topo.scopes])
    elif topo is not None:
        yield Note(f"no affinity scopes on this kernel (they came in v6.6); wq_unbound_cpumask "
                   f"{cpulist(topo.unbound_cpus)}", "dim")
    yield Table("worker pools", _verbose(v, [Column("POOL", True), Column("FLAGS"), Column("REF", True),
                                             Column("NICE", True), Column("IDLE/WORKERS"),
                                             Column("CPU / CPUS", fit="wrap"), Column("POD CPUS", fit="wrap"),
                                             Column("")]),
                [_with_addr(v, (str(p.id), f"{p.flags:#04x}", str(p.refcnt), str(p.nice), f"{p.nr_idle}/{p.nr_workers}",
                                f"cpu {p.cpu}" if p.cpu >= 0 else f"cpus {cpulist(p.cpus)}",
                                cpulist(p.pod_cpus) if p.cpu < 0 and p.pod_cpus is not None else "",
                                " ".join(x for x in ("bh" if "POOL_BH" in p.flag_names else "",
                                                     "strict" if p.cpu < 0 and p.strict else "") if x)),
                            "worker_pool", p.address)
                 for p in v.pools])
    cpus = snap.kernel.possible_cpus
    rows = []
    for wq in snap.workqueues:
        pools_, dfl = v.cpu_pools[id(wq)], v.dfl_pools[id(wq)]
        rows.append(_with_addr(v, (wq.label, kind(wq), *[str(pools_.get(c, "-")) for c in cpus], _n(dfl)),
                               "workqueue_struct", wq.address))
    yield Table("workqueue CPU → pool", _verbose(v, [Column("WORKQUEUE", fit="name"), Column("KIND")]
                + [Column(f"CPU{c}", True, keep=True) for c in cpus] + [Column("DFL", True)]), rows)
    if v.rescuers:
        yield Table("rescuers", [Column("WORKQUEUE", fit="name"), Column("UNBOUND CPUS", fit="wrap"),
                                 Column("PID", True), Column("RESCUER CPUS", fit="wrap")],
                    [(wq.label, cpulist(wq.cpus) if wq.cpus else "", str(wq.rescuer_pid), cpulist(wq.rescuer_cpus))
                     for wq in v.rescuers])
    if v.node_active:
        names = {i: ("dfl" if i >= snap.kernel.nr_node_ids else f"NODE {i}") for i in v.node_slots}
        node_cpus = topo.node_cpus if topo else []
        title = (f"unbound workqueue → node nr/max_active  (online cpus {cpulist(snap.kernel.online_cpus)}; "
                 + " ".join(f"NODE[{i}]={cpulist(c)}" for i, c in enumerate(node_cpus)) + ")")
        rows = []
        for wq in v.node_active:
            by = {n.index: f"{n.nr}/{n.max}" for n in wq.node_nr_active}
            rows.append((wq.label, str(wq.min_active), str(wq.max_active), *[by.get(i, "-") for i in v.node_slots]))
        yield Table(title, [Column("WORKQUEUE", fit="name"), Column("MIN", True), Column("MAX", True)]
                    + [Column(x, True) for x in names.values()], rows)
    if v.node_pools:
        rows = []
        for wq in v.node_pools:
            by = dict(map(tuple, wq.node_pools))
            rows.append((wq.label, *[str(by.get(n, "-")) for n in v.pool_nodes], _n(v.dfl_pools[id(wq)])))
        yield Table("unbound workqueue → per-node pool (numa_pwq_tbl, before v6.6)",
                    [Column("WORKQUEUE", fit="name")] + [Column(f"NODE {n}", True) for n in v.pool_nodes]
                    + [Column("DFL", True)], rows)
    if snap.sysfs is not None:
        if v.diffs:
            yield Table(f"{snap.sysfs.root} against memory",
                        [Column("WORKQUEUE", fit="name"), Column("ATTRIBUTE"), Column("SYSFS", fit="wrap"),
                         Column("MEMORY", fit="wrap")],
                        [(d.object, d.attribute, d.sysfs, d.memory) for d in v.diffs])
        else:
            yield Note(f"{snap.sysfs.root}: the {len(snap.sysfs.workqueues)} WQ_SYSFS workqueues and the "
                       "global cpumask agree with memory", "green")
    yield from warnings(snap.warnings)


def dump(v: m.DumpView) -> Iterator:
    """The kernel's own format, line by line (no header: it diffs against a dmesg excerpt)."""
    for line in v.lines:
        yield Note(line)
    yield from (Note(f"wqinspect: warning: {w.object}: {w.message}") for w in v.snap.warnings)


def blocks(view) -> Iterator:
    """The blocks of any view model."""
    return {"dump": dump,
        "workqueues": workqueues, "pools": pools, "workers": workers, "works": works, "show": show,
        "check": check, "findings": findings, "monitor": monitor, "topology": topology,
    }[view.name](view)

