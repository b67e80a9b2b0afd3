# SPDX-License-Identifier: LGPL-2.1-or-later
"""Offline tests: the snapshots in fixtures/snapshots were captured from real kernels by `make fixtures`."""

import json
from pathlib import Path

import pytest

from wqinspect.snapshot import Snapshot

SNAPSHOTS = Path(__file__).resolve().parents[2] / "fixtures" / "snapshots"
SUITES = ("bookworm", "trixie", "sid")


def fixture_snapshot(name: str) -> Snapshot:
    return Snapshot.load(str(SNAPSHOTS / f"{name}.json"))


@pytest.fixture(params=SUITES)
def suite(request):
    return request.param


@pytest.fixture
def scenarios_snap(suite) -> Snapshot:
    return fixture_snapshot(f"{suite}-scenarios")


@pytest.fixture
def idle_snap(suite) -> Snapshot:
    return fixture_snapshot(f"{suite}-idle")


@pytest.fixture
def scenarios_json(suite) -> dict:
    return json.loads((SNAPSHOTS / f"{suite}-scenarios.json").read_text())
