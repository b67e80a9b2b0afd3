# SPDX-License-Identifier: LGPL-2.1-or-later
"""The delayed-work reader (wqinspect/capture/timers.py) on timer wheels whose links are damaged.

The wheel walk and the memory reads are replaced by a fake; tests/vm/test_corrupt.py damages a real vmcore.
"""

from types import SimpleNamespace

import pytest

from wqinspect.capture import timers
from wqinspect.kernel.work import RawWork, WheelTimer

FN = 0xFFFFFFFF81000100  # delayed_work_timer_fn
CODE = 0xFFFFFFFF81002000  # a work function in the kernel image
PENDING = 0x1
BAD = "its pprev 0xdead000000000122 does not point back to 0xffff888000001000: the memory was freed and reused"


class FakeReader:
    def __init__(self):
        self.lay = SimpleNamespace(delayed_work_timer_fn=FN)
        self.prog = None
        self.warnings = []

    def collect(self, obj, items):
        return list(items)

    def is_code(self, address):
        return 0xFFFFFFFF81000000 <= address < 0xFFFFFFFF82000000

    def decoded(self, data):
        return SimpleNamespace(raw=data, pool_id=None), (["PENDING"] if data & PENDING else [])

    def func(self, address):
        return address

    def warn(self, obj, message):
        self.warnings.append((obj, message))

    def guard(self, obj):
        import contextlib
        return contextlib.nullcontext()


@pytest.fixture
def wheel(monkeypatch):
    """A bucket of three delayed works' timers, A -> B -> C; tests set what the walk sees."""
    works = {0xA000: (CODE, PENDING), 0xB000: (CODE, PENDING), 0xC000: (CODE, PENDING)}
    state = {"walk": [], "after": {}}
    monkeypatch.setattr(timers, "enum_value", lambda prog, name: 64)
    monkeypatch.setattr(timers, "for_each_wheel_timer", lambda prog: iter(state["walk"]))
    monkeypatch.setattr(timers, "_timers_after", lambda prog, t: iter(state["after"].get(t.address, [])), raising=False)

    def delayed_work(prog, timer):
        func, data = works[timer]
        return RawWork(timer - 0x20, data, func), 0xFFFF888000009000, 0

    monkeypatch.setattr(timers, "timer_delayed_work", delayed_work)
    state["works"] = works
    return state


def ok(address):
    return WheelTimer(0, 0, address, 100, FN)


def bad(address, func=FN):
    return WheelTimer(0, 0, address, 100, func, BAD)


def listed(works):
    return sorted(w.delayed.timer for w in works)


def test_undamaged_bucket(wheel):
    wheel["walk"] = [ok(0xA000), ok(0xB000), ok(0xC000)]
    r = FakeReader()
    works, broken = timers.delayed_works(r)
    assert listed(works) == [0xA000, 0xB000, 0xC000] and not broken and not r.warnings


def test_damaged_pprev_keeps_the_work_and_the_rest_of_its_bucket(wheel):
    # B's pprev is damaged: the walk stops at B; B is a live delayed work, so it is listed and C read after it
    wheel["walk"] = [ok(0xA000), bad(0xB000)]
    wheel["after"] = {0xB000: [ok(0xC000)]}
    r = FakeReader()
    works, broken = timers.delayed_works(r)
    assert listed(works) == [0xA000, 0xB000, 0xC000]
    assert not broken
    assert len(r.warnings) == 1 and "0xb000" in r.warnings[0][0] and "damaged" in r.warnings[0][1]


def test_damaged_link_to_what_is_not_a_pending_work_is_a_broken_timer_and_a_warning(wheel):
    wheel["works"][0xB000] = (0xFFFFFFFFC0001000, PENDING)  # its function is in no loaded module: freed memory
    wheel["walk"] = [ok(0xA000), bad(0xB000)]
    wheel["after"] = {0xB000: [ok(0xC000)]}
    r = FakeReader()
    works, broken = timers.delayed_works(r)
    assert listed(works) == [0xA000]
    assert [t.address for t in broken] == [0xB000]
    assert any("0xb000" in obj and "not listed" in msg for obj, msg in r.warnings), r.warnings


def test_not_pending_is_not_listed(wheel):
    wheel["works"][0xB000] = (CODE, 0)
    wheel["walk"] = [bad(0xB000)]
    r = FakeReader()
    works, broken = timers.delayed_works(r)
    assert not works and [t.address for t in broken] == [0xB000]


def test_a_link_back_to_a_timer_already_read_is_a_warning_not_a_second_work(wheel):
    # C's next is damaged and points back to A: A is reached again through a link its pprev does not match
    wheel["walk"] = [ok(0xA000), ok(0xB000), ok(0xC000), bad(0xA000)]
    r = FakeReader()
    works, broken = timers.delayed_works(r)
    assert listed(works) == [0xA000, 0xB000, 0xC000] and not broken
    assert len(r.warnings) == 1 and "0xa000" in r.warnings[0][1]
