# SPDX-License-Identifier: LGPL-2.1-or-later
"""The crash record and its diagnosis, on report lines as Debian's 7.2 printed them and doctored snapshots.

The VM tests (tests/vm/test_crash.py) crash real kernels; these check each rule can fail.
"""

import msgspec
import pytest
from drgn import FaultError

from wqinspect.capture.base import fault_text
from wqinspect.capture.crash import log_trace, parse_report, report_lines
from wqinspect.diagnose import diagnose, fails
from wqinspect.diagnose.crash import CrashCause
from wqinspect.snapshot import (BrokenTimer, Crash, CrashAddress, CrashFrame, DelayedTimer, FuncRef, KernelInfo,
                                LogRecord, Module, ReadWarning, Snapshot, Target, TaskRef, TaskStack, Work, Worker,
                                Workqueue)
from wqinspect.snapshot.io import SnapshotError, decode

from .conftest import SNAPSHOTS

#: The oops of the oops-timer scenario on 7.2.13+deb14-cloud-amd64 (console, timestamps dropped).
OOPS_TIMER = """\
wqi_crash: delayed works queued: static ffffffffc027e0e0, kmalloc'ed ffff88f8c1efa0c0
BUG: unable to handle page fault for address: ffffffffc027e108
#PF: supervisor write access in kernel mode
Oops: Oops: 0002 [#1] SMP NOPTI
CPU: 0 UID: 0 PID: 0 Comm: swapper/0 Tainted: G           OE       7.2.13+deb14-cloud-amd64 #1
RIP: 0010:__run_timers+0x13a/0x330
CR2: ffffffffc027e108 CR3: 0000000002e37000 CR4: 00000000000006f0
Call Trace:
 <IRQ>
 timer_expire_remote+0x50/0x80
 ? timerqueue_del+0x2e/0x50
 tmigr_handle_remote+0x3b2/0x560
 handle_softirqs+0xd9/0x310
 </IRQ>
 <TASK>
 asm_sysvec_apic_timer_interrupt+0x1a/0x20
RIP: 0010:pv_native_safe_halt+0xf/0x20
 default_idle+0x9/0x20
 </TASK>
Modules linked in: pvpanic_pci pvpanic qemu_fw_cfg [last unloaded: wqi_crash(OE)]
CR2: ffffffffc027e108
---[ end trace 0000000000000000 ]---
RIP: 0010:__run_timers+0x13a/0x330
Kernel panic - not syncing: Fatal exception in interrupt
"""

LIST_DEL = ("list_del corruption. next->prev should be ffffffffc04cf0a8, but was ffffffffc0604014. "
            "(next=ffff8be00220e808)")
MODULE_AREA = (0xffffffffc0000000, 0xffffffffff000000)


def records(text: str):
    return [(float(i), line) for i, line in enumerate(text.splitlines())]


def crash_from(text: str) -> Crash:
    recs = records(text)
    c = Crash(cpu=0, lines=report_lines(recs))
    parse_report(c)
    c.log_trace = log_trace(recs)
    return c


def test_report_is_parsed():
    c = crash_from(OOPS_TIMER)
    assert c.panic == "Fatal exception in interrupt"
    assert c.rip == "__run_timers+0x13a/0x330"  # the oops' RIP, not the interrupted idle task's
    assert c.fault_address == 0xffffffffc027e108
    assert c.last_unloaded == "wqi_crash"
    assert c.lines[0].text.startswith("BUG: unable to handle page fault")
    assert not any("queued" in r.text for r in c.lines)  # lines before the report are not kept
    # The kernel's own trace: reliable entries only, both stacks of the report.
    assert c.log_trace == ["timer_expire_remote+0x50/0x80", "tmigr_handle_remote+0x3b2/0x560",
                           "handle_softirqs+0xd9/0x310", "asm_sysvec_apic_timer_interrupt+0x1a/0x20",
                           "default_idle+0x9/0x20"]


#: The watchdog's panic (workqueue.panic_on_stall=1) on the hog's own CPU, as the 6.12 watchdog kernel printed it:
#: the hog's backtrace, with a RIP of its own, comes before the oops.
STALL_PANIC = """\
BUG: workqueue lockup - pool cpus=1 node=0 flags=0x0 nice=0 stuck for 9s!
Showing backtraces of running workers in stalled CPU-bound worker pools:
pool 6:
CPU: 1 UID: 0 PID: 28 Comm: kworker/1:1 Tainted: G           O       6.12.117 #1
Workqueue: events wqi_hog_fn [wqi]
RIP: 0010:wqi_hog_fn+0x31/0x50 [wqi]
kernel BUG at kernel/workqueue.c:7589!
Oops: invalid opcode: 0000 [#1] SMP
CPU: 1 UID: 0 PID: 28 Comm: kworker/1:1 Tainted: G           O       6.12.117 #1
RIP: 0010:wq_watchdog_timer_fn+0x188/0x260
Call Trace:
 <IRQ>
 call_timer_fn.constprop.0+0xe/0x70
 run_timer_softirq+0x2a4/0x2f0
 </IRQ>
Modules linked in: wqi(O)
RIP: 0010:wq_watchdog_timer_fn+0x188/0x260
Kernel panic - not syncing: Fatal exception in interrupt
"""


def test_the_oops_rip_comes_after_the_die_header():
    c = crash_from(STALL_PANIC)
    assert c.rip == "wq_watchdog_timer_fn+0x188/0x260"  # not the hog's, printed before the oops
    # 5.10's header has no "Oops: " prefix
    c = crash_from(STALL_PANIC.replace("Oops: invalid opcode", "invalid opcode"))
    assert c.rip == "wq_watchdog_timer_fn+0x188/0x260"


def test_list_corruption_names_the_entry_and_its_neighbour():
    c = Crash(lines=report_lines(records(LIST_DEL + "\nkernel BUG at lib/list_debug.c:65!\n")))
    named = dict((role, a) for a, role in parse_report(c))
    assert named["list entry"] == 0xffffffffc04cf0a8
    assert named["next"] == 0xffff8be00220e808
    c = Crash(lines=report_lines(records("list_del corruption, ffff8be00220e808->next is NULL\n")))
    assert parse_report(c) == [(0xffff8be00220e808, "list entry")]


def test_hung_task_report():
    c = crash_from("INFO: task wqi_crash_flush:80 blocked for more than 4 seconds.\n"
                   "Call Trace:\n __schedule+0x3c/0x100\n __flush_work+0x1e1/0x2c0\n"
                   " wqi_crash_flusher_fn+0x1f/0x30 [wqi_crash]\n</TASK>\n"
                   "Kernel panic - not syncing: hung_task: blocked tasks\n")
    assert [(h.comm, h.pid, h.seconds) for h in c.hung_tasks] == [("wqi_crash_flush", 80, 4)]
    assert "__flush_work+0x1e1/0x2c0" in c.log_trace
    assert "wqi_crash_flusher_fn+0x1f/0x30 [wqi_crash]" in c.log_trace


def test_excluded_page_is_said_so():
    e = FaultError("could not read memory from kdump: Excluded page: 0xffff88f8c105b800", 0xffff88f8c105b800)
    assert fault_text(e).startswith("page excluded by makedumpfile -d 31 at 0xffff88f8c105b800")
    other = FaultError("could not find memory segment", 0x10)
    assert fault_text(other) == "FaultError: could not find memory segment: 0x10"


# ---- diagnosis on doctored snapshots

def snapshot(crash: Crash | None, **kw) -> Snapshot:
    snap = Snapshot(kernel=KernelInfo(release="7.2.13+deb14-cloud-amd64", hz=250, jiffies=1000,
                                      online_cpus=[0], possible_cpus=[0, 1], module_area=MODULE_AREA),
                    target=Target(mode="vmcore", source="test", live=False),
                    kernel_image=(0xffffffff81000000, 0xffffffff83000000),
                    crash=crash, **kw)
    if not kw.get("modules"):
        snap.modules = [Module("pvpanic", [(0xffffffffc0100000, 0xffffffffc0110000)])]
    return snap


def timer_crash() -> Crash:
    c = crash_from(OOPS_TIMER)
    c.task = TaskRef(0, "swapper/0", 0xffffffff82a00000, "R")
    c.frames = [CrashFrame(pc=0xffffffff81100000, function="delay_tsc", offset=0x37, size=0x9d, interrupted=True),
                CrashFrame(pc=0xffffffff81200000, function="panic", offset=0x6b, size=0x6b),
                CrashFrame(pc=0xffffffff81300000, function="__run_timers", offset=0x13a, size=0x324,
                           inlined=["hlist_move_list", "collect_expired_timers"], interrupted=True)]
    return c


def twin() -> Work:
    return Work(address=0xffff88f8c1efa0c0, func=FuncRef(0xffffffffc040319d), where="delayed",
                delayed=DelayedTimer(timer=0xffff88f8c1efa0e0, expires=2000, timer_cpu=0))


def test_oops_timer_is_the_dangling_delayed_work():
    snap = snapshot(timer_crash(), broken_timers=[BrokenTimer(0, 1, 0xffffffffc027e100, "unreadable")],
                    works=[twin()], last_unloaded_module="wqi_crash")
    found = diagnose(snap)
    first = found[0]
    assert first.kind == "crash" and first.severity == "critical"
    assert first.data.cause == CrashCause.DANGLING_TIMER
    assert first.signature == "wq-dangling-timer:wqi_crash"
    assert first.data.timer == 0xffffffffc027e100
    assert "delayed_work_timer_fn" in first.data.delayed_evidence
    assert "cancel_delayed_work_sync()" in first.suggestion
    assert any("__run_timers+0x13a/0x324 (exception frame)" in e for e in first.evidence)
    # The dangling timer is the crash: not a second finding.
    assert not any(f.kind == "dangling" and "timer wheel" in f.what for f in found)
    assert fails(found)


def test_a_crash_elsewhere_is_no_workqueue_crash():
    c = timer_crash()
    c.frames[2].function, c.frames[2].inlined = "sysrq_handle_crash", []
    c.rip = "sysrq_handle_crash+0x16/0x20"
    found = diagnose(snapshot(c))
    assert len(found) == 1
    assert found[0].severity == "info" and found[0].what.startswith("not a workqueue crash")
    assert found[0].signature == "crash-not-wq:sysrq_handle_crash"
    assert not fails(found)  # exit 0: nothing wrong with workqueues
    # ... unless the crashed task could not be read: then it cannot be told.
    c.task = None
    found = diagnose(snapshot(c))
    assert found[0].data.cause == CrashCause.UNKNOWN and not fails(found)


def test_worker_in_unloaded_code():
    c = crash_from("Oops: int3: 0000 [#1] SMP NOPTI\nWorkqueue: events_long 0xffffffffc060319d\n"
                   "RIP: 0010:0xffffffffc060319e\nModules linked in: pvpanic [last unloaded: wqi_crash(OE)]\n"
                   "Kernel panic - not syncing: Fatal exception in interrupt\n")
    c.task = TaskRef(58, "kworker/1:2", 0xffff8e5101000000, "R")
    worker = Worker(address=0xffff8e5101100000, pool_id=6, task=c.task, desc="events_long",
                    current_work=0xffff8e5102ef5240, current_func=FuncRef(0xffffffffc060319d))
    first = diagnose(snapshot(c, workers=[worker]))[0]
    assert first.data.cause == CrashCause.WORK_FUNC_UNLOADED
    assert first.signature == "wq-work-func-unloaded:wqi_crash"
    assert first.data.pool == 6 and first.data.work == 0xffff8e5102ef5240
    # Without the worker (its page left out of the dump), the oops header still says it.
    first = diagnose(snapshot(c))[0]
    assert first.data.cause == CrashCause.WORK_FUNC_UNLOADED and first.data.wq_name == "events_long"
    # A function in a loaded module is a crash in that work function, not an unloaded one.
    worker.current_func = FuncRef(0xffffffffc0100010, "pvpanic_fn", "pvpanic")
    first = diagnose(snapshot(c, workers=[worker]))[0]
    assert first.data.cause == CrashCause.IN_WORK and first.signature == "wq-crash-in-work:pvpanic_fn"


def test_freed_work_item():
    c = crash_from(LIST_DEL + "\nkernel BUG at lib/list_debug.c:65!\nOops: invalid opcode: 0000 [#1] SMP NOPTI\n"
                   "Workqueue:  0x0 (wqi_crash_ordered)\nKernel panic - not syncing: Fatal exception\n")
    c.addresses = [CrashAddress(0xffffffffc04cf0a8, "list entry", "module", "wqi_crash", "wqi_crash_first"),
                   CrashAddress(0xffff8be00220e808, "next", "slab", slab_cache="kmalloc-32", slab_allocated=False,
                                slab_object=0xffff8be00220e800)]
    neighbour = Work(address=0xffffffffc04cf0a0, func=FuncRef(0xffffffffc0400000, "wqi_crash_item_fn", "wqi_crash"),
                     where="inactive", wq_name="wqi_crash_ordered", pool_id=8)
    snap = snapshot(c, works=[neighbour],
                    modules=[Module("wqi_crash", [(0xffffffffc0400000, 0xffffffffc0500000)])])
    first = diagnose(snap)[0]
    assert first.data.cause == CrashCause.WORK_FREED
    assert first.data.work == 0xffff8be00220e800
    assert first.data.slab_cache == "kmalloc-32" and first.data.slab_free is True
    assert first.data.pool == 8 and first.data.module == "wqi_crash"
    assert first.signature == "wq-work-freed:wqi_crash_ordered"
    assert any("a free object of slab cache kmalloc-32" in e for e in first.evidence)


def test_no_crash_no_crash_finding():
    assert diagnose(snapshot(None)) == []


def test_crash_record_round_trips():
    snap = snapshot(timer_crash())
    back = decode(msgspec.json.encode(snap))
    assert back.crash == snap.crash
    assert back.crash.exception_frame.function == "__run_timers"
    with pytest.raises(SnapshotError):
        decode(msgspec.json.encode(snap).replace(b'"offset":314', b'"offset":-1'))


def test_unreliable_trace_is_kept_marked_when_nothing_else():
    text = ("BUG: unable to handle page fault for address: ffffffffc041c161\nCall Trace:\n <TASK>\n"
            " ? process_one_work+0x1c7/0x380\n ? worker_thread+0x4d/0x380\n </TASK>\n")
    assert crash_from(text).log_trace == ["? process_one_work+0x1c7/0x380", "? worker_thread+0x4d/0x380"]


def test_a_panic_without_oops_is_named_by_the_caller_of_panic():
    c = crash_from("Kernel panic - not syncing: sysrq triggered crash\n")
    c.task = TaskRef(122, "sh", 0xffff8d8f02000000, "R")
    c.frames = [CrashFrame(pc=0xffffffff81100000, function="delay_tsc", interrupted=True),
                CrashFrame(pc=0xffffffff81200000, function="panic"),
                CrashFrame(pc=0xffffffff81300000, function="sysrq_handle_crash"),
                CrashFrame(pc=0x47b7a0, function=None, interrupted=True)]  # user space: not an exception frame
    assert c.exception_frame is None
    first = diagnose(snapshot(c))[0]
    assert first.signature == "crash-not-wq:sysrq_handle_crash" and first.severity == "info"


def test_hung_task_in_a_flush_from_the_printed_stack_alone():
    """The dump lacks the task (makedumpfile left its page out): the detector's printed stack still ties it."""
    text = ("INFO: task wqi_crash_flush:80 blocked for more than 4 seconds.\nCall Trace:\n"
            " __schedule+0x3c/0x100\n __flush_work+0x1e1/0x2c0\n wqi_crash_flusher_fn+0x1f/0x30 [wqi_crash]\n"
            "</TASK>\nKernel panic - not syncing: hung_task: blocked tasks\n")
    c = crash_from(text)
    first = diagnose(snapshot(c))[0]
    assert first.data.cause == CrashCause.HUNG_FLUSH and first.data.module == "wqi_crash"
    assert first.signature == "wq-hung-flush:wqi_crash_flusher_fn"
    # A hung task elsewhere (no flush in its stack) is no workqueue matter.
    c = crash_from(text.replace("__flush_work", "mutex_lock").replace(" [wqi_crash]", ""))
    c.task = TaskRef(29, "khungtaskd", 0xffff8d8f03000000, "S")
    snap = snapshot(c)
    snap.stacks = [TaskStack(task=c.task, why="on cpu 1")]
    assert diagnose(snap)[0].data.cause == CrashCause.NOT_WORKQUEUE


# ---- snapshots of real crashes (make crash-fixtures: fixtures/snapshots/<suite>-crash-<scenario>[-d31].json)

#: scenario -> (cause, signature) the diagnosis of its snapshot must give.
CRASH_FIXTURES = {
    "oops-timer": (CrashCause.DANGLING_TIMER, "wq-dangling-timer:wqi_crash"),
    "oops-work-unloaded": (CrashCause.WORK_FUNC_UNLOADED, "wq-work-func-unloaded:wqi_crash"),
    "oops-work-free": (CrashCause.WORK_FREED, "wq-work-freed:wqi_crash_ordered"),
    "hung-flush": (CrashCause.HUNG_FLUSH, "wq-hung-flush:wqi_crash_flusher_fn"),
    "sysrq-c": (CrashCause.NOT_WORKQUEUE, "crash-not-wq:sysrq_handle_crash"),
    "stall-panic": (CrashCause.STALL_PANIC, "wq-lockup:wqi_hog_fn"),
}


def _crash_fixtures():
    files = sorted(SNAPSHOTS.glob("*-crash-*.json"))
    return files or [pytest.param(None, marks=pytest.mark.skip(reason="no crash fixtures: make crash-fixtures"))]


@pytest.mark.parametrize("path", _crash_fixtures(), ids=lambda p: p.stem if p else "none")
def test_real_crash_snapshots(path):
    snap = Snapshot.load(str(path))
    scenario = next(s for s in CRASH_FIXTURES if f"-crash-{s}" in path.stem)
    cause, signature = CRASH_FIXTURES[scenario]
    assert snap.crash is not None and snap.crash.lines
    first = diagnose(snap)[0]
    excluded = [w for w in snap.warnings if "page excluded by makedumpfile" in w.message]
    if path.stem.endswith("-d31") and first.data.cause != cause:
        assert first.data.cause == CrashCause.UNKNOWN and excluded  # never a wrong cause
        return
    assert (first.data.cause, first.signature) == (cause, signature)
    assert fails([first]) == (cause != CrashCause.NOT_WORKQUEUE)


def test_a_workqueue_missing_from_a_filtered_dump_is_no_dangling_work():
    """makedumpfile -d 31 may leave a workqueue's page out: its delayed works are not 'aimed at a destroyed one'."""
    work = Work(address=0xffff8b471f531200, func=FuncRef(0xffffffff81400000, "vmstat_update"), where="delayed",
                wq=0xffff8b4701000000, wq_name="mm_percpu_wq",
                delayed=DelayedTimer(timer=0xffff8b471f531220, expires=2000, timer_cpu=0))
    other = Workqueue(address=0xffff8b4702000000, name="events")
    snap = snapshot(None, works=[work], workqueues=[other])
    assert [f.kind for f in diagnose(snap)] == ["dangling"]  # as read: its workqueue is gone
    snap = snapshot(None, works=[work], workqueues=[other],
                    warnings=[ReadWarning("workqueues", "page excluded by makedumpfile -d 31 at 0xffff8b4701000000")])
    assert diagnose(snap) == []


def _stall_panic_fixture() -> Snapshot:
    path = SNAPSHOTS / "watchdog-crash-stall-panic.json"
    if not path.exists():
        pytest.skip("no watchdog-crash-stall-panic.json: make crash-fixtures KERNELS=watchdog")
    return Snapshot.load(str(path))


def _without_the_watchdog(c: Crash) -> None:
    c.frames = [f for f in c.frames if f.function not in ("wq_watchdog_timer_fn", "panic_on_wq_watchdog")]
    c.log_trace = [x for x in c.log_trace if "wq_watchdog" not in x]


def test_stall_panic_carries_the_stall_and_its_replay():
    snap = _stall_panic_fixture()
    findings = diagnose(snap)
    first = findings[0]
    assert first.data.cause == CrashCause.STALL_PANIC and first.data.stall is not None
    pool = first.data.stall.pool
    assert first.data.pool == pool and first.data.func.name == "wqi_hog_fn"
    printed = first.data.stall.printed
    assert printed and all(p.seconds - 1 <= p.replayed < p.seconds + 2 for p in printed)
    assert any("replayed for that moment" in e for e in first.evidence)
    assert not [f for f in findings[1:] if f.kind == "stall" and f.data.pool == pool]  # said once, as the crash


def test_stall_panic_needs_the_watchdog_in_the_crash():
    """The same dump with the watchdog's frames and panic taken out of the crash is no stall panic."""
    snap = _stall_panic_fixture()
    _without_the_watchdog(snap.crash)
    snap.crash.rip = "default_idle+0x13/0x20"
    first = diagnose(snap)[0]
    assert first.data.cause != CrashCause.STALL_PANIC
    # ... and without the stalled pool's queue, the watchdog's panic is still named, with no stall to tie it to
    snap = _stall_panic_fixture()
    for pool in snap.pools:
        pool.worklist_len = 0
    snap.works = [w for w in snap.works if w.where != "pending"]
    snap.reindex()
    first = diagnose(snap)[0]
    assert (first.data.cause, first.signature, first.data.stall) == (CrashCause.STALL_PANIC, "wq-lockup:unknown", None)


def test_stall_panic_from_a_later_kernels_panic_message():
    """7.x panics with its own words instead of a BUG_ON() in the watchdog (and with panic_on_stall_time)."""
    for message in ("workqueue: 1 stall(s) exceeded threshold 1",
                    "workqueue: stall lasted 45s, exceeding threshold 45s"):
        snap = _stall_panic_fixture()
        _without_the_watchdog(snap.crash)
        snap.crash.panic = message
        assert diagnose(snap)[0].data.cause == CrashCause.STALL_PANIC
    snap.crash.panic = "Fatal exception in interrupt"
    assert diagnose(snap)[0].data.cause != CrashCause.STALL_PANIC


@pytest.mark.parametrize("rip", ["0xnothex+0x1/0x2", "?", " x", "", "0x" + "f" * 40])
def test_a_doctored_rip_is_no_internal_error(rip):
    snap = Snapshot.load(str(SNAPSHOTS / "bookworm-crash-oops-timer.json"))
    snap.crash.rip = rip
    assert diagnose(snap)[0].kind == "crash"


@pytest.mark.parametrize("line", ["Workqueue: events 0xfffffffg", "Workqueue: events 0x" + "f" * 30])
def test_a_doctored_workqueue_line_is_no_internal_error(line):
    snap = Snapshot.load(str(SNAPSHOTS / "bookworm-crash-oops-work-unloaded.json"))
    snap.workers = []
    snap.reindex()
    snap.crash.lines = [LogRecord(1.0, line)]
    first = diagnose(snap)[0]
    assert first.data.cause == CrashCause.IN_WORK and first.data.func.name == line.split()[-1]
