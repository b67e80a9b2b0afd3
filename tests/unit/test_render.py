# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tables and trees on a terminal and piped: widths, names, escaping, streaming, folding."""

import enum
import io
import json
import re

import msgspec
import pytest
from click.testing import CliRunner

from wqinspect.cli import main
from wqinspect.snapshot import Snapshot, Where
from wqinspect.views import models, output, render
from wqinspect.views.render import Column, Options, Table, Writer, cell_len, shorten, wrap

from .conftest import SNAPSHOTS, fixture_snapshot

FIXTURES = sorted(p.stem for p in SNAPSHOTS.glob("*.json"))
#: Every command that prints a table or a tree (show gets a workqueue name below).
COMMANDS = (["workqueues"], ["pools"], ["workers"], ["works"], ["check"], ["diagnose"], ["monitor"],
            ["topology"])
EVIL = "\x1b[2J\x1b]0;title\x07\x9b31m"


def invoke(args, terminal_width=None, monkeypatch=None, env=None):
    if terminal_width is not None:
        monkeypatch.setattr(render.Options, "for_stream", classmethod(
            lambda cls, stream=None, **kw: cls(terminal=True, width=terminal_width, color=False, **kw)))
    return CliRunner().invoke(main, args, env=env or {})


def busy_wq(snap: Snapshot) -> list[list[str]]:
    """``show`` of the workqueue with the most work items (a tree worth looking at), if any was read
    (a -d 31 dump of 7.x has none: makedumpfile left their pages out)."""
    counts = {}
    for w in snap.works:
        counts[w.wq] = counts.get(w.wq, 0) + 1
    if not snap.workqueues:
        return []
    best = max(snap.workqueues, key=lambda wq: counts.get(wq.address, 0))
    return [["show", best.label if best.system_var else best.name]]


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("fixture", FIXTURES)
def test_every_view_fits_the_terminal(fixture, width, monkeypatch):
    path = str(SNAPSHOTS / f"{fixture}.json")
    snap = fixture_snapshot(fixture)
    labels = {wq.label for wq in snap.workqueues}
    for cmd in (*COMMANDS, *busy_wq(snap)):
        r = invoke([*cmd, "--from", path], width, monkeypatch)
        assert r.exit_code in (0, 1), (cmd, r.output)
        lines = r.stdout.splitlines()
        assert lines, cmd
        for line in lines:
            assert cell_len(line) <= width, (cmd, line)
            assert line == line.rstrip(), (cmd, line)
        if cmd[0] in ("workqueues", "monitor"):
            # Each name on one line, whole or shortened from the left (…tail): never split over two lines.
            text = r.stdout
            for label in labels:
                if re.search(rf"^{re.escape(label)}(?:  |$)", text, re.M) is None:
                    tails = re.findall(r"^…(.+?)(?:  |$)", text, re.M)
                    assert any(label.endswith(t.rstrip()) for t in tails), (cmd, label)


def test_names_are_shortened_from_the_left_and_text_wraps_at_words():
    assert shorten("events_power_efficient", 10) == "…efficient"
    assert wrap("BAR(131 wqi_flush_run) flushing wqi_block_fn [wqi]", 24) == [
        "BAR(131 wqi_flush_run)", "flushing wqi_block_fn", "[wqi]"]
    assert wrap("PENDING,INACTIVE,PWQ,LINKED", 12) == ["PENDING,", "INACTIVE,", "PWQ,LINKED"]


def test_empty_columns_are_dropped_unless_wide():
    t = Table("t", [Column("A"), Column("EMPTY"), Column("B")], [("x", "-", "y"), ("z", "", "w")])
    out = io.StringIO()
    Writer(out, Options()).write([t])
    assert "EMPTY" not in out.getvalue() and out.getvalue().splitlines()[1:] == ["A  B", "x  y", "z  w"]
    out = io.StringIO()
    Writer(out, Options(wide=True)).write([t])
    assert "EMPTY" in out.getvalue()


def test_columns_that_cannot_fit_are_left_out_with_a_note():
    t = Table("", [Column(f"C{i}", right=True) for i in range(30)], [tuple(str(10 ** 5) for _ in range(30))])
    out = io.StringIO()
    Writer(out, Options(terminal=True, width=80)).write([t])
    lines = out.getvalue().splitlines()
    assert all(len(x) <= 80 for x in lines) and "-w shows them" in lines[-1]


@pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {"TERM": "dumb"}])
def test_no_color_and_dumb_terminals_get_no_styles(env, monkeypatch):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("NO_COLOR" if "TERM" in env else "TERM", raising=False)
    assert not render.color_allowed()
    opts = Options(terminal=True, width=120, color=render.color_allowed())
    out = io.StringIO()
    output.emit(models.workqueues(fixture_snapshot("sid-scenarios"), opts), False, out)
    assert "\x1b" not in out.getvalue()
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out = io.StringIO()
    output.emit(models.workqueues(fixture_snapshot("sid-scenarios"), Options(terminal=True, width=120, color=True)),
                False, out)
    assert "\x1b[1m" in out.getvalue()  # (the check above can fail)


def test_piped_tables_have_no_trailing_spaces_and_no_empty_middle_cells():
    r = CliRunner().invoke(main, ["workers", "--from", str(SNAPSHOTS / "sid-scenarios.json")])
    lines = r.stdout.splitlines()
    assert all(x == x.rstrip() for x in lines)
    head = lines[2].split()
    rows = [x for x in lines[3:] if x.startswith("kworker/")]
    assert rows and all(len(x.split()) >= len(head) - 2 for x in rows)  # (RUNNING FOR has two words)


def test_a_long_piped_table_is_written_as_its_rows_are_made():
    """Past STREAM_ROWS rows a piped table streams: rows are on the stream before the last is made,
    widths are the first rows', a wider cell later is never cut, every column is kept, and cells are
    escaped and filled as in a short table."""
    out = io.StringIO()
    n = render.STREAM_ROWS + 500
    written_before_the_end = []

    def rows():
        for i in range(n):
            if i == n - 1:
                written_before_the_end.append(out.getvalue().count("\n"))
            wide = "a-much-wider-function-name" if i == n - 2 else f"f{i % 7}"
            yield (str(i), wide, "", "evil\x1b[2J" if i == n - 3 else "x")

    Writer(out, Options()).write([Table("t", [Column("N", right=True), Column("FUNC"), Column("EMPTY"),
                                              Column("LAST")], rows(), ["a footer"])])
    lines = out.getvalue().splitlines()
    assert written_before_the_end and written_before_the_end[0] > render.STREAM_ROWS
    assert lines[1].split() == ["N", "FUNC", "EMPTY", "LAST"]  # (EMPTY is empty in every row, and kept)
    assert lines[2] == "  0  f0    -      x"  # (N is 3 wide: its first 1,000 rows; row 1000 pushes its line)
    assert lines[1002] == "1000  f6    -      x"
    assert lines[-1] == "a footer" and len(lines) == n + 3
    assert "1498  a-much-wider-function-name  -      x" in lines
    assert "1497  f6    -      evil\\x1b[2J" in lines and "\x1b" not in out.getvalue()
    assert all(x == x.rstrip() for x in lines)


# -- folding and limits ------------------------------------------------------------------------------------------


def test_terminal_folds_runs_like_the_kernel_and_all_lists_each():
    from .bigsnap import big_snapshot

    snap = big_snapshot(2000)
    n = sum(1 for w in snap.works if w.where == Where.INACTIVE)
    folded = io.StringIO()
    output.emit(models.works(snap, Options(terminal=True, width=200)), False, folded)
    assert re.search(r"\d{2,}\*wqi_noop_fn", folded.getvalue())
    assert len(folded.getvalue().splitlines()) < 200
    every = io.StringIO()
    output.emit(models.works(snap, Options(terminal=True, width=200, all=True)), False, every)
    assert every.getvalue().count("inactive") >= n
    piped = io.StringIO()
    output.emit(models.works(snap, Options()), False, piped)
    assert piped.getvalue().count("\ninactive") == n
    limited = io.StringIO()
    output.emit(models.works(snap, Options(limit=10)), False, limited)
    assert "first 10 of 2000" in limited.getvalue()
    doc = json.loads(CliRunner().invoke(main, ["works", "--limit", "3", "--json", "--from",
                                               str(SNAPSHOTS / "sid-scenarios.json")]).stdout)
    assert len(doc["works"]) == 3 and doc["selected"] > 3


def test_cpu_filter():
    f = str(SNAPSHOTS / "sid-scenarios.json")
    pools = json.loads(CliRunner().invoke(main, ["pools", "--cpu", "1", "--json", "--from", f]).stdout)["pools"]
    assert pools and all(p["cpu"] == 1 for p in pools)
    ids = {p["id"] for p in pools}
    workers = json.loads(CliRunner().invoke(main, ["workers", "--cpu", "1", "--json", "--from", f]).stdout)
    assert workers["workers"] and all(w["pool_id"] in ids for w in workers["workers"])
    works = json.loads(CliRunner().invoke(main, ["works", "--cpu", "1", "--json", "--from", f]).stdout)["works"]
    assert works and all(w["pool_id"] in ids or w["delayed"] or w["rcu_cpu"] == 1 for w in works)
    every = json.loads(CliRunner().invoke(main, ["works", "--json", "--from", f]).stdout)["works"]
    assert len(works) < len(every)


def test_verbose_shows_addresses_to_paste_into_drgn():
    f = str(SNAPSHOTS / "sid-scenarios.json")
    snap = fixture_snapshot("sid-scenarios")
    out = CliRunner().invoke(main, ["works", "-v", "--from", f]).stdout
    assert f"(struct work_struct *){snap.works[0].address:#x}" in out
    out = CliRunner().invoke(main, ["workqueues", "-v", "--from", f]).stdout
    assert f"(struct workqueue_struct *){snap.workqueues[0].address:#x}" in out
    assert "struct" not in CliRunner().invoke(main, ["workqueues", "--from", f]).stdout


def test_json_streams_as_one_document():
    buf = io.BytesIO()
    render.write_json(buf, {"schema": 2}, "items", ({"i": i} for i in range(3)), {"warnings": []})
    assert json.loads(buf.getvalue()) == {"schema": 2, "items": [{"i": 0}, {"i": 1}, {"i": 2}], "warnings": []}
    buf = io.BytesIO()
    render.write_json(buf, {"schema": 2}, "items", iter(()), {})
    assert json.loads(buf.getvalue()) == {"schema": 2, "items": []}


# -- escaping ----------------------------------------------------------------------------------------------------

#: Strings the snapshot's validation or the views need as they are.
_KEEP = {"captured_at", "release"}


def doctor(obj, evil: str):
    """Append ``evil`` to every string of a snapshot (struct fields, lists and dicts of strings)."""
    def fix(v):
        if isinstance(v, str) and not isinstance(v, enum.Enum):
            return v + evil
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, dict):
            return {fix(k): fix(x) for k, x in v.items()}
        doctor(v, evil)
        return v

    if isinstance(obj, msgspec.Struct) and not type(obj).__struct_config__.frozen:
        for name in obj.__struct_fields__:
            if name not in _KEEP:
                setattr(obj, name, fix(getattr(obj, name)))
    return obj


@pytest.fixture(params=["sid-scenarios", "bookworm-stall", "trixie-mayday"])
def evil_file(request, tmp_path):
    snap = doctor(fixture_snapshot(request.param), EVIL)
    snap.reindex()
    path = tmp_path / "evil.json"
    path.write_text(snap.dumps())
    return str(path), snap


def test_no_escape_sequence_reaches_the_terminal(evil_file):
    path, snap = evil_file
    name = next(wq.name for wq in snap.workqueues if wq.system_var is None)
    for cmd in (*COMMANDS, ["show", name], ["monitor", "--prometheus"]):
        r = CliRunner().invoke(main, [*cmd, "--from", path])
        assert r.exit_code in (0, 1), (cmd, r.output)
        for stream in (r.stdout_bytes, r.stderr_bytes):
            assert b"\x1b" not in stream and "\x9b".encode() not in stream, cmd
        assert "\\x1b[2J" in r.stdout or cmd[0] in ("check",), cmd


FORGE = "\nFORGED LINE\u202e"


@pytest.mark.parametrize("fixture", ["sid-scenarios", "bookworm-stall"])
def test_no_kernel_string_starts_a_line_or_reorders_it(fixture, tmp_path):
    """A newline in a comm (PR_SET_NAME) or a doctored name cannot forge an output line; bidi controls are escaped."""
    snap = doctor(fixture_snapshot(fixture), FORGE)
    snap.reindex()
    path = tmp_path / "forge.json"
    path.write_text(snap.dumps())
    name = next(wq.name for wq in snap.workqueues if wq.system_var is None)
    for cmd in (*COMMANDS, ["show", name], ["dump"], ["diagnose", "-v"]):
        r = CliRunner().invoke(main, [*cmd, "--from", str(path)])
        assert r.exit_code in (0, 1), (cmd, r.output)
        for text in (r.stdout, r.stderr):
            assert not [line for line in text.splitlines() if line.lstrip(" │├└─•").startswith("FORGED")], cmd
            assert "\u202e" not in text, cmd
        assert "\\x0aFORGED LINE\\u202e" in r.stdout or cmd[0] == "check", cmd


def test_json_keeps_the_exact_text(evil_file):
    path, snap = evil_file
    doc = json.loads(CliRunner().invoke(main, ["workqueues", "--json", "--from", path]).stdout)
    assert {w["name"] for w in doc["workqueues"]} == {w.name for w in snap.workqueues}
    assert all(w["name"].endswith(EVIL) for w in doc["workqueues"])
    for cmd in ("pools", "workers", "works", "topology", "check", "diagnose"):
        r = CliRunner().invoke(main, [cmd, "--json", "--from", path])
        assert r.exit_code in (0, 1) and any(x.endswith(EVIL) for x in strings(json.loads(r.stdout))), cmd


def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)


def test_lone_surrogates_are_replaced_on_the_terminal_and_kept_in_json():
    evil = EVIL + "\ud800"
    snap = doctor(fixture_snapshot("sid-scenarios"), evil)
    snap.reindex()
    for make in (lambda o: models.workqueues(snap, o), lambda o: models.works(snap, o),
                 lambda o: models.workers(snap, o), lambda o: models.show(snap, o, snap.workqueues[:3])):
        out = io.StringIO()
        output.emit(make(Options(terminal=True, width=100)), False, out)
        text = out.getvalue()
        text.encode("utf-8")  # (no lone surrogate left)
        assert "\x1b" not in text and "\x9b" not in text and "\ufffd" in text
        buf = io.BytesIO()
        output.emit(make(Options()), True, _Stream(buf))
        assert any(x.endswith(evil) for x in strings(json.loads(buf.getvalue())))


class _Stream:
    def __init__(self, buf):
        self.buffer = buf

    def flush(self):
        pass


def test_dump_is_what_the_kernel_printed():
    """The watchdog fixture's kernel log holds the kernel's own dump, printed 2 s before the capture."""
    snap = fixture_snapshot("watchdog-stall")
    log = [r.text for r in snap.log]
    start = log.index("Showing busy workqueues and worker pools:")
    end = next(i for i in range(start + 1, len(log)) if log[i].startswith("Showing "))
    r = CliRunner().invoke(main, ["dump", "--from", str(SNAPSHOTS / "watchdog-stall.json")])
    assert r.exit_code == 0

    def same(lines):  # (a pool's hung= grows between the watchdog's print and the capture)
        return [re.sub(r"hung=\d+s", "hung=Ns", x) for x in lines]

    assert same(r.stdout.splitlines()) == same(log[start:end])
    assert "3*wqi_noop_fn [wqi]" in r.stdout


def test_dump_folds_and_marks_barriers_as_the_kernel_does():
    out = CliRunner().invoke(main, ["dump", "--from", str(SNAPSHOTS / "sid-scenarios.json")]).stdout
    assert "    inactive: 5*wqi_noop_fn [wqi]" in out
    # The barrier behind a LINKED item gets no comma (pr_cont_work()), its pid is the waiter's.
    assert re.search(r"    inactive: wqi_noop_fn \[wqi\] BAR\(\d+\)", out)
    assert re.search(r"in-flight: \d+:wqi_block_fn \[wqi\] for \d+s BAR\(\d+\)", out)  # (7.x: "for Ns")


def test_dump_of_a_kernel_that_does_not_fold():
    """6.1 and 5.10 print every item (no pr_cont_work_struct); before the v5.15 rename the list is 'delayed:'."""
    snap = fixture_snapshot("sid-scenarios")
    snap.kernel.features = msgspec.structs.replace(snap.kernel.features, dump_folds=False)
    out = "\n".join(render_dump(snap))
    assert "5*wqi_noop_fn" not in out and "    inactive: " + ", ".join(["wqi_noop_fn [wqi]"] * 5) in out
    snap.kernel.features = msgspec.structs.replace(snap.kernel.features, pwq_inactive_list="delayed_works")
    out = "\n".join(render_dump(snap))
    assert "    delayed: wqi_noop_fn [wqi]" in out and "    inactive:" not in out


def render_dump(snap):
    from wqinspect.views.models import dump_lines

    return list(dump_lines(snap))


def test_dump_separates_in_flight_workers_as_the_kernel_at_hand():
    """Two workers on one pwq: ", 130:fn" up to v6.8, " ,130:fn" since pr_cont_worker_id() (v6.9)."""
    snap = fixture_snapshot("sid-scenarios")
    wq = snap.workqueues_named("wqi_flush")[0]
    pool = snap.pool(wq.pwqs[0].pool_id)
    first = next(w for w in (snap.worker(a) for a in pool.busy) if w.current_pwq == wq.pwqs[0].address)
    second = msgspec.structs.replace(first, address=first.address + 0x1000,
                                     task=msgspec.structs.replace(first.task, pid=4242))
    snap.workers.append(second)
    pool.busy.append(second.address)
    snap.reindex()
    line = next(x for x in render_dump(snap) if "4242:" in x)
    assert re.search(r"in-flight: \d+:wqi_block_fn \[wqi\] for \d+s ,4242:wqi_block_fn \[wqi\] for \d+s$", line), line
    snap.kernel.features = msgspec.structs.replace(snap.kernel.features, bh_pools=False, worker_current_start=False)
    line = next(x for x in render_dump(snap) if "4242:" in x)
    assert re.search(r"in-flight: \d+:wqi_block_fn \[wqi\], 4242:wqi_block_fn \[wqi\]$", line), line
