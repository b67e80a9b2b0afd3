# SPDX-License-Identifier: LGPL-2.1-or-later
"""The kernel's own watchdog and wqinspect's replay of it agree, on a kernel built with CONFIG_WQ_WATCHDOG.

The stall scenario spins on CPU 1 with workqueue.watchdog_thresh at 5 s; once
the console shows "BUG: workqueue lockup", the guest's memory is dumped.
wqinspect reads the dump: its verdict, replayed for the moment the kernel
printed its message (found in the dump's log buffer), must name the same pool
and the same number of seconds, within 1.
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
    replays = f["data"]["printed"]
    assert replays and replays[0]["seconds"] == int(seconds)
    for r in replays:
        assert abs(r["replayed"] - r["seconds"]) <= 1, replays


def test_hog_report_is_read(stall):
    hogs = [f for f in stall["diagnosis"]["findings"] if f["kind"] == "hog"]
    table = [f for f in hogs if f["where"] == "hog report table"]
    assert any("wqi_hog_fn" in f["what"] for f in table), hogs
    hog_table = stall["snapshot"]["cpu_intensive"]["hogs"]
    assert any(h["func"]["name"] == "wqi_hog_fn" and h["count"] >= 4 for h in hog_table)
    log = "\n".join(r["text"] for r in stall["snapshot"]["log"])
    assert "hogged CPU" in log and "BUG: workqueue lockup" in log
