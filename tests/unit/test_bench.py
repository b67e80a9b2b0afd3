# SPDX-License-Identifier: LGPL-2.1-or-later
"""The bench harness (testbed/bench.py) without a guest: timing a process, its first row, failures, verdicts."""

import sys

from testbed import bench

PY = sys.executable


def test_run_once_times_the_first_row_and_reads_everything():
    code = ("import sys, time\nprint('header', flush=True)\ntime.sleep(0.3)\nprint('row wqi_noop_fn', flush=True)\n"
            "time.sleep(0.3)\nsys.stdout.write('x' * 300000)\n")
    r = bench.run_once([PY, "-c", code], b"wqi_", 30)
    assert r.rc == 0 and r.err == ""
    assert 0.25 < r.first < r.wall and r.wall >= 0.6
    assert r.out_bytes == len("header\nrow wqi_noop_fn\n") + 300000
    assert r.rss_kb > 1000  # the child's peak RSS, not nothing
    assert 0 < r.cpu < r.wall  # it mostly sleeps


def test_run_once_finds_a_mark_split_across_reads():
    code = "import sys, time\nsys.stdout.write('ab wq'); sys.stdout.flush(); time.sleep(0.2); print('i_x')\n"
    r = bench.run_once([PY, "-c", code], b"wqi_", 30)
    assert r.first is not None and r.first >= 0.2


def test_run_once_reports_exit_code_last_stderr_line_and_timeout():
    r = bench.run_once([PY, "-c", "import sys; print('a\\nwqinspect: bad', file=sys.stderr); sys.exit(3)"], None, 30)
    assert r.rc == 3 and r.err == "wqinspect: bad" and r.first is None
    r = bench.run_once([PY, "-c", "import time; time.sleep(30)"], None, 0.5)
    assert r.err == "killed after 0 s" or r.err.startswith("killed after")
    assert r.wall < 10


def test_a_failing_command_is_one_entry_and_the_others_go_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "OUT", tmp_path)
    b = bench.Bench(2, 30)
    b.results = {"configs": {}}
    cmds = [bench.Cmd("drgn floor", [PY, "-c", "pass"], group="floor"),
            bench.Cmd("works", [PY, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"]),
            bench.Cmd("check", [PY, "-c", "import sys; sys.exit(1)"], ok=(0, 1)),
            bench.Cmd("--from works", [PY, "-c", "pass"], needs=tmp_path / "missing.json")]
    b.measure("c", "vmcore", cmds)
    got = b.results["configs"]["c"]["vmcore"]
    assert got["works"] == {"group": "wqinspect", "error": "exit 3: boom"}
    assert len(got["drgn floor"]["walls"]) == 2 and len(got["check"]["walls"]) == 2
    assert "snapshot -o failed" in got["--from works"]["error"]
    assert "c vmcore: works: FAILED: exit 3: boom" in capsys.readouterr().err
    assert (tmp_path / "results.json").exists()


def _entry(wall, rss=400.0, first=None, group="wqinspect"):
    e = {"group": group, "wall": wall, "walls": [wall] * 3, "rss_mb": rss, "cpu": round(wall * 0.9 - 0.03, 2)}
    if first is not None:
        e["first"] = first
    return e


def _results(works_wall: float) -> dict:
    big = {"drgn floor": _entry(1.0, group="floor"), "snapshot -o": _entry(1.5),
           "works": _entry(works_wall, first=1.2), "works --json": _entry(1.7),
           "monitor -i 0": _entry(1.1), "wq_monitor.py -i 0": _entry(1.3, group="peer"),
           "--from works": _entry(0.6, rss=60), "--from check": _entry(0.9, rss=60)}
    qmp = {"drgn floor": _entry(1.0, group="floor"), "snapshot -o": _entry(2.5, rss=600)}
    small = {"drgn floor": _entry(1.0, group="floor"), "works": _entry(1.1), "--from works": _entry(0.1)}
    return {"date": "d", "machine": "m", "kernel": "k", "drgn": "0", "runs": 3,
            "items": {"scale-100k": {"works": 100000, "workqueues": 2000, "cpus": 16},
                      "scale-10k": {"works": 10000, "workqueues": 2000, "cpus": 16}},
            "configs": {"scale-100k": {"vmcore": big, "qmp": qmp}, "scale-10k": {"vmcore": small}}}


def test_targets_are_met_or_not_from_the_numbers():
    t = {x["target"].split(" (")[0]: x["met"] for x in bench.targets(_results(1.7))}
    assert t["scale-100k vmcore: snapshot -o ≤ floor + 0.6 s"] is True
    assert t["scale-100k qmp: snapshot -o ≤ 3 × floor"] is True
    assert t["scale-100k vmcore: works ≤ floor + 0.8 s"] is True
    assert t["scale-100k vmcore: works, first row ≤ floor + 0.5 s"] is True
    assert t["scale-100k: every --from command ≤ 1.0 s"] is True
    assert t["scale-100k qmp: peak RSS ≤ floor's + 25%"] is False  # 600 MB against 400 MB
    assert t["scale-100k vmcore: monitor refresh below wq_monitor.py's"] is True
    assert t["scale-30k vmcore: works --json over floor ≤ 0.5 × drgn-tools' over its floor"] is None
    t = {x["target"].split(" (")[0]: x["met"] for x in bench.targets(_results(2.0))}
    assert t["scale-100k vmcore: works ≤ floor + 0.8 s"] is False


def test_per_item_cost_flags_growth_faster_than_linear():
    lin = {x["command"]: x for x in bench.linear(_results(1.7))}
    assert lin["works"]["us_per_item_small"] == 10.0 and lin["works"]["us_per_item_large"] == 7.0
    assert lin["--from works"]["ratio"] == 0.6
    slow = {x["command"]: x for x in bench.linear(_results(3.0))}   # 20 µs/item at 100k against 10 at 10k
    assert slow["works"]["ratio"] == 2.0
    verdict = [x for x in bench.targets(_results(3.0)) if x["target"].startswith("linear")]
    assert verdict[0]["met"] is False


def test_table_shows_failures_and_verdicts():
    r = _results(1.7)
    r["configs"]["scale-100k"]["vmcore"]["check"] = {"group": "wqinspect", "error": "exit 3: a | b"}
    text = bench.table(r)
    assert "| vmcore | `check` | failed: exit 3: a \\| b |" in text
    assert "| vmcore | `works` | 1.700 | 1.70 | 0.70 | 1.20 | 1.50 | 400 | 1.00 |" in text
    assert "**not met**" in text and "| met |" in text


def test_readme_gets_the_table_between_its_markers_only(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "REPO", tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n## Benchmarks\nprose\n{bench.BEGIN}\nold\n{bench.END}\n\n## Design\nkept\n")
    assert bench.update_readme("| new |\n")
    assert readme.read_text() == f"# x\n## Benchmarks\nprose\n{bench.BEGIN}\n| new |\n{bench.END}\n\n## Design\nkept\n"
    readme.write_text("# no markers\n")
    assert not bench.update_readme("| new |\n") and readme.read_text() == "# no markers\n"
