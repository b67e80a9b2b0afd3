# SPDX-License-Identifier: LGPL-2.1-or-later
"""Rich tables and trees for people (the same values as :mod:`wqinspect.views.data`)."""

from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..snapshot import Snapshot, Work, Workqueue
from . import common
from .common import cpulist, seconds, short_flags


def header(snap: Snapshot) -> Text:
    k, t = snap.kernel, snap.target
    live = "live" if t.live else "post-mortem"
    if snap.loaded_from:
        what = f"snapshot {snap.loaded_from} ({t.mode}, {live}, captured {t.captured_at or '?'})"
    else:
        what = f"{t.mode} {t.source} ({live})"
    return Text.assemble((f"{k.release}", "bold"), f"  {what}  ",
                         (f"jiffies {k.jiffies}  HZ {k.hz or '?'}  cpus {cpulist(k.online_cpus)}", "dim"))


def warnings(snap: Snapshot) -> list:
    return [Text(f"warning: {w.object}: {w.message}", style="yellow") for w in snap.warnings]


class _Table(Table):
    """A table whose cells are plain text: kernel names like "[wqi]" are not rich markup."""

    def add_row(self, *cells, **kw):
        super().add_row(*(Text(c) if isinstance(c, str) else c for c in cells), **kw)


def _table(title: str, *columns: str, right: tuple[str, ...] = ()) -> Table:
    t = _Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    for c in columns:
        t.add_column(c, justify="right" if c in right else "left", overflow="fold")
    return t


def _n(v) -> str:
    return "-" if v is None else str(v)


def workqueues(snap: Snapshot, pattern: str | None = None) -> Group:
    t = _table("workqueues", "WORKQUEUE", "KIND", "FLAGS", "MAX", "NODES nr/max", "ACTIVE", "INACTIVE",
               "IN-FLIGHT", "RESCUER", "SYSFS", "STATE",
               right=("MAX", "ACTIVE", "INACTIVE", "IN-FLIGHT", "RESCUER"))
    for wq in sorted(snap.workqueues, key=lambda w: (w.name, w.system_var or "")):
        if not common.match_workqueue(wq, pattern):
            continue
        tot = common.wq_totals(wq)
        flags = [f for f in wq.flag_names if f not in ("WQ_UNBOUND", "WQ_BH", "__WQ_ORDERED", "WQ_SYSFS")]
        limit = str(wq.max_active) if wq.min_active is None else f"{wq.max_active} (min {wq.min_active})"
        nodes = " ".join(f"{'-' if n.node is None else n.node}:{n.nr}/{n.max}" for n in wq.node_nr_active)
        t.add_row(wq.label, wq.kind, short_flags(flags, "WQ_"), limit, nodes or "-", str(tot["active"]),
                  str(tot["inactive"]), str(tot["in_flight"]), _n(wq.rescuer_pid),
                  "yes" if "WQ_SYSFS" in wq.flag_names else "", common.wq_flush_state(wq))
    return Group(header(snap), t, *warnings(snap))


def pools(snap: Snapshot) -> Group:
    t = _table("worker pools", "ID", "KIND", "CPUS", "NODE", "NICE", "FLAGS", "WORKERS", "IDLE", "RUNNING",
               "WORKLIST", "PROGRESS", "MANAGER",
               right=("ID", "NODE", "NICE", "WORKERS", "IDLE", "RUNNING", "WORKLIST", "PROGRESS"))
    for p in sorted(snap.pools, key=lambda p: p.id):
        ago = common.jiffies_ago(snap, p.progress_ts)
        progress = f"{seconds(ago)} ago" if ago is not None else "-"
        if p.cpu_stall:
            progress += " STALL"
        manager = snap.worker(p.manager)
        t.add_row(str(p.id), p.kind, cpulist(p.cpus), str(p.node), str(p.nice), short_flags(p.flag_names, "POOL_"),
                  str(p.nr_workers), str(p.nr_idle), str(p.nr_running), str(p.worklist_len), progress,
                  manager.name if manager else "")
    return Group(header(snap), t, *warnings(snap))


def workers(snap: Snapshot) -> Group:
    t = _table("workers", "WORKER", "PID", "POOL", "FLAGS", "STATE", "CURRENT", "RUNNING FOR", "LAST",
               right=("PID", "POOL", "RUNNING FOR"))
    for w in sorted(snap.workers, key=lambda w: (w.pool_id if w.pool_id is not None else 1 << 30, w.id)):
        if w.task is None:
            name, pid = Text("(BH pseudo-worker, no task)", style="dim"), "-"
        else:
            name, pid = w.name or w.task.comm, str(w.task.pid)
        ran = []
        if w.current_start is not None:
            ran.append(seconds(common.jiffies_ago(snap, w.current_start)))
        if w.current_cpu_ns is not None:
            ran.append(f"cpu {w.current_cpu_ns / 1e6:.0f}ms")
        t.add_row(name, pid, _n(w.pool_id), short_flags(w.flag_names, "WORKER_"), w.state,
                  str(w.current_func) if w.current_func else "", " ".join(ran), str(w.last_func or ""))
    return Group(header(snap), t, *warnings(snap))


def select_works(snap: Snapshot, wq_name: str | None = None, pool_id: int | None = None) -> list[Work]:
    out = []
    for w in snap.works:
        if wq_name is not None:
            wq = snap.workqueue(w.wq)
            if wq is None or not common.named(wq, wq_name):
                continue
        if pool_id is not None and w.in_pool != pool_id:
            continue
        out.append(w)
    return sorted(out, key=lambda w: (common.WHERE_ORDER.get(w.where, 9), w.in_pool if w.in_pool is not None else -1,
                                      w.wq_name or "", w.position))


def works(snap: Snapshot, selected: list[Work]) -> Group:
    t = _table("work items", "WHERE", "FUNCTION", "WORKQUEUE", "POOL", "COLOR", "FLAGS", "DETAIL",
               right=("POOL", "COLOR"))
    for w in selected:
        wq = snap.workqueue(w.wq)
        t.add_row(w.where, str(w.func), wq.label if wq else (w.wq_name or "-"), _n(w.in_pool), _n(w.color),
                  ",".join(w.flag_names) or "-", common.work_detail(snap, w))
    parts = [header(snap), t]
    if snap.broken_timers:
        parts.append(Text(f"{len(snap.broken_timers)} timer wheel link(s) point to unreadable memory "
                          "(see 'wqinspect diagnose')", style="yellow"))
    return Group(*parts, *warnings(snap))


def _work_line(snap: Snapshot, w: Work) -> Text:
    detail = common.work_detail(snap, w)
    flags = ",".join(f for f in w.flag_names if f not in ("PENDING", "PWQ"))
    return Text.assemble((f"{w.where} ", "cyan"), str(w.func),
                         (f"  color {w.color}" if w.color is not None else "", "dim"),
                         (f"  {flags}" if flags else "", "dim"), (f"  {detail}" if detail else "", "italic"))


def show(snap: Snapshot, wqs: list[Workqueue]) -> Group:
    trees = []
    for wq in wqs:
        tot = common.wq_totals(wq)
        state = common.wq_flush_state(wq)
        root = Tree(Text.assemble((wq.label, "bold"), f"  {wq.kind}  max_active {wq.max_active}",
                                  f"  active {tot['active']} inactive {tot['inactive']} in-flight {tot['in_flight']}",
                                  (f"  colors work {wq.work_color} flush {wq.flush_color}", "dim"),
                                  (f"  {state}" if state else "", "magenta")))
        for f in ([wq.first_flusher] if wq.first_flusher else []) + wq.flusher_queue + wq.flusher_overflow:
            who = ", ".join(f"{t.pid} {t.comm}" for t in f.waiters) or "?"
            root.add(Text(f"flusher ({f.where}) color {f.flush_color}: {who}", style="magenta"))
        for n in wq.node_nr_active:
            root.add(Text(f"node {'-' if n.node is None else n.node}: nr_active {n.nr}/{n.max}"
                          f"{f', {len(n.pending_pwqs)} pwq(s) waiting' if n.pending_pwqs else ''}", style="dim"))
        works = snap.works_of(wq)
        for p in wq.pwqs:
            pool = snap.pool(p.pool_id)
            inflight = " ".join(f"c{c}:{n}" for c, n in enumerate(p.nr_in_flight) if n)
            extra = [f"cpus {cpulist(p.cpus)}" if p.cpus else "", "default" if p.is_default else "",
                     "plugged" if p.plugged else "", "MAYDAY" if p.on_mayday else "",
                     "pending" if p.pending else "", f"flush color {p.flush_color}" if p.flush_color >= 0 else ""]
            limit = f"/{p.max_active}" if p.max_active is not None else ""
            pnode = root.add(Text.assemble(f"pwq {p.address:#x} → pool {common.pool_label(pool)}  ",
                                           f"active {p.nr_active}{limit} inactive {p.nr_inactive} "
                                           f"in-flight {inflight or 0} refcnt {p.refcnt}  ",
                                           (" ".join(e for e in extra if e), "dim")))
            mine = [w for w in works if w.pwq == p.address]
            holders = []
            for w in sorted(mine, key=lambda w: (common.WHERE_ORDER[w.where], w.position)):
                if w.where in ("running", "scheduled") and w.worker not in holders:
                    holders.append(w.worker)
            for addr in holders:
                worker = snap.worker(addr)
                wnode = pnode.add(Text.assemble(("worker ", "dim"), common.worker_label(worker),
                                                f"  {worker.state if worker else ''}"))
                for w in sorted([w for w in snap.works if w.worker == addr], key=lambda w: (w.where != "running",
                                                                                              w.position)):
                    wnode.add(_work_line(snap, w))
            for w in sorted(mine, key=lambda w: (common.WHERE_ORDER[w.where], w.position)):
                if w.where not in ("running", "scheduled"):
                    pnode.add(_work_line(snap, w))
        for w in works:
            if w.where in ("delayed", "rcu"):
                root.add(_work_line(snap, w))
        trees.append(root)
    return Group(header(snap), *trees, *warnings(snap))


def check_report(report, show_all: bool = False) -> Group:
    snap = report.snapshot
    summary = _table("checks", "CHECK", "OBJECTS", "VIOLATED", "TRANSIENT", "WHAT IT CHECKS",
                     right=("OBJECTS", "VIOLATED", "TRANSIENT"))
    for row in report.summary():
        summary.add_row(row["check"], str(row["checked"]),
                        Text(str(row["violated"]), style="bold red" if row["violated"] else ""),
                        str(row["transient"]), row["description"])
    rows = report.results if show_all else [r for r in report.results if r.verdict != "ok"]
    detail = _table("results" if show_all else "violations", "CHECK", "OBJECT", "EXPECTED", "FOUND", "VERDICT")
    for r in rows:
        style = {"violated": "bold red", "transient": "yellow"}.get(r.verdict, "green")
        detail.add_row(r.check, r.object, r.expected, r.found, Text(r.verdict, style=style))
    n_v, n_t = len(report.violated), len(report.transient)
    verdict = Text(f"{len(report.results)} results: " + (
        f"{n_v} violated" if n_v else "every invariant holds") + (
        f", {n_t} transient (gone when re-read; {report.reads} reads)" if n_t else ""),
        style="bold red" if n_v else "bold green")
    parts = [header(snap), summary]
    if rows:
        parts.append(detail)
    return Group(*parts, verdict, *warnings(snap))


def findings(snap: Snapshot, found: list) -> Group:
    """Ranked findings: severity and what on one line, where, the evidence, then the suggestion."""
    style = {"critical": "bold red", "warning": "bold yellow", "info": "bold cyan"}
    parts = [header(snap)]
    for i, f in enumerate(found, 1):
        parts.append(Text.assemble(f"\n{i:>2}. ", (f"{f.severity.upper():8}", style[f.severity]), " ",
                                   (f.what, "bold"), (f"   [{f.where}]", "dim")))
        for e in f.evidence:
            parts.append(Text(f"      • {e}"))
        if f.suggestion:
            parts.append(Text(f"      → {f.suggestion}", style="italic"))
    n_crit = sum(1 for f in found if f.severity == "critical")
    parts.append(Text(f"\n{len(found)} finding(s)" + (f", {n_crit} critical" if n_crit else "")
                      if found else "nothing found", style="bold red" if n_crit else "bold"))
    if not snap.log and not snap.stacks and snap.target.mode != "model":
        parts.append(Text("note: this snapshot has no log or stacks (not a deep capture)", style="dim"))
    return Group(*parts, *warnings(snap))


def monitor(sample, rows, interval: float | None) -> Group:
    from datetime import datetime

    def n(v, fmt="{}"):
        return "-" if v is None else fmt.format(v)

    when = datetime.fromtimestamp(sample.time).strftime("%H:%M:%S")
    title = f"workqueues  {sample.kernel}  {when}" + (f"  every {interval:g}s" if interval else "")
    if sample.has_stats:
        t = _table(title, "WORKQUEUE", "total", "infl", "CPUtime", "CPUitsv", "CMW/RPR", "mayday", "rescued",
                   "total/s", "CPU%", "active",
                   right=("total", "infl", "CPUtime", "CPUitsv", "CMW/RPR", "mayday", "rescued", "total/s", "CPU%",
                          "active"))
        for r in rows:
            t.add_row(r.wq.label, n(r.total), n(r.infl), n(r.cpu_time, "{:.1f}"), n(r.cpu_intensive),
                      n(r.cmw_rpr), n(r.mayday), n(r.rescued), n(r.rates.get("total"), "{:.1f}"),
                      n(r.rates.get("cpu%"), "{:.1f}"), str(r.wq.nr_active))
        return Group(t, *warnings(sample))
    t = _table(title, "WORKQUEUE", "active", "inactive", "in flight", right=("active", "inactive", "in flight"))
    for r in rows:
        t.add_row(r.wq.label, str(r.wq.nr_active), n(r.wq.inactive), str(r.wq.in_flight))
    note = Text("this kernel has no workqueue statistics (pwq->stats[] came in v6.5): "
                "showing the active, inactive and in-flight items", style="yellow")
    return Group(note, t, *warnings(sample))


def topology(snap: Snapshot, diffs: list) -> Group:
    from .common import cpu_pools, dfl_pool, wq_type

    parts = [header(snap)]
    topo = snap.topology
    if topo is not None and topo.scopes:
        t = _table(f"affinity scopes  (wq_unbound_cpumask {cpulist(topo.unbound_cpus)})", "SCOPE", "PODS",
                   "POD CPUS", "POD NODES", "CPU → POD", right=("PODS",))
        for s in topo.scopes:
            t.add_row(s.name + (" (default)" if s.default else ""), str(s.nr_pods),
                      " ".join(f"[{i}]={cpulist(c)}" for i, c in enumerate(s.pod_cpus)),
                      " ".join(f"[{i}]={n}" for i, n in enumerate(s.pod_node)),
                      " ".join(f"[{c}]={p}" for c, p in enumerate(s.cpu_pod) if c in snap.kernel.possible_cpus))
        parts.append(t)
    elif topo is not None:
        parts.append(Text(f"no affinity scopes on this kernel (they came in v6.6); wq_unbound_cpumask "
                          f"{cpulist(topo.unbound_cpus)}", style="dim"))
    t = _table("worker pools", "POOL", "FLAGS", "REF", "NICE", "IDLE/WORKERS", "CPU / CPUS", "POD CPUS", "",
               right=("POOL", "REF", "NICE"))
    for p in sorted(snap.pools, key=lambda p: p.id):
        t.add_row(str(p.id), f"{p.flags:#04x}", str(p.refcnt), str(p.nice), f"{p.nr_idle}/{p.nr_workers}",
                  f"cpu {p.cpu}" if p.cpu >= 0 else f"cpus {cpulist(p.cpus)}",
                  cpulist(p.pod_cpus) if p.cpu < 0 and p.pod_cpus is not None else "",
                  " ".join(x for x in ("bh" if "POOL_BH" in p.flag_names else "",
                                       "strict" if p.cpu < 0 and p.strict else "") if x))
    parts.append(t)
    cpus = snap.kernel.possible_cpus
    t = _table("workqueue CPU → pool", "WORKQUEUE", "TYPE", *[f"CPU{c}" for c in cpus], "DFL",
               right=tuple(f"CPU{c}" for c in cpus) + ("DFL",))
    for wq in snap.workqueues:
        pools = cpu_pools(wq)
        dfl = dfl_pool(wq)
        t.add_row(wq.label, wq_type(wq), *[str(pools.get(c, "-")) for c in cpus], "-" if dfl is None else str(dfl))
    parts.append(t)
    rescuers = [wq for wq in snap.workqueues if wq.rescuer_pid is not None]
    if rescuers:
        t = _table("rescuers", "WORKQUEUE", "UNBOUND CPUS", "PID", "RESCUER CPUS", right=("PID",))
        for wq in rescuers:
            t.add_row(wq.label, cpulist(wq.cpus) if wq.cpus else "", str(wq.rescuer_pid), cpulist(wq.rescuer_cpus))
        parts.append(t)
    unbound = [wq for wq in snap.workqueues if wq.node_nr_active]
    if unbound:
        nodes = sorted({n.index for wq in unbound for n in wq.node_nr_active})
        names = {i: ("dfl" if i >= snap.kernel.nr_node_ids else f"NODE {i}") for i in nodes}
        node_cpus = topo.node_cpus if topo else []
        title = (f"unbound workqueue → node nr/max_active  (online cpus {cpulist(snap.kernel.online_cpus)}; "
                 + " ".join(f"NODE[{i}]={cpulist(c)}" for i, c in enumerate(node_cpus)) + ")")
        t = _table(title, "WORKQUEUE", "MIN", "MAX", *names.values(), right=("MIN", "MAX", *names.values()))
        for wq in unbound:
            by = {n.index: f"{n.nr}/{n.max}" for n in wq.node_nr_active}
            t.add_row(wq.label, str(wq.min_active), str(wq.max_active), *[by.get(i, "-") for i in nodes])
        parts.append(t)
    old = [wq for wq in snap.workqueues if wq.node_pools]
    if old:
        nodes = sorted({n for wq in old for n, _ in wq.node_pools})
        t = _table("unbound workqueue → per-node pool (numa_pwq_tbl, before v6.6)", "WORKQUEUE",
                   *[f"NODE {n}" for n in nodes], "DFL")
        for wq in old:
            by = dict(map(tuple, wq.node_pools))
            t.add_row(wq.label, *[str(by.get(n, "-")) for n in nodes], str(dfl_pool(wq)))
        parts.append(t)
    if snap.sysfs is not None:
        if diffs:
            t = _table(f"{snap.sysfs.root} against memory", "WORKQUEUE", "ATTRIBUTE", "SYSFS", "MEMORY")
            for d in diffs:
                t.add_row(d.object, d.attribute, d.sysfs, d.memory)
            parts.append(t)
        else:
            parts.append(Text(f"{snap.sysfs.root}: the {len(snap.sysfs.workqueues)} WQ_SYSFS workqueues and the "
                              "global cpumask agree with memory", style="green"))
    return Group(*parts, *warnings(snap))
