# SPDX-License-Identifier: LGPL-2.1-or-later
"""How unbound work is spread over CPUs: affinity scopes and their pods (v6.6+), per-node tables before."""

import re
from typing import Iterator

from drgn import Object, Program

from .workqueue import cpumask_cpus


def unbound_cpus(prog: Program) -> list[int]:
    """``wq_unbound_cpumask``: the CPUs unbound workqueues may use."""
    return cpumask_cpus(prog["wq_unbound_cpumask"])


def for_each_affinity_scope(prog: Program) -> Iterator[tuple[int, str, Object]]:
    """
    Affinity scopes (commit 63c5484e7495, "workqueue: Add multiple affinity
    scopes and interface to select them", in v6.6): (index, name, ``struct
    wq_pod_type *``).  The scopes are the ``WQ_AFFN_*`` enumerators (a cache_shard
    scope came in v7.1), their names ``wq_affn_names[]``.
    """
    try:
        types = prog["wq_pod_types"]
    except KeyError:
        return
    names = prog["wq_affn_names"]
    enum = prog.constant("WQ_AFFN_DFL").type_
    for e in enum.enumerators:
        if re.fullmatch(r"WQ_AFFN_(DFL|NR_TYPES)", e.name) or e.value >= len(types):
            continue
        yield e.value, names[e.value].string_().decode(), types[e.value].address_of_()


def default_affinity_scope(prog: Program) -> int | None:
    try:
        return prog["wq_affn_dfl"].value_()
    except KeyError:
        return None


def pod_type(pt: Object, nr_cpu_ids: int) -> tuple[int, list[list[int]], list[int], list[int]]:
    """(nr_pods, CPUs of each pod, node of each pod, pod of each CPU) of a ``struct wq_pod_type *``."""
    n = pt.nr_pods.value_()
    if n <= 0 or not pt.pod_cpus:
        return n, [], [], []
    return (n, [cpumask_cpus(pt.pod_cpus[i]) for i in range(n)], [pt.pod_node[i].value_() for i in range(n)],
            [pt.cpu_pod[c].value_() for c in range(nr_cpu_ids)])


def node_cpus(prog: Program, nr_node_ids: int) -> list[list[int]]:
    """CPUs of each NUMA node (``node_to_cpumask_map``), where NUMA is configured."""
    try:
        m = prog["node_to_cpumask_map"]
    except KeyError:
        return []
    return [cpumask_cpus(m[n]) for n in range(nr_node_ids)]


def task_cpus(task: Object) -> list[int]:
    """The CPUs a task may run on (``task->cpus_ptr``)."""
    return cpumask_cpus(task.cpus_ptr)
