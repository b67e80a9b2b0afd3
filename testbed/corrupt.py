# SPDX-License-Identifier: LGPL-2.1-or-later
"""The corruption suite (issue 14.1): damaged kernel objects in a real vmcore never crash wqinspect.

From an ELF vmcore of a real kernel with the test scenarios loaded, drgn lists the kernel objects
wqinspect reads (list links of workqueues, pwqs, pools, workers and work items; counts; names;
flags and work data words; timer-wheel links; busy_hash buckets; and the globals the readers
depend on) with their addresses.  Each address is translated to a physical address through the
kernel's page tables and then to a file offset through the ELF program headers.  A seeded
mutant damages one to three of those fields in a working copy of the vmcore, wqinspect runs on
it as subprocesses (60 s timeout, peak RSS measured; ``--jobs`` of them at a time, since the patched
copy is only read), and the copy is restored.

A mutant fails on exit 3, a traceback, a timeout, a peak RSS over twice the undamaged run's, JSON
output that is not JSON, or a silent wrong answer: a damaged list pointer, exit 0, no warning and
counts that differ from the undamaged run's.

    python -m testbed.corrupt --kernel sid --core build/fuzz-sid.elf -s VMLINUX -s wqi.ko --mutants 20
"""

import argparse
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

LIST_POISON1 = 0xDEAD000000000100
LIST_POISON2 = 0xDEAD000000000122
NONCANONICAL = 0x8000000000001000
#: In the direct map, far beyond the guest's RAM: a kernel address nothing maps.
UNMAPPED = 0xFFFF88FF00000000
TIMEOUT = 60.0


@dataclass
class Field:
    """One field of a kernel object that wqinspect reads."""

    label: str
    #: list: a list_head or hlist pointer; count: an integer; name: a char array; flags, data: 64-bit words;
    #: ptr: a pointer to another object.
    kind: str
    address: int
    size: int
    #: File offsets of the field's bytes, in (offset, length) pieces (a field may cross a page).
    pieces: list[tuple[int, int]] = field(default_factory=list)
    #: For list links: the first entry of the list, and another list's head (to link across lists).
    first: int | None = None
    other: int | None = None


# ---- finding the fields (drgn, on the undamaged vmcore)

def _elf_loads(path: str) -> list[tuple[int, int, int]]:
    """(paddr, filesz, offset) of each PT_LOAD of a 64-bit little-endian ELF core."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        if hdr[:4] != b"\x7fELF" or hdr[4] != 2:
            raise SystemExit(f"{path}: not a 64-bit ELF core (make it with `testbed vmcore --format elf`)")
        phoff, = struct.unpack_from("<Q", hdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        p_type, _, off, _, paddr, filesz, _, _ = struct.unpack_from("<IIQQQQQQ", table, i * phentsize)
        if p_type == 1:
            out.append((paddr, filesz, off))
    return out


class Finder:
    def __init__(self, core: str, symbols: list[str]):
        import drgn

        self.drgn = drgn
        self.prog = drgn.Program()
        self.prog.set_core_dump(core)
        self.prog.load_debug_info(symbols, default=False, main=True)
        self.loads = _elf_loads(core)
        self.fields: list[Field] = []
        self._heads: list[int] = []

    def offsets(self, address: int, size: int) -> list[tuple[int, int]]:
        from drgn.helpers.linux.mm import follow_phys

        pieces = []
        mm = self.prog["init_mm"].address_of_()
        a, end = address, address + size
        while a < end:
            n = min(end, (a | 0xFFF) + 1) - a
            phys = int(follow_phys(mm, a))
            for paddr, filesz, off in self.loads:
                if paddr <= phys and phys + n <= paddr + filesz:
                    pieces.append((off + phys - paddr, n))
                    break
            else:
                raise LookupError(f"{address:#x}: physical {phys:#x} is not in the vmcore")
            a += n
        return pieces

    def add(self, label: str, kind: str, obj_or_addr, size: int | None = None, first: int | None = None) -> None:
        try:
            if isinstance(obj_or_addr, int):
                address = obj_or_addr
            else:
                address = obj_or_addr.address_
                size = size or self.drgn.sizeof(obj_or_addr.type_)
            f = Field(label, kind, address, size, self.offsets(address, size), first)
        except (self.drgn.FaultError, LookupError, ValueError) as e:
            print(f"  (skipped {label}: {e})", file=sys.stderr)
            return
        self.fields.append(f)

    def add_list_head(self, label: str, head) -> None:
        """A list_head: both links; its address is another list's head for cross-list links."""
        first = int(head.next)
        self._heads.append(head.address_)
        self.add(f"{label}.next", "list", head.next, first=first)
        self.add(f"{label}.prev", "list", head.prev, first=first)

    def find(self, rng: random.Random, per_list: int = 3) -> list[Field]:
        import drgn
        from drgn import container_of, sizeof
        from drgn.helpers.linux.list import list_for_each_entry
        from drgn.helpers.linux.percpu import per_cpu

        prog = self.prog

        def some(it, n=per_list):
            items = []
            for i, x in enumerate(it):
                if i >= 200:
                    break
                items.append(x)
            return items if len(items) <= n else rng.sample(items, n)

        # globals
        self.add_list_head("workqueues", prog["workqueues"])
        self.add_list_head("modules", prog["modules"])
        idr = prog["worker_pool_idr"]
        self.add("worker_pool_idr.xa_head", "ptr", idr.idr_rt.xa_head)
        for name in ("nr_cpu_ids", "nr_node_ids"):
            try:
                self.add(name, "count", prog[name])
            except KeyError:
                pass
        for name in ("__cpu_possible_mask", "__cpu_online_mask", "wq_unbound_cpumask"):
            try:
                obj = prog[name]
                if obj.type_.kind == self.drgn.TypeKind.POINTER:
                    self.add(name, "ptr", obj)
                else:
                    self.add(f"{name}.bits[0]", "flags", obj.bits[0])
            except KeyError:
                pass
        uts = prog["init_uts_ns"].name
        self.add("init_uts_ns.release", "name", uts.release)
        self.add("init_uts_ns.version", "name", uts.version)
        try:
            h = prog["unbound_pool_hash"]
            used = [i for i in range(len(h)) if h[i].first]
            for i in some(used, 2):
                self.add(f"unbound_pool_hash[{i}].first", "list", h[i].first, first=int(h[i].first))
        except KeyError:
            pass
        try:
            pt = prog["wq_pod_types"]
            for i in range(len(pt)):
                self.add(f"wq_pod_types[{i}].nr_pods", "count", pt[i].nr_pods)
                for m in ("pod_cpus", "pod_node", "cpu_pod"):
                    self.add(f"wq_pod_types[{i}].{m}", "ptr", getattr(pt[i], m))
        except KeyError:
            pass
        # workqueues, their pwqs and inactive works
        wqs = list(list_for_each_entry("struct workqueue_struct", prog["workqueues"].address_of_(), "list"))
        wqi = [w for w in wqs if w.name.string_().startswith(b"wqi_")]
        for wq in some(wqi, 6) + some(wqs, 3):
            n = wq.name.string_().decode(errors="replace")
            self.add(f"wq {n}: list.next", "list", wq.list.next, first=int(prog["workqueues"].next))
            self.add_list_head(f"wq {n}: pwqs", wq.pwqs)
            self.add(f"wq {n}: name", "name", wq.name)
            self.add(f"wq {n}: flags", "count", wq.flags)
            for m in ("nr_pwqs_to_flush", "max_active", "saved_max_active", "work_color", "flush_color"):
                if m in {x.name for x in wq.type_.type.members}:
                    self.add(f"wq {n}: {m}", "count", getattr(wq, m))
            for pwq in some(list_for_each_entry("struct pool_workqueue", wq.pwqs.address_of_(), "pwqs_node"), 2):
                p = f"wq {n}: pwq {pwq.value_():#x}"
                self.add(f"{p}: pwqs_node.next", "list", pwq.pwqs_node.next, first=int(wq.pwqs.next))
                self.add_list_head(f"{p}: inactive_works", pwq.inactive_works)
                for m in ("nr_active", "refcnt", "work_color", "flush_color"):
                    self.add(f"{p}: {m}", "count", getattr(pwq, m))
                self.add(f"{p}: nr_in_flight[{pwq.work_color.value_()}]", "count",
                         pwq.nr_in_flight[pwq.work_color.value_() % len(pwq.nr_in_flight)])
                self.add(f"{p}: pool", "ptr", pwq.pool)
                for work in some(list_for_each_entry("struct work_struct", pwq.inactive_works.address_of_(),
                                                     "entry"), 2):
                    self.add_work(f"{p}: inactive work", work, int(pwq.inactive_works.next))
        # pools, their workers, worklists and busy_hash
        from drgn.helpers.linux.idr import idr_for_each

        busy = []  # (pool id, a busy worker's hentry, the bucket's field)
        pools = [drgn.Object(prog, "struct worker_pool *", int(e)) for _, e in idr_for_each(idr.address_of_())]
        busy_pools = [p for p in pools if p.worklist.next != p.worklist.address_of_() or p.nr_running]
        for pool in some(busy_pools, 3) + some(pools, 2):
            p = f"pool {pool.id.value_()}"
            for lst in ("worklist", "workers", "idle_list"):
                self.add_list_head(f"{p}: {lst}", getattr(pool, lst))
            for m in ("nr_workers", "nr_idle", "nr_running", "flags", "id", "cpu", "node"):
                if m in {x.name for x in pool.type_.type.members}:
                    self.add(f"{p}: {m}", "count", getattr(pool, m))
            for i in [i for i in range(len(pool.busy_hash)) if pool.busy_hash[i].first][:2] or [0]:
                self.add(f"{p}: busy_hash[{i}].first", "list", pool.busy_hash[i].first,
                         first=int(pool.busy_hash[i].first))
                if pool.busy_hash[i].first:
                    busy.append((pool.id.value_(), int(pool.busy_hash[i].first), self.fields[-1]))
            for work in some(list_for_each_entry("struct work_struct", pool.worklist.address_of_(), "entry"), 2):
                self.add_work(f"{p}: worklist work", work, int(pool.worklist.next))
            for worker in some(list_for_each_entry("struct worker", pool.workers.address_of_(), "node"), 2):
                w = f"{p}: worker {worker.value_():#x}"
                self.add(f"{w}: node.next", "list", worker.node.next, first=int(pool.workers.next))
                self.add(f"{w}: entry.next", "list", worker.entry.next)
                self.add_list_head(f"{w}: scheduled", worker.scheduled)
                self.add(f"{w}: flags", "count", worker.flags)
                self.add(f"{w}: desc", "name", worker.desc)
                for m in ("current_work", "current_pwq", "task"):
                    self.add(f"{w}: {m}", "ptr", getattr(worker, m))
                for work in some(list_for_each_entry("struct work_struct", worker.scheduled.address_of_(),
                                                     "entry"), 1):
                    self.add_work(f"{w}: scheduled work", work, int(worker.scheduled.next))
        # timer wheels: the delayed works' timers
        timers = []
        fn = prog["delayed_work_timer_fn"].address_
        for cpu in range(min(int(prog["nr_cpu_ids"]), 8)):
            bases = per_cpu(prog["timer_bases"], cpu)
            for b in range(len(bases)):
                vec = bases[b].vectors
                for i in range(len(vec)):
                    node = vec[i].first
                    hops = 0
                    while node and hops < 100:
                        t = container_of(node, "struct timer_list", "entry")
                        if int(t.function) == fn:
                            timers.append((cpu, b, i, t))
                        node = node.next
                        hops += 1
        for cpu, b, i, t in some(timers, 4):
            label = f"timer {t.value_():#x} (cpu {cpu} base {b} bucket {i})"
            self.add(f"{label}: entry.next", "list", t.entry.next, first=int(per_cpu(prog["timer_bases"], cpu)[b]
                                                                          .vectors[i].first))
            self.add(f"{label}: entry.pprev", "list", t.entry.pprev)
            self.add(f"{label}: expires", "flags", t.expires)
            dw = container_of(t, "struct delayed_work", "timer")
            self.add_work(f"{label}: work", dw.work, None)
        del sizeof
        for f in self.fields:
            if f.kind == "list":
                others = [h for h in self._heads if h != f.first]
                f.other = rng.choice(others) if others else None
        for pool_id, _, f in busy:  # a busy_hash bucket linked into another pool's busy worker
            others = [h for pid, h, _ in busy if pid != pool_id]
            if others:
                f.other = rng.choice(others)
        return self.fields

    def add_work(self, label: str, work, first: int | None) -> None:
        if work.type_.kind == self.drgn.TypeKind.POINTER:
            work = work[0]
        a = f"{label} {work.address_:#x}"
        self.add(f"{a}: entry.next", "list", work.entry.next, first=first)
        self.add(f"{a}: entry.prev", "list", work.entry.prev, first=first)
        self.add(f"{a}: data", "data", work.data.counter)
        self.add(f"{a}: func", "ptr", work.func)


# ---- damage

def values_for(f: Field, rng: random.Random) -> list[tuple[str, bytes]]:
    """What a damaged field may hold, with a name for each."""
    def word(v):
        return struct.pack("<Q", v & (1 << 64) - 1)[: f.size]

    if f.kind == "list":
        vals = [("self-link", f.address), ("LIST_POISON1", LIST_POISON1), ("LIST_POISON2", LIST_POISON2),
                ("non-canonical", NONCANONICAL), ("unmapped", UNMAPPED), ("NULL", 0)]
        if f.first:
            vals.append(("cycle to first", f.first))
        if f.other:
            vals.append(("into another list", f.other))
        return [(n, word(v)) for n, v in vals]
    if f.kind == "ptr":
        return [(n, word(v)) for n, v in (("LIST_POISON1", LIST_POISON1), ("non-canonical", NONCANONICAL),
                                          ("unmapped", UNMAPPED), ("NULL", 0), ("self", f.address),
                                          ("random", rng.getrandbits(64)))]
    if f.kind == "count":
        big = (1 << (8 * f.size - 1)) - 1
        return [("INT_MAX", word(big)), ("-1", word(-1)), ("INT_MIN", word(big + 1)), ("0x7fffffff", word(0x7FFFFFFF))]
    if f.kind in ("flags", "data"):
        return [("all ones", word(-1)), ("random", word(rng.getrandbits(64))), ("zero", word(0)),
                ("bogus pwq", word(UNMAPPED | 0x7))]
    if f.kind == "name":
        n = f.size - 1
        return [(name, (v * n)[:n] + b"\0") for name, v in (
            ("non-UTF-8", b"\xff\xfe\xc3("), ("escape sequences", b"\x1b[2J\x1b[31m\x1b]0;pwn\x07"),
            ("control characters", b"\x01\x08\x7f\x9b"), ("no NUL", b"A"))]
    raise ValueError(f.kind)


class Core:
    """A working copy of the vmcore, patched and restored in place."""

    def __init__(self, original: str, work: str):
        self.path = work
        self.dirty = Path(work + ".dirty")
        if (not os.path.exists(work) or self.dirty.exists() or os.path.getsize(work) != os.path.getsize(original)
                or os.path.getmtime(work) < os.path.getmtime(original)):
            print(f"copying {original} -> {work}", file=sys.stderr)
            shutil.copyfile(original, work)
            self.dirty.unlink(missing_ok=True)

    def patch(self, patches: list[tuple[Field, bytes]]) -> list[tuple[int, bytes]]:
        saved = []
        self.dirty.touch()
        with open(self.path, "r+b") as f:
            for fld, data in patches:
                pos = 0
                for off, n in fld.pieces:
                    f.seek(off)
                    saved.append((off, f.read(n)))
                    f.seek(off)
                    f.write(data[pos:pos + n])
                    pos += n
        return saved

    def restore(self, saved: list[tuple[int, bytes]]) -> None:
        with open(self.path, "r+b") as f:
            for off, data in reversed(saved):
                f.seek(off)
                f.write(data)
        self.dirty.unlink(missing_ok=True)


def prepare_core(suite: str) -> tuple[str, list[str]]:
    """build/fuzz-SUITE.elf and its debug files, made once (the modules are copied next to it, so that a
    later rebuild of the test modules does not leave the vmcore without matching debug info)."""
    from . import bed
    from .paths import BUILD

    from .kernels import ensure

    core = BUILD / f"fuzz-{suite}.elf"
    mods = BUILD / f"fuzz-{suite}-mods"
    release = BUILD / f"fuzz-{suite}.release"
    kernel = ensure(suite)
    if core.exists() and mods.is_dir() and release.exists() and release.read_text() == kernel.release:
        return str(core), [str(kernel.vmlinux), *(str(m) for m in sorted(mods.glob("*.ko")))]
    p = bed.prepare(suite)
    subprocess.run([sys.executable, "-m", "testbed", "vmcore", "--kernel", suite, "--scenario", "all",
                    "--format", "elf", "--out", str(core)], check=True, stdout=sys.stderr)
    mods.mkdir(exist_ok=True)
    for m in p.modules.values():
        shutil.copyfile(m, mods / m.name)
    release.write_text(p.kernel.release)
    return str(core), [str(p.kernel.vmlinux), *(str(m) for m in sorted(mods.glob("*.ko")))]


# ---- running wqinspect

@dataclass
class Run:
    args: list[str]
    code: int | None
    out: str
    err: str
    seconds: float
    rss_kb: int


def run(args: list[str], target: list[str], timeout: float = TIMEOUT) -> Run:
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss.name, sys.executable, "-m", "wqinspect", *args, *target]
        t = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                             env=dict(os.environ, COLUMNS="200"))
        try:
            out, err = p.communicate(timeout=timeout)
            code = p.returncode
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            code = None
        secs = time.monotonic() - t
        text = rss.read().strip().splitlines()
        kb = int(text[-1]) if text and text[-1].isdigit() else 0
    return Run(args, code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), secs, kb)


def _reject_constant(c):
    raise ValueError(f"{c} in JSON output")


def counts(snapshot: dict) -> dict:
    return {"workqueues": len(snapshot.get("workqueues", [])),
            "pwqs": sum(len(w.get("pwqs", [])) for w in snapshot.get("workqueues", [])),
            "pools": len(snapshot.get("pools", [])), "workers": len(snapshot.get("workers", [])),
            "works": len(snapshot.get("works", []))}


#: Commands run on each mutant with the target options (snapshot first: its counts judge silent answers).
COMMANDS = [["workqueues"], ["pools", "--json"], ["workers"], ["works", "--json"], ["show", "wqi_flush"],
            ["check", "--json"], ["diagnose", "--json"], ["topology"], ["monitor", "-i", "0", "--json"],
            ["monitor", "-i", "0", "--prometheus"]]


def judge(r: Run, base: Run | None) -> list[str]:
    bad = []
    if r.code is None:
        bad.append(f"timeout after {r.seconds:.0f}s")
    elif r.code not in (0, 1, 2):
        bad.append(f"exit {r.code}: {r.err.strip()[-300:]}")
    if "Traceback" in r.err:
        bad.append(f"traceback: {r.err.strip()[-400:]}")
    if r.code == 2 and len(r.err.strip().split("\n")) != 1:
        bad.append(f"exit 2 without one line: {r.err.strip()[-300:]!r}")
    if base is not None and base.rss_kb and r.rss_kb > 2 * base.rss_kb:
        bad.append(f"peak RSS {r.rss_kb // 1024} MB > 2x the undamaged {base.rss_kb // 1024} MB")
    if "--json" not in r.args and any(c in text for text in (r.out, r.err) for c in ("\x1b", "\x9b")):
        bad.append("a raw ESC or CSI reaches the terminal (a kernel string not escaped)")
    if r.code in (0, 1) and "--json" in r.args:
        try:
            for line in [x for x in r.out.split("\n") if x] if r.args[0] == "monitor" else [r.out]:
                json.loads(line, parse_constant=_reject_constant)
        except ValueError as e:
            bad.append(f"not JSON: {e}")
    return bad


@dataclass
class Result:
    mutant: str
    command: str
    problems: list[str]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.corrupt", description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", help="a test bed kernel (sid, bookworm, ...): its ELF vmcore with every scenario "
                                     "loaded is made once (build/fuzz-KERNEL.elf), with copies of its modules")
    ap.add_argument("--core", help="an ELF vmcore (testbed vmcore --format elf)")
    ap.add_argument("-s", "--symbols", action="append", help="vmlinux and module debug files (with --core)")
    ap.add_argument("--mutants", type=int, default=12)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--commands", default="all",
                    help="commands on each mutant besides 'snapshot': 'all' (the default), or N (in rotation)")
    ap.add_argument("--jobs", type=int, default=2, help="wqinspect processes run at a time on one mutant")
    ap.add_argument("--work", help="where the working copy goes (default: next to the core)")
    ap.add_argument("--report", help="write the results as JSON here")
    ap.add_argument("--list", action="store_true", help="only list the fields that mutants damage")
    ap.add_argument("--only", help="run only these mutants (comma-separated numbers of this seed), e.g. to "
                                   "replay failures")
    a = ap.parse_args(argv)
    if a.kernel:
        a.core, a.symbols = prepare_core(a.kernel)
    elif not (a.core and a.symbols):
        ap.error("give --kernel, or --core and --symbols")
    rng = random.Random(a.seed)
    target = ["-c", None, *[x for s in a.symbols for x in ("-s", s)]]
    core = Core(a.core, a.work or a.core + ".work")
    target[1] = core.path
    t0 = time.monotonic()
    fields = Finder(a.core, a.symbols).find(rng)
    print(f"{len(fields)} fields found in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    kinds = {}
    for f in fields:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    print(f"  by kind: {kinds}", file=sys.stderr)
    if a.list:
        for f in fields:
            print(f"{f.kind:6} {f.address:#x} {f.size:3} {f.pieces} {f.label}")
        return 0

    snap_file = core.path + ".snapshot.json"
    base_runs = {}
    for args in [["snapshot", "-o", snap_file]] + COMMANDS:
        r = run(args, target)
        base_runs[args[0] + (" --prometheus" if "--prometheus" in args else "")] = r
        if judge(r, None) or r.code not in (0, 1):
            print(f"undamaged run fails: {args}: {r.code} {r.err[-500:]}", file=sys.stderr)
            return 2
    with open(snap_file) as fh:
        base_counts = counts(json.load(fh))
    print(f"undamaged: {base_counts}, snapshot {base_runs['snapshot'].seconds:.1f}s "
          f"{base_runs['snapshot'].rss_kb // 1024} MB", file=sys.stderr)

    n_cmds = len(COMMANDS) if a.commands == "all" else int(a.commands)
    results: list[Result] = []
    stats = {"mutants": 0, "runs": 0, "exit": {}, "warned": 0, "max_seconds": 0.0, "max_rss_ratio": 0.0}
    for m in range(a.mutants):
        chosen = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            # by kind first, so that the many counts do not crowd out links, names and globals
            cls = rng.choice(["list", "list", "list", "list", "count", "ptr", "name", "data", "flags", "global",
                              "global"])
            pool = [f for f in fields if (f.kind == cls if cls != "global" else f.label.split()[0] not in
                                          ("wq", "pool", "timer"))] or fields
            chosen.append(rng.choice(pool))
        patches, names = [], []
        for f in chosen:
            name, data = rng.choice(values_for(f, rng))
            patches.append((f, data))
            names.append(f"{f.label} := {name}")
        desc = f"mutant {a.seed}:{m}: " + "; ".join(names)
        if a.only is not None and str(m) not in a.only.split(","):
            continue
        saved = core.patch(patches)
        try:
            cmds = [["snapshot", "-o", snap_file]]
            cmds += [COMMANDS[(m * n_cmds + i) % len(COMMANDS)] for i in range(n_cmds)]
            # the commands of one mutant run side by side (--jobs): the patched copy is only read
            with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
                runs = list(ex.map(lambda args: run(args, target), cmds))
            for args, r in zip(cmds, runs):
                key = args[0] + (" --prometheus" if "--prometheus" in args else "")
                base = base_runs[key]
                problems = judge(r, base)
                stats["runs"] += 1
                stats["exit"][str(r.code)] = stats["exit"].get(str(r.code), 0) + 1
                stats["max_seconds"] = max(stats["max_seconds"], r.seconds)
                if base.rss_kb:
                    stats["max_rss_ratio"] = max(stats["max_rss_ratio"], r.rss_kb / base.rss_kb)
                if args[0] == "snapshot" and r.code == 0:
                    try:
                        with open(snap_file) as fh:
                            snap = json.load(fh)
                        got = counts(snap)
                        # a timer-wheel link that cannot be followed is reported as a broken timer
                        warned = bool(snap.get("warnings") or snap.get("broken_timers"))
                        stats["warned"] += warned
                        if any(f.kind == "list" for f in chosen) and got != base_counts and not warned:
                            diff = {k: f"{base_counts[k]}->{v}" for k, v in got.items() if v != base_counts[k]}
                            problems.append(f"silent wrong answer: exit 0, no warning, counts {diff}")
                    except (OSError, ValueError) as e:
                        problems.append(f"snapshot file unreadable: {e}")
                if r.code == 2:  # refused as a whole: say why, for the report
                    print(f"  exit 2 from {args[0]}: {r.err.strip()[:200]}", file=sys.stderr)
                    stats["refused"] = stats.get("refused", 0) + 1
                if problems:
                    results.append(Result(desc, " ".join(args), problems))
                    print(f"FAIL {desc}\n  wqinspect {' '.join(args)}: {'; '.join(problems)}", file=sys.stderr)
        finally:
            core.restore(saved)
        stats["mutants"] += 1
        print(f"[{m + 1}/{a.mutants}] {desc} ({time.monotonic() - t0:.0f}s)", file=sys.stderr, flush=True)
    stats["failures"] = len(results)
    print(json.dumps(stats), file=sys.stderr)
    if a.report:
        with open(a.report, "w") as fh:
            json.dump({"stats": stats, "base_counts": base_counts,
                       "failures": [r.__dict__ for r in results]}, fh, indent=1)
    return 1 if results else 0


if __name__ == "__main__":
    sys.exit(main())
