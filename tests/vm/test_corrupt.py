# SPDX-License-Identifier: LGPL-2.1-or-later
"""A fast subset of the corruption suite (testbed/corrupt.py; `make fuzz` runs the full one).

An ELF vmcore of a real kernel with every scenario loaded; a few dozen seeded mutants damage the
kernel objects wqinspect reads.  No exit 3, no traceback, no timeout, no peak RSS over twice the
undamaged run's, no silent wrong answer.
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
