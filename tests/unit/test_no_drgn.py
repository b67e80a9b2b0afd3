# SPDX-License-Identifier: LGPL-2.1-or-later
"""Everything after the snapshot works without drgn: the pure side never imports it."""

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SNAPSHOTS

ROOT = Path(__file__).resolve().parents[2]

#: Run in a child: drgn made unimportable, then the pure modules imported and every command run with --from.
_CHILD = r"""
import sys

class _NoDrgn:
    def find_spec(self, name, path=None, target=None):
        if name == "drgn" or name.startswith("drgn."):
            raise ImportError("drgn is unimportable in this test")
        return None

sys.meta_path.insert(0, _NoDrgn())
for name in [m for m in sys.modules if m == "drgn" or m.startswith("drgn.")]:
    del sys.modules[name]

import wqinspect.model, wqinspect.check, wqinspect.diagnose, wqinspect.views, wqinspect.monitor  # noqa: E401
from click.testing import CliRunner
from wqinspect.cli import main

snap, flush = sys.argv[1], sys.argv[2]
commands = [["workqueues"], ["pools"], ["workers"], ["works"], ["works", "--all"], ["show", "wqi_flush"],
            ["check"], ["check", "--scenario", flush], ["diagnose"], ["topology"], ["dump"],
            ["monitor", "-i", "0"], ["monitor", "-i", "0", "--prometheus"]]
for cmd in commands:
    for fmt in ([], ["--json"]):
        if "--prometheus" in cmd and fmt:
            continue
        r = CliRunner().invoke(main, [*cmd, *fmt, "--from", snap])
        if r.exit_code not in (0, 1) or r.exception and not isinstance(r.exception, SystemExit):
            print("FAILED", cmd, fmt, r.exit_code, r.output[-500:], repr(r.exception))
            sys.exit(1)
assert not any(m == "drgn" or m.startswith("drgn.") for m in sys.modules), "drgn was imported"
print("ok", len(commands))
"""


@pytest.mark.parametrize("suite", ["bookworm", "sid"])
def test_every_command_runs_from_a_snapshot_without_drgn(suite):
    r = subprocess.run([sys.executable, "-c", _CHILD, str(SNAPSHOTS / f"{suite}-scenarios.json"),
                        str(ROOT / "fixtures" / "scenarios" / "flush.json")],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stdout + r.stderr


def test_the_blocker_really_blocks_drgn():
    """The test above would pass vacuously if the blocker let drgn through."""
    code = _CHILD.split("import wqinspect.model")[0] + "import drgn\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "unimportable" in r.stderr
