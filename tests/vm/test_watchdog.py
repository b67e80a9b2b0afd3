# SPDX-License-Identifier: LGPL-2.1-or-later
"""The kernel's own watchdog and wqinspect's replay of it agree, on a kernel built with CONFIG_WQ_WATCHDOG.

The stall scenario spins on CPU 1 with workqueue.watchdog_thresh at 5 s; once
the console shows "BUG: workqueue lockup", the guest's memory is dumped.
wqinspect reads the dump: its verdict, replayed for the moment the kernel
printed its message (found in the dump's log buffer), must name the same pool
and the same number of seconds, within 1 (of the whole seconds the kernel prints).
"""

import json
import re
import subprocess

import pytest

from testbed import watchdog
from testbed.paths import BUILD
from testbed.timing import TIMINGS

from .conftest import KERNELS
from .kernelrun import wqinspect_argv

pytestmark = pytest.mark.skipif("watchdog" not in KERNELS, reason="KERNELS does not include watchdog")

@pytest.fixture(scope="module")
def stall():
    kernel = watchdog.ensure()
    console, core, files = watchdog.run_stall(kernel, BUILD / "vm" / "watchdog")
    syms = [x for f in files for x in ("-s", str(f))]
    with TIMINGS.step("diagnose vmcore", kernel.release):
        p = subprocess.run(wqinspect_argv() + ["diagnose", "--json", "-c", str(core), *syms],
                           capture_output=True, text=True)
        assert p.returncode == 1, p.stderr
        snap = subprocess.run(wqinspect_argv() + ["snapshot", "-o", "-", "-c", str(core), *syms],
                              capture_output=True, text=True, check=True)
    return {"console": console, "diagnosis": json.loads(p.stdout), "snapshot": json.loads(snap.stdout)}


def test_kernel_has_the_watchdog(stall):
    assert stall["snapshot"]["watchdog"]["thresh"] == 5


def test_replay_agrees_with_the_kernel(stall):
    printed = re.findall(r"BUG: workqueue lockup - (pool .*?) stuck for (\d+)s!", stall["console"])
    assert printed, stall["console"][-2000:]
    pool_desc, seconds = printed[0]
    stalls = [f for f in stall["diagnosis"]["findings"] if f["kind"] == "stall" and f["severity"] == "critical"]
    assert [f["data"]["description"] for f in stalls] == [pool_desc], stalls
    f = stalls[0]
    # The verdict now (at the dump) is later than the kernel's first report ...
    assert f["data"]["seconds"] >= int(seconds)
    # ... and, replayed for the moment of each report found in the dump's log buffer, the same within 1 s.
    # The kernel prints whole seconds, truncated (jiffies_to_msecs(now - ts) / 1000): "stuck for 9s" means
    # 9.0 to 9.999 s, so within 1 s of it is 8.0 to 10.999 s (the replay times the print by the log's
    # clock, which can run a few ms apart from jiffies under TCG).
    replays = f["data"]["printed"]
    assert replays and replays[0]["seconds"] == int(seconds)
    for r in replays:
        assert r["seconds"] - 1 <= r["replayed"] < r["seconds"] + 2, replays


def test_hog_report_is_read(stall):
    hogs = [f for f in stall["diagnosis"]["findings"] if f["kind"] == "hog"]
    table = [f for f in hogs if f["where"] == "hog report table"]
    assert any("wqi_hog_fn" in f["what"] for f in table), hogs
    hog_table = stall["snapshot"]["cpu_intensive"]["hogs"]
    assert any(h["func"]["name"] == "wqi_hog_fn" and h["count"] >= 4 for h in hog_table)
    log = "\n".join(r["text"] for r in stall["snapshot"]["log"])
    assert "hogged CPU" in log and "BUG: workqueue lockup" in log


# ---- stall-panic: the same stall with workqueue.panic_on_stall=1 (issue 11): the kernel panics on its own report.

@pytest.fixture(scope="module")
def stall_panic():
    kernel = watchdog.ensure()
    console, core, files = watchdog.run_stall(kernel, BUILD / "vm" / "watchdog", panic=True)
    syms = [x for f in files for x in ("-s", str(f))]
    with TIMINGS.step("diagnose vmcore", f"{kernel.release} stall-panic"):
        p = subprocess.run(wqinspect_argv() + ["diagnose", "--json", "-c", str(core), *syms],
                           capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    return {"console": console, "diagnosis": json.loads(p.stdout)}


def test_stall_panic_panicked(stall_panic):
    console = stall_panic["console"]
    assert "BUG: workqueue lockup" in console
    assert "kernel BUG at kernel/workqueue.c" in console and "Kernel panic - not syncing" in console, console[-3000:]


def test_stall_panic_is_explained(stall_panic):
    findings = stall_panic["diagnosis"]["findings"]
    first = findings[0]
    expected = ("crash", "stall-panic", "wq-lockup:wqi_hog_fn")
    assert (first["kind"], first["data"]["cause"], first["signature"]) == expected
    assert first["severity"] == "critical" and first["data"]["func"]["name"] == "wqi_hog_fn"
    assert first["data"]["rip"].startswith("wq_watchdog_timer_fn+")
    # the pool the kernel reported, and the replay of its report within 1 s of the whole seconds it printed
    pool_desc, seconds = re.findall(r"BUG: workqueue lockup - (pool .*?) stuck for (\d+)s!", stall_panic["console"])[0]
    stall = first["data"]["stall"]
    assert stall["description"] == pool_desc
    printed = stall["printed"]
    assert printed and printed[0]["seconds"] == int(seconds)
    assert all(p["seconds"] - 1 <= p["replayed"] < p["seconds"] + 2 for p in printed), printed
    # the stall is the crash: it is not said twice
    assert not [f for f in findings[1:] if f["kind"] == "stall" and f["data"]["pool"] == stall["pool"]]
