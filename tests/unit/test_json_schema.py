# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every command's JSON has the documented fields (docs/json.md), one envelope, and no number a script rounds."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from wqinspect.cli import main
from wqinspect.views import schema

from .conftest import SNAPSHOTS, fixture_snapshot

FIXTURES = sorted(p.stem for p in SNAPSHOTS.glob("*.json"))
DOC = Path(__file__).resolve().parents[2] / "docs" / "json.md"


def test_the_reference_is_generated_from_the_schema():
    assert DOC.read_text() == schema.markdown(), "run: python -m wqinspect.views.schema > docs/json.md"


def numbers(v):
    if isinstance(v, bool):
        return
    if isinstance(v, (int, float)):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from numbers(x)
    elif isinstance(v, list):
        for x in v:
            yield from numbers(x)


def check_item(item: dict, cls, extra: dict, nested: dict, where: str):
    want = set(extra) | (set(schema.struct_fields(cls)) if cls else set())
    assert set(item) == want, f"{where}: undocumented {set(item) - want}, missing {want - set(item)}"
    for field, (ncls, nextra) in nested.items():
        for x in item[field]:
            check_item(x, ncls, nextra, {}, f"{where}.{field}")


def output(cmd: list[str], path: str) -> list[dict]:
    r = CliRunner().invoke(main, [*cmd, "--json", "--from", path])
    assert r.exit_code in (0, 1), r.output
    if cmd[0] == "monitor":
        return [json.loads(line) for line in r.stdout.splitlines()]
    return [json.loads(r.stdout)]


@pytest.mark.parametrize("fixture", FIXTURES)
def test_every_command_matches_the_reference(fixture):
    path = str(SNAPSHOTS / f"{fixture}.json")
    snap = fixture_snapshot(fixture)
    wq = next((w for w in snap.workqueues if w.system_var is None), None)
    for name, (key, cls, extra, top, nested) in schema.COMMANDS.items():
        if name == "show" and wq is None:
            continue  # a -d 31 dump of 7.x: makedumpfile left out every workqueue (see README)
        cmd = ["show", wq.name] if name == "show" else [name]
        for doc in output(cmd, path):
            assert list(doc) == [*schema.ENVELOPE, key, *top, *schema.WARNINGS], name
            assert doc["kernel"]["release"] == snap.kernel.release and doc["schema"] == 2
            assert doc["captured_at"] == (snap.target.captured_at or None) or name == "monitor"
            for item in doc[key]:
                if extra:
                    check_item(item, cls, extra, nested, f"{fixture} {name}")
                else:
                    assert isinstance(item, str)
            big = [n for n in numbers(doc) if abs(n) >= 1 << 53]
            assert not big, f"{name}: numbers a script would round: {big[:3]}"


def test_kind_is_one_vocabulary(scenarios_snap, suite):
    path = str(SNAPSHOTS / f"{suite}-scenarios.json")
    kinds = {w.name: str(w.kind) for w in scenarios_snap.workqueues}
    topo = json.loads(CliRunner().invoke(main, ["topology", "--json", "--from", path]).stdout)
    assert {w["name"]: w["kind"] for w in topo["workqueues"]} == kinds
    assert set(kinds.values()) <= {"percpu", "unbound", "ordered", "bh"}
    prom = CliRunner().invoke(main, ["monitor", "--prometheus", "--from", path]).stdout
    for name, kind in kinds.items():
        if f'workqueue="{name}"' in prom:
            assert f'workqueue="{name}",system_var="",kind="{kind}"' in prom or 'system_var="system' in prom
