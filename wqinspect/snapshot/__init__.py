# SPDX-License-Identifier: LGPL-2.1-or-later
"""The snapshot: everything wqinspect read from a kernel, typed, versioned, and without drgn.

- :mod:`.types`: the msgspec types (``Snapshot``, ``Workqueue``, ``Pwq``, ``Pool``, ``Worker``, ``Work`` ...);
- :mod:`.layout`: the record of the kernel's workqueue layout (``kernel.features``) and the decoders
  that use it (flags, the work data word);
- :mod:`.vocab`: the closed vocabularies (``Where``, ``WqKind``, ``Severity`` ...);
- :mod:`.index`: the one index of a snapshot; :mod:`.links`: barrier and workqueue links;
- :mod:`.io`: reading and writing snapshot files.
"""

from .index import Index
from .io import SnapshotError, dumps_bytes, load
from .layout import Addr, Layout, WorkData, decode_flags, decode_work_data
from .links import link_barriers, link_works
from .types import (SCHEMA_VERSION, Barrier, BrokenTimer, CountersSample, CpuIntensive, Crash, CrashAddress,
                    CrashFrame, DelayedTimer, Flusher, HungTask,
                    FuncRef, HogEntry, KernelInfo, LogRecord, Module, NodeNrActive, Pool, Pwq, ReadWarning, Scope,
                    Snapshot, Sysfs, Target, TaskRef, TaskStack, Topology, Watchdog, Work, Worker, WqCounters,
                    Workqueue, cpulist, jiffies_delta, jiffies_to_msecs)
from .vocab import FlusherWhere, Mode, PoolKind, Severity, Verdict, Where, WqKind

__all__ = [
    "Addr", "Barrier", "BrokenTimer", "CountersSample", "CpuIntensive", "Crash", "CrashAddress", "CrashFrame",
    "DelayedTimer", "HungTask", "Flusher", "FlusherWhere",
    "FuncRef", "HogEntry", "Index", "KernelInfo", "Layout", "LogRecord", "Mode", "Module", "NodeNrActive", "Pool",
    "PoolKind", "Pwq", "ReadWarning", "SCHEMA_VERSION", "Scope", "Severity", "Snapshot", "SnapshotError", "Sysfs",
    "Target", "TaskRef", "TaskStack", "Topology", "Verdict", "Watchdog", "Where", "Work", "WorkData", "Worker",
    "WqCounters", "WqKind", "Workqueue", "cpulist", "decode_flags", "decode_work_data", "dumps_bytes",
    "jiffies_delta", "jiffies_to_msecs", "link_barriers", "link_works", "load",
]
