# SPDX-License-Identifier: LGPL-2.1-or-later
"""The ``wqinspect`` command line.

Exit codes (the same for every command):

- 0: done (``check``: every invariant holds; ``diagnose``: nothing found);
- 1: ``check`` found a violation, ``diagnose`` a finding;
- 2: bad usage, or the kernel or snapshot could not be read (one line says why);
- 3: an internal error in wqinspect (set WQI_DEBUG=1 for the traceback).
"""

import contextlib
import functools
import json
import os
import re
import shutil
import sys

import click
from rich.console import Console

from . import __version__
from .check import ScenarioError
from .snapshot import Snapshot, SnapshotError
from .views.jsonout import jsonable
from .target import TargetError, open_target
from .monitor import SORT_KEYS as SORT_KEYS_CHOICES
from .views import data, tables

EXIT_OK, EXIT_FOUND, EXIT_UNREADABLE, EXIT_INTERNAL = 0, 1, 2, 3


def console() -> Console:
    if sys.stdout.isatty():
        return Console()
    # Not a terminal: do not wrap tables at 80 columns.
    return Console(width=max(shutil.get_terminal_size((200, 24)).columns, 200), soft_wrap=True)


def fail(message: str, code: int = EXIT_UNREADABLE) -> None:
    click.echo(f"wqinspect: {message}", err=True)
    sys.exit(code)


class OutputError(Exception):
    """A file the user asked for cannot be written."""


def write_atomically(path: str, text: str) -> None:
    """Write ``path`` through a temporary file, so that a reader never sees half of it."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"cannot write {path}: {e.strerror}") from None


def guarded(fn):
    """Turn expected failures into one line and an exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (TargetError, SnapshotError, ScenarioError, OutputError) as e:
            fail(str(e))
        except KeyboardInterrupt:
            sys.exit(130)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_OK)
        except (SystemExit, click.ClickException, click.exceptions.Exit):
            raise
        except Exception as e:  # noqa: BLE001
            if os.environ.get("WQI_DEBUG"):
                raise
            fail(f"internal error: {type(e).__name__}: {e} (set WQI_DEBUG=1 for a traceback; please report it)",
                 EXIT_INTERNAL)

    return wrapper


def _regex(ctx, param, value):
    """Refuse a PATTERN that is not a regular expression before anything is read."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as e:
            raise click.BadParameter(f"not a regular expression: {e}") from None
    return value


def named_workqueues(snap: Snapshot, name: str) -> list:
    """The workqueues called ``name`` (or whose system_*wq variable it is); one line and exit 2 if none."""
    from .views.common import named

    found = [w for w in snap.workqueues if named(w, name)]
    if not found:
        fail(f"no workqueue named {name!r}")
    return found


def target_options(fn):
    """The options that choose what to inspect, accepted by every command."""
    opts = [
        click.option("-c", "--core", metavar="VMCORE", help="A vmcore: ELF or kdump-compressed (QEMU's included)."),
        click.option("--qemu", metavar="SOCKET", help="A running QEMU guest, through its QMP socket."),
        click.option("-s", "--symbols", metavar="PATH", multiple=True,
                     help="vmlinux or module debug file (repeatable); default: drgn's standard search."),
        click.option("--from", "from_file", metavar="SNAPSHOT.json", help="A snapshot saved by 'wqinspect snapshot'."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def load_snapshot(core, qemu, symbols, from_file, deep: bool = False) -> Snapshot:
    from .capture import capture

    if from_file:
        if core or qemu or symbols:
            raise TargetError("--from reads a saved snapshot: it takes no --core, --qemu or --symbols")
        return Snapshot.load(from_file)
    opened = open_target(core, qemu, tuple(symbols))
    return capture(opened.prog, opened.target, deep=deep)


def emit(as_json: bool, json_obj, table) -> None:
    if as_json:
        click.echo(json.dumps(json_obj(), indent=1))
    else:
        console().print(table())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wqinspect")
def main():
    """Inspect, check and explain the Linux workqueues of a live kernel, a vmcore or a QEMU guest.

    Without -c, --qemu or --from, the running kernel is read through /proc/kcore (root needed).
    Exit codes: 0 done, 1 check/diagnose found something, 2 bad usage or unreadable kernel, 3 internal error.
    """


@main.command()
@click.argument("pattern", required=False, callback=_regex)
@target_options
@guarded
def workqueues(pattern, core, qemu, symbols, from_file, as_json):
    """Workqueues: kind, flags, limits, active/inactive/in-flight works.

    PATTERN is a regular expression matched against names and system_*wq variable names.
    """
    snap = load_snapshot(core, qemu, symbols, from_file)
    emit(as_json, lambda: data.workqueues(snap, pattern), lambda: tables.workqueues(snap, pattern))


@main.command()
@target_options
@guarded
def pools(core, qemu, symbols, from_file, as_json):
    """Worker pools: CPUs, workers, worklist and time since last progress."""
    snap = load_snapshot(core, qemu, symbols, from_file)
    emit(as_json, lambda: data.pools(snap), lambda: tables.pools(snap))


@main.command()
@target_options
@guarded
def workers(core, qemu, symbols, from_file, as_json):
    """Workers (kworkers, rescuers, BH pseudo-workers) and what they run."""
    snap = load_snapshot(core, qemu, symbols, from_file)
    emit(as_json, lambda: data.workers(snap), lambda: tables.workers(snap))


@main.command()
@click.option("--wq", "wq_name", metavar="NAME", help="Only this workqueue (name or system_*wq variable).")
@click.option("--pool", "pool_id", type=int, metavar="ID", help="Only work items of this pool.")
@target_options
@guarded
def works(wq_name, pool_id, core, qemu, symbols, from_file, as_json):
    """Work items: running, scheduled, queued, inactive and delayed (timer) ones."""
    snap = load_snapshot(core, qemu, symbols, from_file)
    if wq_name is not None:
        named_workqueues(snap, wq_name)
    if pool_id is not None and snap.pool(pool_id) is None:
        fail(f"no pool {pool_id}")
    selected = tables.select_works(snap, wq_name, pool_id)
    emit(as_json, lambda: data.works(snap, selected), lambda: tables.works(snap, selected))


@main.command()
@click.argument("wq")
@target_options
@guarded
def show(wq, core, qemu, symbols, from_file, as_json):
    """The tree of one workqueue: pool_workqueues, pools, workers, works."""
    snap = load_snapshot(core, qemu, symbols, from_file)
    found = named_workqueues(snap, wq)
    emit(as_json, lambda: data.show(snap, found), lambda: tables.show(snap, found))


@main.command()
@click.option("-o", "--output", metavar="FILE", required=True, help="Where to write the snapshot ('-': stdout).")
@target_options
@guarded
def snapshot(output, core, qemu, symbols, from_file, as_json):
    """Save everything wqinspect reads as one JSON file (render it later with --from).

    It includes what 'diagnose' uses: workqueue messages of the kernel log and the stacks of
    busy workers and of tasks waiting for work, so that it can be attached to a bug report.
    """
    snap = load_snapshot(core, qemu, symbols, from_file, deep=True)
    text = snap.dumps()
    if output == "-":
        click.echo(text)
        return
    write_atomically(output, text + "\n")
    summary = (f"{len(snap.workqueues)} workqueues, {len(snap.pools)} pools, {len(snap.workers)} workers, "
               f"{len(snap.works)} work items, {len(snap.warnings)} warnings")
    if as_json:
        click.echo(json.dumps({"output": output, "kernel": snap.kernel.release, "summary": summary}))
    else:
        click.echo(f"wrote {output}: {summary} ({snap.kernel.release}, {snap.target.mode})", err=True)


@main.command()
@click.option("--scenario", "scenario_files", metavar="FILE", multiple=True,
              help="Also replay this scenario (fixtures/scenarios format) in the model and require the kernel "
                   "to match the prediction (repeatable).")
@click.option("--all", "show_all", is_flag=True, help="List every result, not only violations.")
@target_options
@guarded
def check(scenario_files, show_all, core, qemu, symbols, from_file, as_json):
    """Check the workqueue invariants of the reference model on the kernel.

    Exit code 0 when every invariant holds, 1 when one is violated, 2 when the kernel could not be
    read. On a live kernel a violation is re-read before it is reported; one that goes away is
    shown as transient and does not fail the check.
    """
    from . import check as checks
    from .capture import capture

    scenarios = [checks.load_scenario(f) for f in scenario_files]
    if from_file:
        snap = load_snapshot(core, qemu, symbols, from_file)
        reread = None
    else:
        opened = open_target(core, qemu, tuple(symbols))
        snap = capture(opened.prog, opened.target)

        def reread():
            return capture(opened.prog, opened.target)

    report = checks.run(snap, scenarios, reread)
    emit(as_json, lambda: data.check_report(report, show_all), lambda: tables.check_report(report, show_all))
    sys.exit(EXIT_FOUND if report.violated else EXIT_OK)


@main.command()
@click.option("--thresh", type=click.IntRange(min=1), metavar="SECONDS",
              help="Stall threshold for the watchdog replay (default: the kernel's workqueue.watchdog_thresh, "
                   "or 30 s where the kernel has no CONFIG_WQ_WATCHDOG).")
@target_options
@guarded
def diagnose(thresh, core, qemu, symbols, from_file, as_json):
    """Explain stalls, CPU hogs, stuck flushes, dangling work and rescuer activity, ranked.

    Exit code 0 when nothing is found, 1 when something is, 2 when the kernel could not be read.
    """
    from .diagnose import diagnose as run

    snap = load_snapshot(core, qemu, symbols, from_file, deep=True)
    found = run(snap, thresh)
    emit(as_json, lambda: data.findings(snap, found), lambda: tables.findings(snap, found))
    sys.exit(EXIT_FOUND if found else EXIT_OK)


@main.command()
@click.argument("pattern", required=False, callback=_regex)
@click.option("-i", "--interval", type=click.FloatRange(min=0), default=1.0, show_default=True, metavar="SECS",
              help="Refresh interval; 0 prints once and exits.")
@click.option("--sort", type=click.Choice(SORT_KEYS_CHOICES), default="name", show_default=True,
              help="Column to sort by (largest first; rates need two samples).")
@click.option("--top", type=click.IntRange(min=1), metavar="N", help="Only the first N workqueues.")
@click.option("--prometheus", is_flag=True, help="Print OpenMetrics text instead of a table.")
@click.option("-o", "--output", metavar="FILE",
              help="With --prometheus: write each sample to FILE (replaced atomically), e.g. for node_exporter's "
                   "textfile collector.")
@target_options
@guarded
def monitor(pattern, interval, sort, top, prometheus, output, core, qemu, symbols, from_file, as_json):
    """Per-workqueue counters, as tools/workqueue/wq_monitor.py shows them, with rates.

    PATTERN is a regular expression matched against names and system_*wq variables. With --json, one
    JSON object per interval (NDJSON). Live targets are re-read every interval; a vmcore or a
    snapshot is printed once.
    """
    import time

    from rich.live import Live

    from . import monitor as mon
    from .views import metrics

    if output and not prometheus:
        raise click.UsageError("--output goes with --prometheus")
    if as_json and prometheus:
        raise click.UsageError("--json and --prometheus are two formats: choose one")
    if from_file:
        if core or qemu or symbols:
            raise TargetError("--from reads a saved snapshot: it takes no --core, --qemu or --symbols")
        source = mon.counters_from_snapshot(Snapshot.load(from_file))
        read, live = (lambda: source), False
    else:
        from .capture import sample_counters

        opened = open_target(core, qemu, tuple(symbols))
        read, live = (lambda: sample_counters(opened.prog)), opened.target.live
    once = interval == 0 or not live
    previous = None
    use_live_view = not (as_json or prometheus or once) and sys.stdout.isatty()
    view = Live(console=console(), auto_refresh=False) if use_live_view else None
    try:
        if view:
            view.start()
        while True:
            sample = read()
            if not sample.has_stats and sort not in mon.SORT_KEYS_WITHOUT_STATS:
                raise click.UsageError(f"--sort {sort} needs the workqueue statistics (pwq->stats[], v6.5+), which "
                                       f"this kernel lacks: sort by {', '.join(mon.SORT_KEYS_WITHOUT_STATS)}")
            rows = mon.rows(sample, previous, pattern, sort, top)
            if prometheus:
                for w in sample.warnings:
                    click.echo(f"wqinspect: warning: {w.object}: {w.message}", err=True)
                text = metrics.openmetrics(rows)
                if output:
                    write_atomically(output, text)
                else:
                    click.echo(text, nl=False)
            elif as_json:
                click.echo(json.dumps({"timestamp": sample.time, "kernel": sample.kernel, "jiffies": sample.jiffies,
                                       "stats": sample.has_stats,
                                       "workqueues": [r.as_dict(sample.time) for r in rows],
                                       "warnings": jsonable(sample.warnings)}))
            elif view:
                view.update(tables.monitor(sample, rows, interval), refresh=True)
            else:
                console().print(tables.monitor(sample, rows, None if once else interval))
            if once:
                return
            previous = sample
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return
    finally:
        if view:
            view.stop()


@main.command()
@target_options
@guarded
def topology(core, qemu, symbols, from_file, as_json):
    """Where work runs: affinity scopes and pods, pools, each workqueue's CPU → pool map, rescuers,
    per-node limits; on the running kernel, /sys/devices/virtual/workqueue checked against memory.
    """
    from .sysfs import differences

    snap = load_snapshot(core, qemu, symbols, from_file)
    diffs = differences(snap)
    emit(as_json, lambda: data.topology(snap, diffs), lambda: tables.topology(snap, diffs))
