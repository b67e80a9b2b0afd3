# SPDX-License-Identifier: LGPL-2.1-or-later
"""A fast subset of the corruption suite (testbed/corrupt.py; `make fuzz` runs the full one).

An ELF vmcore of a real kernel with every scenario loaded; a few dozen seeded mutants damage the
kernel objects wqinspect reads.  No exit 3, no traceback, no timeout, no peak RSS over twice the
undamaged run's, no silent wrong answer.  And one damage that the readers must see through: a timer-wheel
``pprev`` link damaged under a pending delayed work.
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


@pytest.mark.skipif(KERNEL is None, reason="needs the sid or bookworm kernel in KERNELS")
def test_damaged_timer_link_keeps_delayed_work():
    """A delayed work whose timer's wheel ``pprev`` is damaged is still listed, with a warning that names it,
    and so are the delayed works after it in its bucket."""
    from drgn import container_of
    from drgn.helpers.linux.percpu import per_cpu

    from testbed.corrupt import LIST_POISON1, Core, Field, Finder, prepare_core, run

    core, symbols = prepare_core(KERNEL)
    finder = Finder(core, symbols)
    prog = finder.prog
    fn = prog["delayed_work_timer_fn"].address_
    chains = []  # the delayed-work timers of each bucket, in order
    for cpu in range(int(prog["nr_cpu_ids"])):
        bases = per_cpu(prog["timer_bases"], cpu)
        for b in range(len(bases)):
            for i in range(len(bases[b].vectors)):
                node, chain = bases[b].vectors[i].first, []
                while node and len(chain) < 100:
                    t = container_of(node, "struct timer_list", "entry")
                    chain.append((t, int(t.function) == fn))
                    node = node.next
                if any(is_dw for _, is_dw in chain):
                    chains.append(chain)
    assert chains, "no delayed work pending in the vmcore"
    # a delayed work's timer with another delayed work after it in its bucket, if there is one
    chain = max(chains, key=lambda c: sum(is_dw for _, is_dw in c[1:]) if c[0][1] else -1)
    timer = next(t for t, is_dw in chain if is_dw)
    pprev = timer.entry.pprev.address_
    field = Field("timer pprev", "list", pprev, 8, finder.offsets(pprev, 8))
    work = Core(core, core + ".timer-test")
    target = ["-c", work.path, *[x for s in symbols for x in ("-s", s)]]

    def delayed():
        r = run(["snapshot", "-o", "-"], target)
        assert r.code == 0 and "Traceback" not in r.err, r.err[-2000:]
        snap = json.loads(r.out)
        return {w["address"] for w in snap["works"] if w["where"] == "delayed"}, snap

    before, _ = delayed()
    saved = work.patch([(field, LIST_POISON1.to_bytes(8, "little"))])
    try:
        after, snap = delayed()
    finally:
        work.restore(saved)
    dw = container_of(timer, "struct delayed_work", "timer")
    address = int(dw.work.address_of_())
    assert address in before
    assert after == before, f"lost: {[hex(a) for a in before - after]}, found: {[hex(a) for a in after - before]}"
    assert any(f"{address:#x}" in w["object"] for w in snap["warnings"]), snap["warnings"]
