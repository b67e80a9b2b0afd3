# SPDX-License-Identifier: LGPL-2.1-or-later
"""Which tasks a deep capture unwinds: an idle CPU's idle task only where its stack may tell something."""

import contextlib
import copy

import drgn.helpers.linux.sched
import pytest

from wqinspect.capture import deep
from wqinspect.snapshot import PoolKind, TaskRef, TaskStack

from .conftest import fixture_snapshot


class _Task:
    def __init__(self, address):
        self.address = address

    def value_(self):
        return self.address


class _Reader:
    """What stacks() asks of a Reader: the tasks' pids (CPU 0 and 1 run their idle tasks, CPU 2 a kworker)."""

    prog = None
    pids = {0x1000: 0, 0x1001: 0, 0x1002: 42}

    def task_fields(self, address):
        return {"pid": self.pids[address]}

    @contextlib.contextmanager
    def guard(self, obj):
        yield


@pytest.fixture
def unwound(monkeypatch):
    """The "on cpu N" stacks of stacks(panicked, pools): a quiet snapshot of 3 CPUs, unwinding faked."""
    monkeypatch.setattr(drgn.helpers.linux.sched, "cpu_curr", lambda prog, cpu: _Task(0x1000 + cpu))
    monkeypatch.setattr(deep, "blocked_tasks", lambda r: [])
    monkeypatch.setattr(deep, "stack", lambda r, task, why, located: TaskStack(
        task=TaskRef(pid=_Reader.pids[task], comm="", address=task), why=why))

    def run(panicked: bool, change=lambda pools: None):
        monkeypatch.setattr(deep, "panic_cpu", lambda prog: 1 if panicked else None)
        snap = copy.deepcopy(fixture_snapshot("sid-scenarios"))
        snap.kernel.online_cpus = [0, 1, 2]
        snap.workers, snap.works, snap.workqueues = [], [], []
        for p in snap.pools:
            p.worklist_len, p.busy = 0, []
        change(snap.pools)
        snap.reindex()
        return sorted(st.why for st in deep.stacks(_Reader(), snap))

    return run


def test_idle_cpus_are_unwound_only_where_their_stack_may_tell_something(unwound):
    assert unwound(False) == ["on cpu 2"]  # the idle loop of CPUs 0 and 1 is left out
    assert unwound(True) == ["on cpu 0", "on cpu 1", "on cpu 2"]  # a panicked kernel: every CPU

    def queued_on_cpu_1(pools):
        next(p for p in pools if p.cpu == 1 and p.kind == PoolKind.CPU).worklist_len = 3

    assert unwound(False, queued_on_cpu_1) == ["on cpu 1", "on cpu 2"]

    def bh_running_on_cpu_0(pools):
        next(p for p in pools if p.cpu == 0 and p.kind.bh).busy = [0x2000]

    assert unwound(False, bh_running_on_cpu_0) == ["on cpu 0", "on cpu 2"]
