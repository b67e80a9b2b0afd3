# SPDX-License-Identifier: LGPL-2.1-or-later
"""A fast subset of the corruption suite (testbed/corrupt.py; `make fuzz` runs the full one).

An ELF vmcore of a real kernel with every scenario loaded; a few dozen seeded mutants damage the
kernel objects wqinspect reads.  No exit 3, no traceback, no timeout, no peak RSS over twice the
undamaged run's, no silent wrong answer.  And one damage that the readers must see through: a timer-wheel
``pprev`` link damaged under a pending delayed work.
"""

import json
import os
import subprocess
import sys

import pytest

from .conftest import DEBIAN_KERNELS

MUTANTS = int(os.environ.get("WQI_CORRUPT_MUTANTS", "24"))
#: One kernel is enough here; `make fuzz` runs two.
KERNEL = next((k for k in ("sid", "bookworm") if k in DEBIAN_KERNELS), None)


@pytest.mark.skipif(KERNEL is None, reason="needs the sid or bookworm kernel in KERNELS")
def test_damaged_vmcores(tmp_path):
    report = tmp_path / "corrupt.json"
    p = subprocess.run([sys.executable, "-m", "testbed.corrupt", "--kernel", KERNEL, "--mutants", str(MUTANTS),
                        "--commands", "1", "--seed", "1401", "--report", str(report)],
                       capture_output=True, text=True, timeout=3600)
    assert report.exists(), p.stderr[-3000:]
    r = json.loads(report.read_text())
    assert r["stats"]["mutants"] == MUTANTS
    assert not r["failures"], json.dumps(r["failures"], indent=1)[:6000]
    assert p.returncode == 0, p.stderr[-3000:]


@pytest.mark.skipif(KERNEL is None, reason="needs the sid or bookworm kernel in KERNELS")
def test_damaged_timer_link_keeps_delayed_work():
    """A delayed work whose timer's wheel ``pprev`` is damaged is still listed, with a warning that names it,
    and so are the delayed works after it in its bucket."""
    from drgn import container_of
    from drgn.helpers.linux.percpu import per_cpu

    from testbed.corrupt import LIST_POISON1, Field, Finder, prepare_core

    core, symbols = prepare_core(KERNEL)
    finder = Finder(core, symbols)
    prog = finder.prog
    fn = prog["delayed_work_timer_fn"].address_
    chains = []  # the delayed-work timers of each bucket, in order
    for cpu in range(int(prog["nr_cpu_ids"])):
        bases = per_cpu(prog["timer_bases"], cpu)
        for b in range(len(bases)):
            for i in range(len(bases[b].vectors)):
                node, chain = bases[b].vectors[i].first, []
                while node and len(chain) < 100:
                    t = container_of(node, "struct timer_list", "entry")
                    chain.append((t, int(t.function) == fn))
                    node = node.next
                if any(is_dw for _, is_dw in chain):
                    chains.append(chain)
    assert chains, "no delayed work pending in the vmcore"
    # a delayed work's timer with another delayed work after it in its bucket, if there is one
    chain = max(chains, key=lambda c: sum(is_dw for _, is_dw in c[1:]) if c[0][1] else -1)
    timer = next(t for t, is_dw in chain if is_dw)
    pprev = timer.entry.pprev.address_
    field = Field("timer pprev", "list", pprev, 8, finder.offsets(pprev, 8))
    (_, before), (snap, after) = _before_and_after(core, symbols, field, LIST_POISON1, lambda snap: {
        w["address"] for w in snap["works"] if w["where"] == "delayed"})
    dw = container_of(timer, "struct delayed_work", "timer")
    address = int(dw.work.address_of_())
    assert address in before
    assert after == before, f"lost: {[hex(a) for a in before - after]}, found: {[hex(a) for a in after - before]}"
    assert any(f"{address:#x}" in w["object"] for w in snap["warnings"]), snap["warnings"]


@pytest.mark.skipif(KERNEL is None, reason="needs the sid or bookworm kernel in KERNELS")
def test_damaged_rescuer_keeps_its_workqueue():
    """A workqueue whose rescuer pointer leads nowhere is still read, with its pwqs and items, and a warning
    that names the rescuer (a fault on one object is a warning on that object)."""
    from testbed.corrupt import Field, Finder, prepare_core

    core, symbols = prepare_core(KERNEL)
    finder = Finder(core, symbols)
    wq = next(w for w in _workqueues(finder.prog) if w.name.string_() == b"wqi_reclaim")
    assert wq.rescuer, "wqi_reclaim has no rescuer"
    field = Field("wq rescuer", "ptr", wq.rescuer.address_, 8, finder.offsets(wq.rescuer.address_, 8))

    def pick(snap):
        return ([w for w in snap["workqueues"] if w["name"] == "wqi_reclaim"],
                [w["address"] for w in snap["works"] if w["wq_name"] == "wqi_reclaim"])

    (_, ((before,), items_before)), (snap, (after, items_after)) = _before_and_after(core, symbols, field, BAD, pick)
    assert len(after) == 1 and after[0]["pwqs"] == before["pwqs"] and items_after == items_before
    assert after[0]["rescuer_pid"] is None and before["rescuer_pid"]
    assert any(w["object"].startswith(f"rescuer {BAD:#x}") for w in snap["warnings"]), snap["warnings"]


#: A non-canonical address: no page there.
BAD = 0xdead000000000000


def _before_and_after(core: str, symbols: list[str], field, value: int, pick):
    """``snapshot`` of the vmcore as it is and with ``field`` set to ``value`` (in one working copy for the
    single-field tests, restored after): each (the snapshot, ``pick(snapshot)``)."""
    from testbed.corrupt import Core, run

    work = Core(core, core + ".field-test")
    target = ["-c", work.path, *[x for s in symbols for x in ("-s", s)]]

    def read():
        r = run(["snapshot", "-o", "-"], target)
        assert r.code == 0 and "Traceback" not in r.err, r.err[-2000:]
        snap = json.loads(r.out)
        return snap, pick(snap)

    before = read()
    saved = work.patch([(field, value.to_bytes(8, "little"))])
    try:
        return before, read()
    finally:
        work.restore(saved)


def _workqueues(prog):
    from drgn.helpers.linux.list import list_for_each_entry

    return list_for_each_entry("struct workqueue_struct", prog["workqueues"].address_of_(), "list")


@pytest.mark.skipif(KERNEL is None, reason="needs the sid or bookworm kernel in KERNELS")
def test_damaged_pool_attrs_keep_the_pool():
    """A pool whose attrs pointer leads nowhere is still read, with its workers and items, and a warning that
    names the attrs."""
    from testbed.corrupt import Field, Finder, prepare_core

    core, symbols = prepare_core(KERNEL)
    finder = Finder(core, symbols)
    wq = next(w for w in _workqueues(finder.prog) if w.name.string_() == b"wqi_saturate")
    pool = wq.dfl_pwq.pool
    pool_id = int(pool.id)
    field = Field("pool attrs", "ptr", pool.attrs.address_, 8, finder.offsets(pool.attrs.address_, 8))

    def pick(snap):
        return ([p for p in snap["pools"] if p["id"] == pool_id],
                sorted(w["address"] for w in snap["works"] if w["pool_id"] == pool_id))

    (_, ((before,), items_before)), (snap, (after, items_after)) = _before_and_after(core, symbols, field, BAD, pick)
    assert len(after) == 1 and after[0]["workers"] == before["workers"] and items_after == items_before
    assert items_before and before["cpus"] and after[0]["cpus"] == []
    assert any(w["object"] == f"attrs {BAD:#x} of pool {pool_id}" for w in snap["warnings"]), snap["warnings"]


@pytest.mark.skipif(KERNEL is None, reason="needs the sid or bookworm kernel in KERNELS")
def test_task_walk_finds_every_task_and_its_state():
    """The deep capture's walk of every task (one read of each; a one-thread group known from its
    leader alone) finds the tasks and states drgn's for_each_task() finds.  (The test bed's guests run
    no multi-threaded process: a group's other threads are walked as before, on its thread_head.)"""
    from drgn.helpers.linux.pid import for_each_task

    from testbed.corrupt import Finder, prepare_core
    from wqinspect.capture import Reader
    from wqinspect.capture.deep import _tasks_with_state
    from wqinspect.kernel.layout import layout

    core, symbols = prepare_core(KERNEL)
    prog = Finder(core, symbols).prog
    r = Reader(prog)
    found = _tasks_with_state(r)
    member = layout(prog).task_state
    want = {t.value_(): getattr(t, member).value_() for t in for_each_task(prog)}
    assert r.warnings == []
    assert len(found) > 50 and found == want
