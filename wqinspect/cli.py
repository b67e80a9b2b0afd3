# SPDX-License-Identifier: LGPL-2.1-or-later
"""The ``wqinspect`` command line.

Exit codes (the same for every command):

- 0: done (``check``: every invariant holds; ``diagnose``: nothing found);
- 1: ``check`` found a violation, ``diagnose`` a finding (at least as severe as ``--fail-on``);
- 2: bad usage, or the kernel or snapshot could not be read (one line says why);
- 3: an internal error in wqinspect (set WQI_DEBUG=1 for the traceback).
"""

import contextlib
import contextvars
import functools
import os
import re
import shutil
import sys

import click

from . import __version__
from .snapshot import Snapshot, SnapshotError
from .errors import ScenarioError, TargetError
from .monitor import SORT_KEYS as SORT_KEYS_CHOICES
from .text import escape
from .views import models, output as viewout
from .views.render import Options

EXIT_OK, EXIT_FOUND, EXIT_UNREADABLE, EXIT_INTERNAL = 0, 1, 2, 3


def console():
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    # Not a terminal: do not wrap tables at 80 columns.
    return Console(width=max(shutil.get_terminal_size((200, 24)).columns, 200), soft_wrap=True)


def fail(message: str, code: int = EXIT_UNREADABLE) -> None:
    click.echo(f"wqinspect: {escape(message)}", err=True)
    sys.exit(code)


class OutputError(Exception):
    """A file the user asked for cannot be written."""


def write_atomically(path: str, text) -> None:
    """Write ``path`` through a temporary file, so that a reader never sees half of it.

    ``text``: str, bytes, or a function that writes to the binary file it is given."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w" if isinstance(text, str) else "wb") as f:
            if isinstance(text, (str, bytes)):
                f.write(text)
            else:
                text(f)
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


_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")


def monitor_arguments(args: tuple[str, ...], regexes: tuple[str, ...], interval: float | None):
    """``monitor``'s positionals, told apart: numbers are INTERVAL and COUNT (vmstat), the rest regexes.

    Returns (one regex matching any of them or None, interval, count or None); bad ones are usage errors.
    """
    numbers = [a for a in args if _NUMBER.fullmatch(a)]
    words = [a for a in args if not _NUMBER.fullmatch(a)] + list(regexes)
    if len(numbers) > 2:
        raise click.UsageError(f"{len(numbers)} numbers: give at most INTERVAL and COUNT "
                               "(a regex that is a number goes with -e)")
    if numbers:
        if interval is not None and float(numbers[0]) != interval:
            raise click.UsageError(f"two intervals: -i {interval:g} and {numbers[0]}")
        interval = float(numbers[0])
    if interval is not None and not 0 <= interval <= 86400:  # (NaN fails both comparisons)
        raise click.UsageError(f"INTERVAL is seconds from 0 to 86400: not {interval}")
    count = None
    if len(numbers) == 2:
        if "." in numbers[1] or int(numbers[1]) < 1:
            raise click.UsageError(f"COUNT is a number of samples, a whole number from 1: not {numbers[1]}")
        count = int(numbers[1])
    for w in words:
        try:
            re.compile(w)
        except re.error as e:
            raise click.BadParameter(f"{w!r} is not a regular expression: {e}", param_hint="REGEX") from None
    pattern = "|".join(f"(?:{w})" for w in words) if words else None
    return pattern, 1.0 if interval is None else interval, count


def named_workqueues(snap: Snapshot, name: str) -> list:
    """The workqueues called ``name`` (or whose system_*wq variable it is); one line and exit 2 if none."""
    found = [w for w in snap.workqueues if w.named(name)]
    if not found:
        # A damaged list can hide a workqueue: say so rather than only that it does not exist.
        hint = (f" among the {len(snap.workqueues)} read ({len(snap.warnings)} read warnings: the kernel's lists may "
                f"be damaged; 'wqinspect workqueues' shows them)") if snap.warnings else ""
        fail(f"no workqueue named {name!r}{hint}")
    return found


#: Options that choose the kernel and its debug info. As with drgn, they go before or after the subcommand
#: (``wqinspect -c vmcore workqueues`` or ``wqinspect workqueues -c vmcore``).
SOURCE_OPTIONS = [
    click.option("-c", "--core", metavar="VMCORE", help="A vmcore: ELF or kdump-compressed (QEMU's included)."),
    click.option("--qemu", metavar="SOCKET", help="A running QEMU guest, through its QMP socket."),
    click.option("-k", "--kernel", "live_kernel", is_flag=True,
                 help="The running kernel, through /proc/kcore (the default; root needed)."),
    click.option("--from", "from_file", metavar="SNAPSHOT.json", help="A snapshot saved by 'wqinspect snapshot'."),
    click.option("-s", "--symbols", metavar="PATH", multiple=True,
                 help="vmlinux or module debug file, or a directory searched for them (repeatable); "
                      "default: drgn's standard search."),
    click.option("--debug-directory", "debug_directories", metavar="DIR", multiple=True,
                 help="Search for debug files by build ID and debug link in DIR, before /usr/lib/debug "
                      "(repeatable)."),
    click.option("--kernel-directory", "kernel_directories", metavar="DIR", multiple=True,
                 help="Search DIR for vmlinux, vmlinux-RELEASE and modules, before /boot and /lib/modules "
                      "(repeatable)."),
    click.option("--vmcoreinfo", metavar="FILE", help="VMCOREINFO to use instead of the target's own."),
    click.option("--debuginfod/--no-debuginfod", default=None,
                 help="Fetch missing debug info from the debuginfod servers in DEBUGINFOD_URLS; default: drgn's "
                      "choice (off for kernels in drgn 0.3.0)."),
]
_SOURCE_KEY = "wqinspect.source"
_LISTS = ("symbols", "debug_directories", "kernel_directories")
_FLAGS = {"core": "--core", "qemu": "--qemu", "from_file": "--from", "vmcoreinfo": "--vmcoreinfo",
          "debuginfod": "--debuginfod"}


#: A drgn Program the commands read instead of opening a kernel (the ``wq`` commands inside drgn).
_bound_program = contextvars.ContextVar("wqinspect_bound_program", default=None)


@contextlib.contextmanager
def reading(prog):
    """Within this block, every command reads ``prog`` (opened by drgn) instead of opening a kernel."""
    token = _bound_program.set(prog)
    try:
        yield
    finally:
        _bound_program.reset(token)


def _merge_source(given: dict) -> dict:
    """The source options given to the group and to the command, as one set; conflicts are refused."""
    if _bound_program.get() is not None:
        extra = [n for n, v in given.items() if v and n != "from_file"]
        if extra:
            flag = {**_FLAGS, "live_kernel": "-k", "symbols": "-s", "debug_directories": "--debug-directory",
                    "kernel_directories": "--kernel-directory"}[extra[0]]
            fail(f"inside drgn, wq reads drgn's program: give {flag} to drgn itself")
    outer = click.get_current_context().meta.get(_SOURCE_KEY, {})
    merged = {}
    for name, value in given.items():
        before = outer.get(name)
        if name in _LISTS:
            merged[name] = tuple(before or ()) + tuple(value)
        elif name == "live_kernel":
            merged[name] = bool(before) or value
        elif value is not None and before is not None and value != before:
            fail(f"{_FLAGS[name]} given twice, before and after the command, with different values")
        else:
            merged[name] = value if value is not None else before
    chosen = [f for f, on in (("--core", merged["core"]), ("--qemu", merged["qemu"]), ("--from", merged["from_file"]),
                              ("--kernel", merged["live_kernel"])) if on]
    if len(chosen) > 1 and "--from" in chosen:
        fail(f"--from reads a saved snapshot: it takes no {' or '.join(c for c in chosen if c != '--from')}")
    if len(chosen) > 1:
        fail(f"give either {' or '.join(chosen)}, not both: they choose different kernels")
    if merged["from_file"] and (any(merged[n] for n in (*_LISTS, "vmcoreinfo")) or merged["debuginfod"] is not None):
        fail("--from reads a saved snapshot: it takes no debug info options (-s, --debug-directory, "
             "--kernel-directory, --vmcoreinfo, --debuginfod)")
    return merged


def target_options(fn):
    """The options that choose what to inspect, accepted by every command (and before it)."""

    @functools.wraps(fn)
    def merged(*args, **kwargs):
        given = {name: kwargs.pop(name) for name in ("core", "qemu", "live_kernel", "from_file", *_LISTS,
                                                     "vmcoreinfo", "debuginfod")}
        source = _merge_source(given)
        click.get_current_context().meta[_SOURCE_KEY + ".merged"] = source
        kwargs.update(core=source["core"], qemu=source["qemu"], symbols=source["symbols"],
                      from_file=source["from_file"])
        return fn(*args, **kwargs)

    merged.__click_params__ = list(getattr(fn, "__click_params__", []))
    opts = [*SOURCE_OPTIONS,
            click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON instead of tables.")]
    for opt in reversed(opts):
        merged = opt(merged)
    return merged


def _debug_options():
    from .target import DebugOptions

    source = click.get_current_context().meta.get(_SOURCE_KEY + ".merged", {})
    return (DebugOptions(debug_directories=source.get("debug_directories", ()),
                         kernel_directories=source.get("kernel_directories", ()),
                         debuginfod=source.get("debuginfod")),
            source.get("vmcoreinfo"))


@contextlib.contextmanager
def status(text: str):
    """A one-line status on stderr while something slow runs, on a terminal only; yields a function to update it."""
    if not sys.stderr.isatty() or os.environ.get("WQI_DEBUG"):
        yield lambda _text: None
        return
    from rich.console import Console

    with Console(stderr=True).status(f"wqinspect: {text}…") as st:
        yield lambda text: st.update(f"wqinspect: {text}…")


def open_target(core, qemu, symbols=()):
    """target.open_target with the command line's debug info options, a status line on a terminal."""
    from . import target as _target

    bound = _bound_program.get()
    if bound is not None:
        return _target.Opened(bound, _target.target_of(bound))
    debug, vmcoreinfo = _debug_options()
    with status("opening the kernel") as say:
        return _target.open_target(core, qemu, tuple(symbols), debug=debug, vmcoreinfo=vmcoreinfo, progress=say)


def load_snapshot(core, qemu, symbols, from_file, deep: bool = False) -> Snapshot:
    if from_file:
        if core or qemu or symbols:
            raise TargetError("--from reads a saved snapshot: it takes no --core, --qemu or --symbols")
        return Snapshot.load(from_file)
    opened = open_target(core, qemu, tuple(symbols))
    from .capture import capture

    with status(f"reading the workqueues{' and the stacks' if deep else ''}"):
        return capture(opened.prog, opened.target, deep=deep)


_VIEW_KEY = "wqinspect.view"


def view_options(*extra: str):
    """-w/--wide and -v/--verbose for a command's tables, and the ``extra`` ones ("cpu", "all", "limit")."""
    opts = {
        "wide": click.option("-w", "--wide", is_flag=True, help="Every column, nothing shortened or wrapped."),
        "verbose": click.option("-v", "--verbose", is_flag=True,
                                help="Object addresses in the tables, as (struct ... *)0x..., to paste into drgn "
                                     "or crash."),
        "cpu": click.option("--cpu", type=click.IntRange(min=0), metavar="N",
                            help="Only what is bound to CPU N: its pools, their workers and work items, and "
                                 "delayed items whose timer or target is CPU N."),
        "all": click.option("--all", "all_items", is_flag=True,
                            help="On a terminal, list every item: do not fold runs of alike items (N*function)."),
        "limit": click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Only the first N items."),
    }
    names = ("wide", "verbose", *extra)

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            given = {n: kwargs.pop("all_items" if n == "all" else n) for n in names}
            click.get_current_context().meta[_VIEW_KEY] = given
            return fn(*args, **kwargs)

        wrapper.__click_params__ = list(getattr(fn, "__click_params__", []))
        for n in reversed(names):
            wrapper = opts[n](wrapper)
        return wrapper

    return decorate


def view_opts() -> Options:
    """How this command writes its view: the view options given, and what stdout is."""
    return Options.for_stream(sys.stdout, **click.get_current_context().meta.get(_VIEW_KEY, {}))


def emit(as_json: bool, view) -> None:
    viewout.emit(view, as_json, sys.stdout)


def _source_before_command(fn):
    for opt in reversed(SOURCE_OPTIONS):
        fn = opt(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wqinspect")
@_source_before_command
@click.pass_context
def main(ctx, **source):
    """Inspect, check and explain the Linux workqueues of a live kernel, a vmcore or a QEMU guest.

    Without -c, --qemu or --from, the running kernel is read through /proc/kcore (root needed).
    The options that choose the kernel go before or after the command, as drgn's do.
    Exit codes: 0 done, 1 check/diagnose found something, 2 bad usage or unreadable kernel, 3 internal error.
    """
    ctx.meta[_SOURCE_KEY] = source


@main.command()
@click.argument("pattern", required=False, callback=_regex)
@view_options()
@target_options
@guarded
def workqueues(pattern, core, qemu, symbols, from_file, as_json):
    """Workqueues: kind, flags, limits, active/inactive/in-flight works.

    PATTERN is a regular expression matched against names and system_*wq variable names.
    """
    snap = load_snapshot(core, qemu, symbols, from_file)
    emit(as_json, models.workqueues(snap, view_opts(), pattern))


@main.command()
@view_options("cpu")
@target_options
@guarded
def pools(core, qemu, symbols, from_file, as_json):
    """Worker pools: CPUs, workers, worklist and time since last progress."""
    snap = load_snapshot(core, qemu, symbols, from_file)
    emit(as_json, models.pools(snap, view_opts()))


@main.command()
@view_options("cpu")
@target_options
@guarded
def workers(core, qemu, symbols, from_file, as_json):
    """Workers (kworkers, rescuers, BH pseudo-workers) and what they run."""
    snap = load_snapshot(core, qemu, symbols, from_file)
    emit(as_json, models.workers(snap, view_opts()))


@main.command()
@click.option("--wq", "wq_name", metavar="NAME", help="Only this workqueue (name or system_*wq variable).")
@click.option("--pool", "pool_id", type=int, metavar="ID", help="Only work items of this pool.")
@view_options("cpu", "all", "limit")
@target_options
@guarded
def works(wq_name, pool_id, core, qemu, symbols, from_file, as_json):
    """Work items: running, scheduled, queued, inactive and delayed (timer) ones."""
    snap = load_snapshot(core, qemu, symbols, from_file)
    if wq_name is not None:
        named_workqueues(snap, wq_name)
    if pool_id is not None and snap.pool(pool_id) is None:
        fail(f"no pool {pool_id}")
    emit(as_json, models.works(snap, view_opts(), wq_name, pool_id))


@main.command()
@click.argument("wq")
@view_options("all")
@target_options
@guarded
def show(wq, core, qemu, symbols, from_file, as_json):
    """The tree of one workqueue: pool_workqueues, pools, workers, works."""
    snap = load_snapshot(core, qemu, symbols, from_file)
    found = named_workqueues(snap, wq)
    emit(as_json, models.show(snap, view_opts(), found))


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
    if output == "-":
        click.echo(snap.dumps())
        return
    from .snapshot.io import write as write_snapshot

    write_atomically(output, lambda f: write_snapshot(snap, f))
    summary = (f"{len(snap.workqueues)} workqueues, {len(snap.pools)} pools, {len(snap.workers)} workers, "
               f"{len(snap.works)} work items, {len(snap.warnings)} warnings")
    if as_json:
        from .views import data as jsondata

        click.echo(viewout.encode_line({**jsondata.head(snap), "output": output, "summary": summary,
                                        **jsondata.tail(snap.warnings)}))
    else:
        click.echo(f"wrote {escape(output)}: {summary} ({escape(snap.kernel.release)}, {snap.target.mode})",
                   err=True)


@main.command()
@click.option("--scenario", "scenario_files", metavar="FILE", multiple=True,
              help="Also replay this scenario (fixtures/scenarios format) in the model and require the kernel "
                   "to match the prediction (repeatable).")
@click.option("--all", "show_all", is_flag=True, help="List every result, not only violations.")
@view_options()
@target_options
@guarded
def check(scenario_files, show_all, core, qemu, symbols, from_file, as_json):
    """Check the workqueue invariants of the reference model on the kernel.

    Exit code 0 when every invariant holds, 1 when one is violated, 2 when the kernel could not be
    read. On a live kernel a violation is re-read before it is reported; one that goes away is
    shown as transient and does not fail the check.
    """
    from . import check as checks

    scenarios = [checks.load_scenario(f) for f in scenario_files]
    if from_file:
        snap = load_snapshot(core, qemu, symbols, from_file)
        reread = None
    else:
        from .capture import capture

        opened = open_target(core, qemu, tuple(symbols))
        snap = capture(opened.prog, opened.target)

        def reread():
            return capture(opened.prog, opened.target)

    report = checks.run(snap, scenarios, reread, keep_ok=show_all)
    emit(as_json, models.check(report, view_opts(), show_all))
    sys.exit(EXIT_FOUND if report.violated else EXIT_OK)


@main.command()
@click.option("--thresh", type=click.IntRange(min=1), metavar="SECONDS",
              help="Stall threshold for the watchdog replay (default: the kernel's workqueue.watchdog_thresh, "
                   "or 30 s where the kernel has no CONFIG_WQ_WATCHDOG).")
@click.option("--fail-on", type=click.Choice(["critical", "warning", "info"]), default="warning", show_default=True,
              help="Exit 1 when a finding is at least this severe (info findings alone exit 0 by default).")
@view_options()
@target_options
@guarded
def diagnose(thresh, fail_on, core, qemu, symbols, from_file, as_json):
    """Explain stalls, CPU hogs, stuck flushes, dangling and stranded work and rescuer activity, ranked.

    Exit code 0 when nothing at least as severe as --fail-on is found, 1 when something is, 2 when the
    kernel could not be read. Implausible values (damaged memory) are added to the read warnings, never
    made findings.
    """
    from .diagnose import damage, diagnose as run, fails

    snap = load_snapshot(core, qemu, symbols, from_file, deep=True)
    damaged = damage(snap)
    found = run(snap, thresh, damaged)
    snap.warnings = [*snap.warnings, *damaged.warnings]
    emit(as_json, models.findings(snap, view_opts(), found))
    sys.exit(EXIT_FOUND if fails(found, fail_on) else EXIT_OK)


@main.command()
@click.argument("args", nargs=-1, metavar="[REGEX...] [INTERVAL [COUNT]]")
@click.option("-e", "--regex", "regexes", metavar="REGEX", multiple=True,
              help="Only workqueues matching REGEX (repeatable), also when it looks like a number.")
@click.option("-i", "--interval", type=click.FloatRange(min=0), metavar="SECS",
              help="Refresh interval, as the INTERVAL argument (default: 1); 0 prints once and exits.")
@click.option("--sort", type=click.Choice(SORT_KEYS_CHOICES), default="name", show_default=True,
              help="Column to sort by (largest first; rates need two samples).")
@click.option("--top", type=click.IntRange(min=1), metavar="N", help="Only the first N workqueues.")
@click.option("--prometheus", is_flag=True, help="Print OpenMetrics text instead of a table.")
@click.option("-o", "--output", metavar="FILE",
              help="With --prometheus: write each sample to FILE (replaced atomically), e.g. for node_exporter's "
                   "textfile collector.")
@view_options()
@target_options
@guarded
def monitor(args, regexes, interval, sort, top, prometheus, output, core, qemu, symbols, from_file, as_json):
    """Per-workqueue counters, as tools/workqueue/wq_monitor.py shows them, with rates.

    \b
    As wq_monitor.py, each REGEX selects workqueues by name or system_*wq variable (any of them matches);
    as vmstat, numbers are INTERVAL seconds and COUNT samples: 'monitor 2' refreshes every 2 s,
    'monitor 1 5' prints 5 samples, 'monitor events 2' watches the events workqueues every 2 s.
    A regex that is a number goes with -e. With --json (-j), one JSON object per sample (NDJSON).
    Live targets are re-read every interval; a vmcore or a snapshot is printed once.
    """
    pattern, interval, count = monitor_arguments(args, regexes, interval)
    import time

    from . import monitor as mon
    from .views import metrics

    if output and not prometheus:
        raise click.UsageError("--output goes with --prometheus")
    if as_json and prometheus:
        raise click.UsageError("--json and --prometheus are two formats: choose one")
    if from_file:
        if core or qemu or symbols:
            raise TargetError("--from reads a saved snapshot: it takes no --core, --qemu or --symbols")
        loaded = Snapshot.load(from_file)
        source, target = mon.counters_from_snapshot(loaded), loaded.target
        read, live = (lambda: source), False
    else:
        from .capture import sample_counters

        opened = open_target(core, qemu, tuple(symbols))
        read, live, target = (lambda: sample_counters(opened.prog)), opened.target.live, opened.target
    once = interval == 0 or not live
    previous = None
    use_live_view = not (as_json or prometheus or once) and sys.stdout.isatty()
    view = None
    if use_live_view:
        from rich.live import Live

        view = Live(console=console(), auto_refresh=False)
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
                    click.echo(f"wqinspect: warning: {escape(w.object)}: {escape(w.message)}", err=True)
                text = metrics.openmetrics(rows)
                if output:
                    write_atomically(output, text)
                else:
                    click.echo(text, nl=False)
            elif as_json:
                click.echo(viewout.json_line(models.MonitorView(sample, rows, view_opts(), interval, target)))
            elif view:
                from rich.text import Text

                view.update(Text.from_ansi(viewout.text(models.MonitorView(sample, rows, view_opts(), interval,
                                                                          target))), refresh=True)
            else:
                viewout.emit(models.MonitorView(sample, rows, view_opts(), None if once else interval, target), False)
            count = None if count is None else count - 1
            if once or count == 0:
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
@view_options()
@target_options
@guarded
def topology(core, qemu, symbols, from_file, as_json):
    """Where work runs: affinity scopes and pods, pools, each workqueue's CPU → pool map, rescuers,
    per-node limits; on the running kernel, /sys/devices/virtual/workqueue checked against memory.
    """
    from .sysfs import differences

    snap = load_snapshot(core, qemu, symbols, from_file)
    diffs = differences(snap)
    emit(as_json, models.topology(snap, view_opts(), diffs))


@main.command()
@view_options()
@target_options
@guarded
def dump(core, qemu, symbols, from_file, as_json):
    """The busy workqueues and pools in the kernel's own format (show_one_workqueue(), show_one_worker_pool()):
    what sysrq-t and the workqueue watchdog print, to diff against a dmesg excerpt.
    """
    snap = load_snapshot(core, qemu, symbols, from_file)
    emit(as_json, models.dump(snap, view_opts()))


def run() -> None:
    """The command's entry point: :func:`main`, then the output flushed and the process ended at once.

    A large capture leaves hundreds of thousands of objects, which the interpreter would otherwise free
    one by one on its way out (about 50 ms at 100,000 work items) after everything is written.
    Nothing of wqinspect's waits for the interpreter's exit: no atexit handler, no temporary file.
    """
    try:
        main()
        code = EXIT_OK
    except SystemExit as e:
        code = e.code
    if code is None:
        code = EXIT_OK
    elif not isinstance(code, int):  # as the interpreter does with sys.exit("text")
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # a reader that went away, or a stream closed already
        except OSError as e:  # the output could not be written (a full disk): say so, as commands do
            with contextlib.suppress(OSError):
                os.write(2, f"wqinspect: cannot write the output: {e.strerror or e}\n".encode())
            code = code or EXIT_UNREADABLE
    os._exit(code)
