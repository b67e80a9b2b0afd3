# SPDX-License-Identifier: LGPL-2.1-or-later
"""diagnose on snapshots captured from real kernels, and on doctored ones for the rarer findings."""

import copy
import json
import re

import pytest
from click.testing import CliRunner

from wqinspect.cli import main
from wqinspect.diagnose import Finding, Kind, damage, diagnose, fails, facts, pool_description
from wqinspect.snapshot import LogRecord, Severity, TaskRef, TaskStack, Watchdog

from .conftest import SNAPSHOTS, fixture_snapshot


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
    assert dangling.data.last_unloaded_module == "wqi_leak"
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
    printed = stall[0].data.printed
    assert printed and all(abs(p.replayed - p.seconds) <= 1 for p in printed)
    assert any(f.kind == "hog" and f.where == "hog report table" and "wqi_hog_fn" in f.what for f in found)


def test_a_stall_the_kernel_reported_stays_one_above_thresh():
    """--thresh longer than the stall: the kernel's own report (and cpu_stall) still make it a lockup."""
    snap = fixture_snapshot("watchdog-stall")
    stall = [f for f in diagnose(snap, thresh=20) if f.kind == "stall"]
    assert [f.severity for f in stall] == ["critical"] and stall[0].data.printed
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
    assert dead[0].signature == f"wq-flush-deadlock:{holder.current_func.name}"


def test_dangling_function_pointer():
    snap = copy.deepcopy(fixture_snapshot("trixie-scenarios"))
    work = next(w for w in snap.works if w.wq_name == "wqi_delayed")
    snap.modules = [m for m in snap.modules if m.name != "wqi"]  # as if wqi were unloaded
    found = [f for f in diagnose(snap) if f.kind == "dangling"]
    assert any(f"{work.address:#x}" in f.what and "lies in no loaded module" in " ".join(f.evidence)
               for f in found)
    assert "wq-dangling-work:wqi_delayed_fn" in {f.signature for f in found}


def test_log_history_without_a_current_stall(idle_snap):
    snap = copy.deepcopy(idle_snap)
    snap.log = [LogRecord(12.5, "BUG: workqueue lockup - pool cpus=1 node=0 flags=0x0 nice=0 stuck for 31s!"),
                LogRecord(13.0, "workqueue: foo_fn [bar] hogged CPU for >10000us 4 times, consider switching "
                                "to WQ_UNBOUND")]
    found = diagnose(snap)
    assert [f.kind for f in found] == ["log", "log"] and all(f.severity == "info" for f in found)


# ---- signatures, typed data, exit codes (issues 11.4, 13.6)

SIGNATURE_RE = re.compile(r"^wq-[a-z-]+:[A-Za-z_][\w.\[\]=+ -]*$")


def test_signatures_name_the_bug_not_the_machine(suite, stall_snap):
    """The same stall, hog and leak on three kernels and boots give the same signatures."""
    found = diagnose(stall_snap, thresh=5)
    sigs = {f.signature for f in found}
    assert {"wq-lockup:wqi_hog_fn", "wq-dangling-timer:wqi_leak"} <= sigs
    assert ("wq-hog:wqi_hog_fn" in sigs) == (suite != "bookworm")  # 6.1 has no CPU-hog detection
    assert all(SIGNATURE_RE.match(s) and "0x" not in s for s in sigs), sigs
    # Another boot: other addresses, pids and CPU; the same bugs.
    snap = copy.deepcopy(stall_snap)
    for w in snap.workers:
        if w.task:
            w.task.pid += 1000
    for st in snap.stacks:
        st.task.pid += 1000
    for t in snap.broken_timers:
        t.address += 0x1000
        t.cpu = 1 - t.cpu
    snap.reindex()
    assert {f.signature for f in diagnose(snap, thresh=5)} == sigs


def test_waits_and_rescuers_have_signatures(scenarios_snap, suite):
    sigs = {f.signature for f in diagnose(scenarios_snap)}
    assert {"wq-flush-wait:wqi_block_fn", "wq-flush-wait:wqi_noop_fn", "wq-flush-workqueue:wqi_flush"} <= sigs
    assert any(f.signature == "wq-rescuer:wqi_mayday" for f in diagnose(fixture_snapshot(f"{suite}-mayday")))


def test_finding_data_is_typed(stall_snap):
    found = diagnose(stall_snap, thresh=5)
    stall = next(f for f in found if f.kind == Kind.STALL)
    assert isinstance(stall.data, facts.Stall) and stall.data.state == facts.StallState.LOCKUP
    timer = next(f for f in found if f.kind == Kind.DANGLING)
    assert isinstance(timer.data, facts.DanglingTimer) and timer.data.address == stall_snap.broken_timers[0].address


def test_fail_on():
    info = Finding(severity=Severity.INFO, kind=Kind.WAIT, what="", where="", signature="wq-x:y")
    warning = Finding(severity=Severity.WARNING, kind=Kind.HOG, what="", where="", signature="wq-x:y")
    assert not fails([info]) and fails([info], "info") and fails([warning]) and not fails([warning], "critical")
    assert not fails([])


def run_cli(*args):
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code in (0, 1), r.output
    return r


def test_info_findings_alone_exit_0_by_default():
    """A task briefly in flush_work() on a healthy kernel is no failure for a CI gate (--fail-on warning)."""
    path = str(SNAPSHOTS / "sid-scenarios.json")
    assert {f.severity for f in diagnose(fixture_snapshot("sid-scenarios"))} == {"info"}
    assert run_cli("diagnose", "--from", path).exit_code == 0
    assert run_cli("diagnose", "--from", path, "--fail-on", "info").exit_code == 1
    stall = str(SNAPSHOTS / "watchdog-stall.json")  # a critical lockup
    assert run_cli("diagnose", "--from", stall, "--fail-on", "critical").exit_code == 1


def test_json_has_signatures_and_hex_addresses():
    r = run_cli("diagnose", "--json", "--thresh", "5", "--from", str(SNAPSHOTS / "sid-stall.json"))
    found = json.loads(r.stdout)["findings"]
    timer = next(f for f in found if f["kind"] == "dangling")
    assert timer["signature"] == "wq-dangling-timer:wqi_leak"
    assert timer["data"]["address"].startswith("0xffffffffc"), timer["data"]
    stall = next(f for f in found if f["kind"] == "stall")
    assert stall["signature"] == "wq-lockup:wqi_hog_fn" and all(a.startswith("0x") for a in stall["data"]["busy"])


# ---- damaged input: warnings, not findings (issue 14.3)

def _stalled_pool(snap):
    return next(p for p in snap.pools if p.worklist_len and p.cpu == 1 and p.kind == "cpu")


@pytest.mark.parametrize("years", [16472, -3])
def test_implausible_progress_stamp_is_damage_not_a_stall(years):
    """Memory read as a pool: a stamp years back (or ahead) is no 'stuck for 519493390110s'."""
    snap = copy.deepcopy(fixture_snapshot("sid-stall"))
    pool = _stalled_pool(snap)
    hz = snap.kernel.hz
    pool.progress_ts = (snap.kernel.jiffies - years * 365 * 86400 * hz) % (1 << 64)
    assert not [f for f in diagnose(snap, thresh=5) if f.kind == "stall"]
    d = damage(snap)
    assert pool.id in d.pools and any(w.object == f"pool {pool.id}" for w in d.warnings)
    # The same pool undamaged is a lockup: the detector did not just go blind.
    assert [f.kind for f in diagnose(fixture_snapshot("sid-stall"), thresh=5)].count("stall") == 1


def test_all_ones_worker_flags_are_damage_not_a_hog():
    snap = copy.deepcopy(fixture_snapshot("sid-stall"))
    hog = next(w for w in snap.workers if w.current_func and w.current_func.name == "wqi_hog_fn")
    assert any(f.kind == "hog" for f in diagnose(snap, thresh=5))
    hog.flags = (1 << 64) - 1
    hog.flag_names = [name for name, _ in snap.kernel.features.worker_flags]
    assert not any(f.kind == "hog" for f in diagnose(snap, thresh=5))
    assert hog.address in damage(snap).workers


def test_unknown_pool_flags_and_negative_nice_are_damage():
    snap = copy.deepcopy(fixture_snapshot("sid-stall"))
    pool = _stalled_pool(snap)
    pool.nice = -5  # a per-cpu normal pool runs at nice 0
    d = damage(snap)
    assert pool.id in d.pools and "nice -5" in d.warnings[0].message
    assert not [f for f in diagnose(snap, thresh=5) if f.kind == "stall"]
    snap = copy.deepcopy(fixture_snapshot("sid-stall"))
    _stalled_pool(snap).flags |= 1 << 40
    assert "bits the kernel does not define" in damage(snap).warnings[0].message
    assert damage(fixture_snapshot("sid-stall")).warnings == []


def test_undefined_workqueue_flags_are_damage():
    snap = copy.deepcopy(fixture_snapshot("sid-scenarios"))
    wq = snap.workqueues_named("wqi_reclaim")[0]
    wq.maydays = [wq.pwqs[0].address]
    assert any(f.signature == "wq-mayday:wqi_reclaim" for f in diagnose(snap))
    wq.flags = (1 << 64) - 1
    d = damage(snap)
    assert wq.address in d.workqueues and d.warnings[0].object == "workqueue wqi_reclaim"
    assert not any(f.kind == "rescuer" and "wqi_reclaim called" in f.what for f in diagnose(snap))


def test_fixtures_are_plausible():
    for path in sorted(SNAPSHOTS.glob("*.json")):
        snap = fixture_snapshot(path.stem)
        if any("excluded by makedumpfile" in w.message for w in snap.warnings):
            # makedumpfile 1.7.2 -d 31 leaves the slab pages of 6.12+ out: no workqueue is read, and
            # saying so is right (README, "Post-mortem of a crash").
            assert damage(snap).no_workqueues == (snap.workqueues == []), path.stem
            continue
        assert damage(snap).warnings == [], path.stem


def test_no_workqueues_is_damage_not_dangling_work(scenarios_snap):
    """A damaged workqueues list reads as empty: delayed works are not 'dangling' for that."""
    snap = copy.deepcopy(scenarios_snap)
    snap.workqueues = []
    snap.reindex()
    assert damage(snap).no_workqueues
    assert not [f for f in diagnose(snap) if f.kind == "dangling"]
    # One workqueue gone while others remain is still dangling work.
    snap = copy.deepcopy(scenarios_snap)
    snap.workqueues = [wq for wq in snap.workqueues if wq.name != "wqi_delayed"]
    snap.reindex()
    assert any("no longer exists" in " ".join(f.evidence) for f in diagnose(snap) if f.kind == "dangling")


def test_diagnose_says_what_it_did_not_believe(tmp_path):
    snap = copy.deepcopy(fixture_snapshot("sid-stall"))
    _stalled_pool(snap).progress_ts = (snap.kernel.jiffies + 10**9) % (1 << 64)
    path = tmp_path / "damaged.json"
    path.write_text(snap.dumps())
    out = json.loads(run_cli("diagnose", "--json", "--thresh", "5", "--from", str(path)).stdout)
    assert any("in the future" in w["message"] for w in out["warnings"]), out["warnings"]
    assert not [f for f in out["findings"] if f["kind"] == "stall"]
    table = run_cli("diagnose", "--thresh", "5", "--from", str(path)).stdout
    assert "in the future" in table


def test_log_line_that_is_just_hogged_cpu():
    snap = copy.deepcopy(fixture_snapshot("sid-idle"))
    snap.log = [LogRecord(1.0, "hogged CPU")]
    found = diagnose(snap)
    assert [(f.kind, f.signature) for f in found] == [("log", "wq-hog:unknown")]


# ---- delayed works stranded on an offline CPU (issue 13.9)

def test_delayed_work_on_an_offline_cpus_wheel():
    snap = copy.deepcopy(fixture_snapshot("trixie-scenarios"))
    assert not [f for f in diagnose(snap) if f.kind == "stranded"]
    snap.kernel.online_cpus = [0]  # CPU 1 went offline after the timers were queued on its wheel
    stranded = [f for f in diagnose(snap) if f.kind == "stranded"]
    on_cpu1 = [w for w in snap.works if w.where == "delayed" and w.delayed.timer_cpu == 1]
    assert len(stranded) == len(on_cpu1) > 0
    mine = [f for f in stranded if f.signature == "wq-offline-timer:wqi_delayed_fn"]
    assert len(mine) == 2 and all(f.severity == "warning" for f in mine)
    assert "CPU 1, which is offline" in mine[0].what and mine[0].data.timer_cpu == 1
    assert not any("warned" in e for e in mine[0].evidence)
    # 7.x warns when a delayed work is queued on an offline CPU (and queues it all the same).
    snap.log = [LogRecord(4.5, "WARNING: kernel/workqueue.c:2572 at __queue_delayed_work+0x55/0x130, CPU#0: insmod/1")]
    mine = [f for f in diagnose(snap) if f.signature == "wq-offline-timer:wqi_delayed_fn"]
    assert "the kernel warned when a delayed work was queued: [4.500] WARNING: " in mine[0].evidence[-1]
    # A wheel of a CPU the machine does not have is damage, not a stranded timer.
    on_cpu1[0].delayed.timer_cpu = 7
    assert len([f for f in diagnose(snap) if f.kind == "stranded"]) == len(on_cpu1) - 1


def test_blocked_in_flush_is_signed_by_its_caller():
    snap = copy.deepcopy(fixture_snapshot("sid-idle"))
    snap.stacks = [TaskStack(task=TaskRef(pid=4242, comm="modprobe"), why="blocked in flush",
                             frames=["context_switch", "__schedule", "schedule", "schedule_timeout",
                                     "__wait_for_common", "__flush_work", "+0x1", "mydrv_remove+0x12/0x40 [mydrv]",
                                     "pci_device_remove"])]
    snap.reindex()
    found = diagnose(snap)
    assert [(f.kind, f.severity, f.signature) for f in found] == [("wait", "info", "wq-flush-blocked:mydrv_remove")]
    assert "4242" not in found[0].signature


def test_unknown_kernel_image_makes_no_dangling_work():
    """Without the kernel image's range, kernel functions are not 'in no loaded module': no finding, a warning."""
    snap = fixture_snapshot("sid-idle")
    assert snap.works and not [f for f in diagnose(snap) if f.kind == Kind.DANGLING]
    snap.kernel_image = None
    assert not [f for f in diagnose(snap) if f.kind == Kind.DANGLING]
    assert any(w.object == "kernel image" for w in damage(snap).warnings)
    # ... while a function in module memory no loaded module covers is still judged unloaded
    area = snap.kernel.module_area
    snap.works[0].func = type(snap.works[0].func)(area[0] + 0x1000, None, None)
    snap.modules = [m for m in snap.modules if not m.covers(area[0] + 0x1000)]
    assert [f for f in diagnose(snap) if f.kind == Kind.DANGLING]


@pytest.mark.parametrize("field,value,message", [("nice", 100, "outside -20..19"), ("nice", -(1 << 31), "outside"),
                                                 ("cpu", -7, "a negative id, cpu or node")])
def test_what_a_damaged_kernel_holds_is_saved_and_called_damage(field, value, message):
    """A value the kernel's C type holds is written and read back; wqinspect calls it damage, not a finding."""
    from wqinspect.snapshot.io import decode

    snap = copy.deepcopy(fixture_snapshot("sid-stall"))
    pool = _stalled_pool(snap)
    setattr(pool, field, value)
    back = decode(snap.dumps().encode())
    assert getattr(back.pool(pool.id), field) == value
    d = damage(back)
    assert pool.id in d.pools and any(message in w.message for w in d.warnings)
    assert not [f for f in diagnose(back, thresh=5) if f.kind == "stall"]
