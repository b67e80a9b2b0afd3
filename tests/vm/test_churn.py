# SPDX-License-Identifier: LGPL-2.1-or-later
"""A fast subset of the live churn run (testbed/churn.py; `make fuzz` runs the full one).

A guest loads and unloads the traffic scenario in a loop; wqinspect reads it live through QMP from
the host and on /proc/kcore inside the guest (``snapshot``, ``check``, ``monitor`` refreshes).  No
exit 3, no traceback, no hang, no output that is not JSON.
"""

import json
import subprocess
import sys

import pytest

from .conftest import DEBIAN_KERNELS, MODES

#: One kernel is enough here.
KERNEL = next((k for k in ("sid", "bookworm") if k in DEBIAN_KERNELS), None)
CHURN_MODES = [m for m in ("qmp", "kcore") if m in MODES]
#: QMP: 14 snapshot/check processes and 10 monitor refreshes; kcore: 10 refreshes of one monitor, a
#: snapshot and a check (drgn loads the debug info in 12-35 s in the TCG guest).
QMP_READS, QMP_RUNS, KCORE_READS, KCORE_RUNS = 24, 14, 10, 2


@pytest.mark.skipif(KERNEL is None, reason="needs the sid or bookworm kernel in KERNELS")
@pytest.mark.skipif(not CHURN_MODES, reason="needs the qmp or kcore mode in MODES")
def test_live_churn(tmp_path):
    report = tmp_path / "churn.json"
    p = subprocess.run([sys.executable, "-m", "testbed.churn", "--kernel", KERNEL, "--modes", ",".join(CHURN_MODES),
                        "--reads", str(QMP_READS), "--runs", str(QMP_RUNS), "--kcore-reads", str(KCORE_READS),
                        "--kcore-runs", str(KCORE_RUNS), "--report", str(report)],
                       capture_output=True, text=True, timeout=900)
    assert report.exists(), p.stderr[-3000:]
    r = json.loads(report.read_text())
    assert not r["failures"], json.dumps(r["failures"], indent=1)[:6000]
    want = {"qmp": (QMP_RUNS, QMP_READS), "kcore": (KCORE_RUNS, KCORE_RUNS + KCORE_READS)}
    for mode in r["modes"]:  # the modes that ran
        runs, reads = want[mode]
        st = r[mode]
        assert st["runs"] == runs and st["reads"] == reads, (mode, st)
        assert set(st["exit"]) <= {"0", "1"} and st["timeouts"] == 0, (mode, st["exit"])
        assert st["violated"] == 0, (mode, st)
    assert p.returncode == 0, p.stderr[-3000:]
    if "kcore" in r.get("skipped", {}):
        pytest.skip(f"kcore mode: {r['skipped']['kcore']}")
