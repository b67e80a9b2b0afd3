# SPDX-License-Identifier: LGPL-2.1-or-later
"""Offline checks of the snapshots of the kernels issue 12 added to the test bed: 5.10 (bullseye), the
release candidate (next, experimental) and arm64 (trixie's).  The snapshots come from `make fixtures`
(KERNELS="bullseye next arm64"); a kernel whose snapshot has not been captured yet is skipped, saying so."""

import pytest

from wqinspect import check
from wqinspect.model import invariants
from wqinspect.model.features import Features

from .conftest import SNAPSHOTS, fixture_snapshot

KERNELS = ("bullseye", "next", "arm64")
SCENARIOS = ("saturate", "percpu-backlog", "delayed", "ordered", "reclaim", "flush", "barrier", "highpri")


def snapshot(kernel: str, state: str):
    if not (SNAPSHOTS / f"{kernel}-{state}.json").exists():
        pytest.skip(f"fixtures/snapshots/{kernel}-{state}.json is not captured yet (make fixtures KERNELS={kernel})")
    return fixture_snapshot(f"{kernel}-{state}")


@pytest.mark.parametrize("state", ["scenarios", "idle", "stall", "mayday"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_every_invariant_holds(kernel, state):
    snap = snapshot(kernel, state)
    bad = [str(r) for r in invariants.evaluate(snap) if not r.ok]
    if state == "stall":  # the hog holds its pool while the snapshot is taken: only transient counts may lag
        bad = [b for b in bad if "nr_running" not in b]
    assert bad == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_scenario_predictions_match(kernel):
    snap = snapshot(kernel, "scenarios")
    scenarios = [check.load_scenario(f"fixtures/scenarios/{name}.json") for name in SCENARIOS]
    bad = [str(r) for r in check.evaluate(snap, scenarios) if not r.ok]
    assert bad == []


def test_510_layout_is_detected():
    """5.10: uncolored barriers (WORK_NO_COLOR, 15 colors), no worker->current_color, per-pwq limits."""
    snap = snapshot("bullseye", "scenarios")
    lay = snap.kernel.features
    assert (lay.work_no_color, lay.nr_colors, lay.worker_current_color) == (15, 15, False)
    assert not lay.wq_max_active and lay.wq_cpu_pwq == "cpu_pwqs" and not lay.pool_nr_running_int
    f = Features.from_snapshot(snap)
    assert (f.no_color, f.running_color, f.nr_colors) == (15, False, 15)
    barriers = [w for w in snap.works if w.is_barrier]
    assert barriers and all(w.color == 15 and "INACTIVE" not in w.flag_names for w in barriers)
    assert all(w.color is None for w in snap.works if w.where == "running")


def test_arm64_module_area_covers_the_modules():
    snap = snapshot("arm64", "scenarios")
    lo, hi = snap.kernel.module_area
    assert snap.modules and all(lo <= a < b <= hi for m in snap.modules for a, b in m.ranges)
    assert snap.kernel_image is not None and snap.kernel_image[0] < snap.kernel_image[1]


def test_a_layout_wqinspect_does_not_know_is_one_line_not_an_internal_error():
    """No workqueue types at all (a kernel without them, or not a kernel): UnknownLayout, which the CLI
    prints as one line with exit code 2 (a SnapshotError), naming what is missing."""
    import drgn

    from wqinspect.kernel.layout import UnknownLayout, layout
    from wqinspect.snapshot import SnapshotError

    with pytest.raises(UnknownLayout, match="not one wqinspect knows how to read: .*workqueue_struct") as e:
        layout(drgn.Program(drgn.host_platform))
    assert isinstance(e.value, SnapshotError) and "\n" not in str(e.value)
