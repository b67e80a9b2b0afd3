# SPDX-License-Identifier: LGPL-2.1-or-later
"""`monitor` takes its arguments as wq_monitor.py and vmstat do: REGEX... [INTERVAL [COUNT]], -i, -j."""

import json
import sys
import types

import click
import msgspec
import pytest
from click.testing import CliRunner

from wqinspect import cli
from wqinspect.cli import main, monitor_arguments
from wqinspect.monitor import counters_from_snapshot
from wqinspect.snapshot import Target

from .conftest import SNAPSHOTS, fixture_snapshot

SID = str(SNAPSHOTS / "sid-scenarios.json")


@pytest.mark.parametrize("args,regexes,interval,expected", [
    ((), (), None, (None, 1.0, None)),
    (("2",), (), None, (None, 2.0, None)),
    (("1", "5"), (), None, (None, 1.0, 5)),
    (("0.5",), (), None, (None, 0.5, None)),
    (("events",), (), None, ("(?:events)", 1.0, None)),
    (("events", "kblockd", "2"), (), None, ("(?:events)|(?:kblockd)", 2.0, None)),
    (("events", "2", "10"), ("42",), None, ("(?:events)|(?:42)", 2.0, 10)),
    ((), (), 3.0, (None, 3.0, None)),
    (("3",), (), 3.0, (None, 3.0, None)),
])
def test_arguments_told_apart(args, regexes, interval, expected):
    assert monitor_arguments(args, regexes, interval) == expected


@pytest.mark.parametrize("args,interval,message", [
    (("1", "2", "3"), None, "at most INTERVAL and COUNT"),
    (("1", "0"), None, "whole number from 1"),
    (("1", "2.5"), None, "whole number from 1"),
    (("2",), 3.0, "two intervals"),
    (("[",), None, "not a regular expression"),
    ((), float("nan"), "seconds from 0 to 86400"),
    ((), float("inf"), "seconds from 0 to 86400"),
    (("100000",), None, "seconds from 0 to 86400"),
])
def test_bad_arguments(args, interval, message):
    with pytest.raises(click.UsageError, match=message.replace("(", r"\(")):
        monitor_arguments(args, (), interval)


def ndjson(args):
    r = CliRunner().invoke(main, ["monitor", *args])
    assert r.exit_code == 0, r.output
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def names(sample):
    return {w["name"] for w in sample["workqueues"]}


def test_several_regexes_select_the_union():
    events = names(ndjson(["-j", "--from", SID, "^events$"])[0])
    kblockd = names(ndjson(["-j", "--from", SID, "^kblockd$"])[0])
    both = names(ndjson(["-j", "--from", SID, "^events$", "^kblockd$"])[0])
    assert events == {"events"} and kblockd == {"kblockd"} and both == events | kblockd


def test_j_is_json_and_a_snapshot_is_printed_once():
    assert len(ndjson(["-j", "--from", SID, "1", "5"])) == 1


def test_a_regex_that_is_a_number_goes_with_e():
    every = names(ndjson(["-j", "--from", SID])[0])
    with_digit = names(ndjson(["-j", "--from", SID, "-e", "8250"])[0])
    assert with_digit and with_digit < every and all("8250" in n for n in with_digit)
    # Positional, the same number is an interval: nothing is filtered.
    assert names(ndjson(["-j", "--from", SID, "8250"])[0]) == every


def test_count_stops_a_live_monitor(monkeypatch):
    """COUNT samples on a live target, INTERVAL seconds apart, then exit 0."""
    sample = counters_from_snapshot(fixture_snapshot("sid-scenarios"))
    reads, sleeps = [], []

    def sample_counters(prog):
        reads.append(prog)
        return msgspec.structs.replace(sample, time=sample.time + len(reads))

    monkeypatch.setattr(cli, "open_target", lambda *a, **k: types.SimpleNamespace(
        prog="prog", target=Target("qmp", "sock", live=True)))
    monkeypatch.setitem(sys.modules, "wqinspect.capture", types.SimpleNamespace(sample_counters=sample_counters))
    monkeypatch.setattr("time.sleep", sleeps.append)
    lines = ndjson(["-j", "--qemu", "sock", "0.25", "3"])
    assert len(lines) == len(reads) == 3 and sleeps == [0.25, 0.25]
    reads.clear()
    sleeps.clear()
    assert len(ndjson(["-j", "--qemu", "sock", "-i", "0"])) == 1 and not sleeps
