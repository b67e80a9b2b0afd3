# SPDX-License-Identifier: LGPL-2.1-or-later
"""Per-step timing, printed as a table at the end of a run."""

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Step:
    name: str
    subject: str
    seconds: float
    ok: bool


@dataclass
class Timings:
    steps: list[Step] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @contextmanager
    def step(self, name: str, subject: str = ""):
        t0 = time.monotonic()
        ok = False
        try:
            yield
            ok = True
        finally:
            self.steps.append(Step(name, subject, time.monotonic() - t0, ok))

    def table(self) -> str:
        rows = [("step", "subject", "seconds", "")]
        rows += [(s.name, s.subject, f"{s.seconds:.1f}", "" if s.ok else "FAILED") for s in self.steps]
        rows.append(("total", "", f"{time.monotonic() - self.started:.1f}", ""))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        out = []
        for i, r in enumerate(rows):
            out.append("  ".join(
                c.rjust(w) if j == 2 else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))
            ).rstrip())
            if i == 0 or i == len(rows) - 2:
                out.append("  ".join("-" * w for w in widths))
        return "\n".join(out)

    def print(self, file=None) -> None:
        print("\ntest bed timings:\n" + self.table(), file=file or sys.stderr)


#: Timings of the whole process; the CLI and the pytest plugin print it at exit.
TIMINGS = Timings()
