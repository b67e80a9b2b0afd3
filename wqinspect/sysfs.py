# SPDX-License-Identifier: LGPL-2.1-or-later
"""/sys/devices/virtual/workqueue against memory, on a live host.

WQ_SYSFS workqueues export their attributes there (kernel/workqueue.c,
wq_sysfs_attrs[] and wq_sysfs_unbound_attrs[]): per_cpu and max_active, and
for unbound ones nice, cpumask, affinity_scope and affinity_strict (v6.6+;
before, numa).  The directory also has the global cpumask (wq_unbound_cpumask).
:func:`read_sysfs` is the only code that reads the files; :func:`differences`
compares them with a snapshot of the same running kernel.
"""

import os
from dataclasses import dataclass

from .snapshot import Snapshot, Sysfs

ROOT = "/sys/devices/virtual/workqueue"


def read_sysfs(root: str = ROOT) -> Sysfs | None:
    if not os.path.isdir(root):
        return None
    out = Sysfs(root)
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if os.path.isdir(path) and os.path.exists(os.path.join(path, "max_active")):
            attrs = {}
            for name in ("per_cpu", "max_active", "nice", "cpumask", "affinity_scope", "affinity_strict", "numa"):
                try:
                    with open(os.path.join(path, name)) as f:
                        attrs[name] = f.read().strip()
                except OSError:
                    pass
            out.workqueues[entry] = attrs
        elif os.path.isfile(path):
            try:
                with open(path) as f:
                    out.global_attrs[entry] = f.read().strip()
            except OSError:
                pass
    return out


def mask_cpus(text: str) -> list[int]:
    """A "%*pb" hex mask ("3", "ff,ffffffff") as a CPU list."""
    value = int(text.replace(",", "") or "0", 16)
    return [i for i in range(value.bit_length()) if value >> i & 1]


@dataclass
class Difference:
    object: str
    attribute: str
    sysfs: str
    memory: str


def differences(snap: Snapshot) -> list[Difference]:
    """Where sysfs and memory disagree (both read from the running kernel, a moment apart)."""
    sysfs = snap.sysfs
    if sysfs is None:
        return []
    out = []
    if "cpumask" in sysfs.global_attrs and snap.topology is not None:
        have = mask_cpus(sysfs.global_attrs["cpumask"])
        if have != snap.topology.unbound_cpus:
            out.append(Difference("workqueues", "cpumask (wq_unbound_cpumask)", str(have),
                                  str(snap.topology.unbound_cpus)))
    by_name: dict[str, list] = {}
    for wq in snap.workqueues:
        if "WQ_SYSFS" in wq.flag_names:
            by_name.setdefault(wq.name, []).append(wq)
    for name in sorted(set(by_name) | set(sysfs.workqueues)):
        attrs = sysfs.workqueues.get(name)
        wqs = by_name.get(name, [])
        if attrs is None:
            out.append(Difference(name, "directory", "missing", "WQ_SYSFS workqueue"))
            continue
        if len(wqs) != 1:
            out.append(Difference(name, "directory", "present", f"{len(wqs)} WQ_SYSFS workqueues of that name"))
            continue
        wq = wqs[0]
        unbound = "WQ_UNBOUND" in wq.flag_names
        memory = {"per_cpu": str(int(not unbound)), "max_active": str(wq.saved_max_active)}
        if unbound:
            memory["nice"] = str(wq.nice)
            memory["cpumask"] = wq.cpus
            if wq.affn_strict is not None:
                memory["affinity_strict"] = str(int(wq.affn_strict))
            if wq.affn_scope is not None and snap.topology is not None:
                dfl = next((s.name for s in snap.topology.scopes if s.default), None)
                memory["affinity_scope"] = f"default ({dfl})" if wq.affn_scope == "default" else wq.affn_scope
        for key, want in memory.items():
            if key not in attrs:
                continue
            have = mask_cpus(attrs[key]) if key == "cpumask" else attrs[key]
            if have != want:
                out.append(Difference(name, key, str(have), str(want)))
    return out
