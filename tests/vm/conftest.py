# SPDX-License-Identifier: LGPL-2.1-or-later
"""VM tests: real Debian kernels under QEMU (see tests/vm/kernelrun.py).

KERNELS (default "bullseye bookworm trixie sid next watchdog"; `make vmtest-all` adds arm64) and MODES (default
"vmcore qmp kcore") narrow the matrix, as in ``make vmtest KERNELS=sid MODES=qmp``.
"watchdog" is the test bed's own kernel with CONFIG_WQ_WATCHDOG (testbed/watchdog.py).
"next" is experimental's release candidate: when the archive has none, its tests are
skipped with the reason; when it has one, its failures are failures.
"""

import pytest

from testbed.kernels import OPTIONAL, KernelUnavailable
from testbed.timing import TIMINGS

from .kernelrun import env_list, kernel_run

KERNELS = env_list("KERNELS", "bullseye bookworm trixie sid next watchdog")
DEBIAN_KERNELS = [k for k in KERNELS if k != "watchdog"]
MODES = env_list("MODES", "vmcore qmp kcore")
#: Readings taken in each mode: vmcore is read from both dump formats.
READINGS = [m for mode in MODES for m in (("vmcore", "vmcore-elf") if mode == "vmcore" else (mode,))]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/vm/" in str(item.fspath):
            item.add_marker(pytest.mark.vm)


@pytest.fixture(scope="session", params=DEBIAN_KERNELS)
def run(request):
    try:
        return kernel_run(request.param, MODES)
    except KernelUnavailable as e:
        if request.param in OPTIONAL:
            pytest.skip(f"kernel {request.param} is not available: {e}")
        raise


def reading(run, phase: str, mode: str):
    if mode in run.skipped or mode.split("-")[0] in run.skipped:
        pytest.skip(f"{mode} mode on {run.suite}: {run.skipped.get(mode, run.skipped.get(mode.split('-')[0]))}")
    return run.readings[(phase, mode)]


def pytest_terminal_summary(terminalreporter):
    if TIMINGS.steps:
        terminalreporter.write_line("")
        terminalreporter.write_line("test bed timings:")
        for line in TIMINGS.table().splitlines():
            terminalreporter.write_line(line)
