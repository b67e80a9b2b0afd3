# SPDX-License-Identifier: LGPL-2.1-or-later
"""Re-render README's example outputs from the commands they show (``make readme``).

An example is a fenced block whose first line is ``$ wqinspect ARGS``; everything after it is
replaced by what ``wqinspect ARGS`` prints now (stdout, then stderr), run from the repository root
with its output piped.  A command line ending in ``(first rows)`` keeps as many lines as the
block had.  Blocks that read a live kernel (no ``--from``), or a snapshot not captured here, are left alone.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"^```\n(\$ wqinspect [^\n]*)\n(.*?)^```$", re.M | re.S)


def _render(m: re.Match) -> str:
    line, body = m.group(1), m.group(2)
    cmd = line[2:]
    first_rows = cmd.rstrip().endswith("(first rows)")
    cmd = re.sub(r"\s+\(first rows\)\s*$", "", cmd)
    if "--from" not in cmd:
        return m.group(0)
    args = shlex.split(cmd)[1:]
    source = args[args.index("--from") + 1] if args.index("--from") + 1 < len(args) else ""
    if not (ROOT / source).is_file():
        print(f"README.md: {source} is not captured: left as it is ({cmd})", file=sys.stderr)
        return m.group(0)
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    r = subprocess.run([sys.executable, "-m", "wqinspect", *args], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=300)
    out = (r.stdout + r.stderr).rstrip("\n").split("\n")
    if first_rows:
        out = out[:max(len(body.rstrip("\n").split("\n")), 3)]
    return "```\n" + line + "\n" + "\n".join(out) + "\n```"


def main() -> int:
    path = ROOT / "README.md"
    text = path.read_text()
    new = _FENCE.sub(_render, text)
    if new != text:
        path.write_text(new)
        print("README.md: examples re-rendered")
    else:
        print("README.md: examples unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
