# SPDX-License-Identifier: LGPL-2.1-or-later
"""diagnose on snapshots captured from real kernels, and on doctored ones for the rarer findings."""

import copy

import pytest

from wqinspect.diagnose import diagnose, pool_description
from wqinspect.snapshot import LogRecord, Watchdog

from .conftest import fixture_snapshot


def kinds(found):
    return sorted({f.kind for f in found})


def test_idle_kernels_have_no_findings(idle_snap):
    assert diagnose(idle_snap) == []


def test_scenarios_show_who_waits_for_whom(scenarios_snap):
    found = diagnose(scenarios_snap)
    assert kinds(found) == ["wait"]
    whats = [f.what for f in found]
    assert any(w.startswith("wqi_flush_run") and "wqi_block_fn" in w for w in whats)
    assert any(w.startswith("wqi_flush_inact") and "wqi_noop_fn" in w for w in whats)
    assert any(w.startswith("wqi_flush_wq") and "wqi_flush" in w for w in whats)


@pytest.fixture
def stall_snap(suite):
    return fixture_snapshot(f"{suite}-stall")


def test_leaked_timer_and_stall(suite, stall_snap):
    found = diagnose(stall_snap, thresh=5)
    critical = [f for f in found if f.severity == "critical"]
    assert {f.kind for f in critical} == {"dangling", "stall"}
    assert critical[0].kind in ("dangling", "stall")  # ranked first
    dangling = next(f for f in critical if f.kind == "dangling")
    assert dangling.data["last_unloaded_module"] == "wqi_leak"
    stall = next(f for f in critical if f.kind == "stall")
    assert stall.what.startswith("BUG: workqueue lockup - pool cpus=1 ")
    # Without --thresh the default 30 s applies (Debian kernels have no watchdog): a warning, not a lockup.
    assert "stall" not in {f.kind for f in diagnose(stall_snap) if f.severity == "critical"}
    hogs = [f for f in found if f.kind == "hog"]
    assert bool(hogs) == (suite != "bookworm")


def test_watchdog_kernel_verdict_matches_its_report():
    snap = fixture_snapshot("watchdog-stall")
    found = diagnose(snap)  # the kernel's own threshold (5 s) applies
    stall = [f for f in found if f.kind == "stall" and f.severity == "critical"]
    assert len(stall) == 1
    printed = stall[0].data["printed"]
    assert printed and all(abs(p["replayed"] - p["seconds"]) <= 1 for p in printed)
    assert any(f.kind == "hog" and f.where == "hog report table" and "wqi_hog_fn" in f.what for f in found)


def test_a_stall_the_kernel_reported_stays_one_above_thresh():
    """--thresh longer than the stall: the kernel's own report (and cpu_stall) still make it a lockup."""
    snap = fixture_snapshot("watchdog-stall")
    stall = [f for f in diagnose(snap, thresh=20) if f.kind == "stall"]
    assert [f.severity for f in stall] == ["critical"] and stall[0].data["printed"]
    for pool in snap.pools:
        pool.cpu_stall = False
    snap.log = []
    assert [f.severity for f in diagnose(snap, thresh=20) if f.kind == "stall"] == ["warning"]


def test_running_stack_on_a_live_kernel_is_explained(stall_snap):
    """drgn cannot unwind a task running on a live CPU: the finding says so and how to get it."""
    busy = next(s for s in stall_snap.stacks if s.why == "busy worker")
    assert busy.on_cpu and busy.error and not busy.frames
    stall = next(f for f in diagnose(stall_snap, thresh=5) if f.kind == "stall")
    text = "\n".join(stall.evidence)
    assert f"running on CPU {busy.cpu} of a live kernel" in text
    assert busy.error not in text
    # In a dump the same failure is a real error, shown as drgn reported it.
    snap = copy.deepcopy(stall_snap)
    snap.target.live = False
    stall = next(f for f in diagnose(snap, thresh=5) if f.kind == "stall")
    assert busy.error in "\n".join(stall.evidence)


# ---- doctored snapshots

def test_watchdog_touch_postpones_a_stall(stall_snap):
    """A recent touch (e.g. after a long printk) resets the clock, as in wq_watchdog_timer_fn()."""
    snap = copy.deepcopy(stall_snap)
    snap.watchdog = Watchdog(thresh=5, touched=snap.kernel.jiffies,
                             touched_cpu=[[c, snap.kernel.jiffies] for c in snap.kernel.possible_cpus])
    assert "stall" not in kinds([f for f in diagnose(snap) if f.severity == "critical"])
    snap.watchdog.touched_cpu = [[c, 0] for c in snap.kernel.possible_cpus]
    assert "stall" in kinds([f for f in diagnose(snap) if f.severity == "critical"])


def test_watchdog_disabled():
    snap = copy.deepcopy(fixture_snapshot("watchdog-stall"))
    snap.watchdog.thresh = 0
    assert "stall" not in kinds(diagnose(snap))
    assert "stall" in kinds(diagnose(snap, thresh=5))  # --thresh still replays


def test_pool_descriptions(scenarios_snap):
    for pool in scenarios_snap.pools:
        d = pool_description(scenarios_snap, pool)
        assert d.startswith("pool cpus=") and f"flags={pool.flags:#x}" in d
        assert ("node=" in d) == (pool.node != -1)
        if "POOL_BH" in pool.flag_names:
            assert d.endswith(" bh" if pool.nice == 0 else " bh-hi")
        else:
            assert d.endswith(f" nice={pool.nice}")


def test_rescuer_at_work(suite):
    """Captured while worker creation failed (kernel.threads-max at the thread count)."""
    found = diagnose(fixture_snapshot(f"{suite}-mayday"))
    assert any(f.kind == "rescuer" and f.what == "the rescuer of wqi_mayday is running an item" for f in found)


def test_rescuer_findings():
    snap = copy.deepcopy(fixture_snapshot("sid-scenarios"))
    wq = snap.workqueues_named("wqi_reclaim")[0]
    wq.maydays = [wq.pwqs[0].address]
    rescuer = next(w for w in snap.workers if w.rescuer_of == "wqi_reclaim")
    rescuer.pool_id, rescuer.current_work = wq.pwqs[0].pool_id, 0x1234
    rescuer.current_func = snap.works[0].func
    wq.pwqs[0].stats = dict(wq.pwqs[0].stats, mayday=3, rescued=2)
    found = [f for f in diagnose(snap) if f.kind == "rescuer"]
    assert [f.severity for f in found] == ["warning", "warning"]
    assert "called its rescuer" in found[0].what and "running an item" in found[1].what
    assert all("since boot: 3 mayday(s), 2 item(s) rescued" in f.evidence for f in found)


def test_rescuer_counters_alone_are_no_finding():
    """A mayday at boot (worker creation slower than 10 ms) is normal: counters alone report nothing."""
    snap = copy.deepcopy(fixture_snapshot("sid-idle"))
    wq = snap.workqueues_named("mm_percpu_wq")[0]
    wq.pwqs[0].stats = dict(wq.pwqs[0].stats, mayday=1, rescued=1)
    assert diagnose(snap) == []


def test_flush_deadlock_is_found():
    """A worker that flush_work()s an item which waits for that same worker never wakes up."""
    snap = copy.deepcopy(fixture_snapshot("sid-scenarios"))
    barrier = next(w for w in snap.works if w.is_barrier and w.where == "scheduled")
    holder = snap.worker(barrier.worker)
    barrier.barrier.waiter = copy.deepcopy(holder.task)  # the runner itself waits for its own item
    dead = [f for f in diagnose(snap) if f.kind == "deadlock"]
    assert len(dead) == 1 and dead[0].severity == "critical"


def test_dangling_function_pointer():
    snap = copy.deepcopy(fixture_snapshot("trixie-scenarios"))
    work = next(w for w in snap.works if w.wq_name == "wqi_delayed")
    snap.modules = [m for m in snap.modules if m.name != "wqi"]  # as if wqi were unloaded
    found = [f for f in diagnose(snap) if f.kind == "dangling"]
    assert any(f"{work.address:#x}" in f.what and "lies in no loaded module" in " ".join(f.evidence)
               for f in found)


def test_log_history_without_a_current_stall(idle_snap):
    snap = copy.deepcopy(idle_snap)
    snap.log = [LogRecord(12.5, "BUG: workqueue lockup - pool cpus=1 node=0 flags=0x0 nice=0 stuck for 31s!"),
                LogRecord(13.0, "workqueue: foo_fn [bar] hogged CPU for >10000us 4 times, consider switching "
                                "to WQ_UNBOUND")]
    found = diagnose(snap)
    assert [f.kind for f in found] == ["log", "log"] and all(f.severity == "info" for f in found)
