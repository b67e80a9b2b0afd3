# SPDX-License-Identifier: LGPL-2.1-or-later
"""How unbound work is spread over CPUs: affinity scopes and their pods (v6.6+), per-node tables before."""

import re
from typing import Iterator

from drgn import Object, Program, TypeKind

from . import cpus as kcpus
from .walk import WalkError


def cpumask_cpus(mask: Object) -> list[int]:
    """CPUs of a ``cpumask_var_t`` (pointer or one-element array), ``struct cpumask`` or pointer to one."""
    t = mask.type_.unqualified()
    while t.kind == TypeKind.TYPEDEF:
        t = t.type.unqualified()
    address = mask.value_() if t.kind == TypeKind.POINTER else mask.address_
    return kcpus.cpumask_cpus(mask.prog_, address)


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
        yield e.value, names[e.value].string_().decode(errors="replace"), types[e.value].address_of_()


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
    if n > nr_cpu_ids:
        raise WalkError(f"nr_pods {n} is more than nr_cpu_ids {nr_cpu_ids}: damaged")
    return (n, [cpumask_cpus(pt.pod_cpus[i]) for i in range(n)], [pt.pod_node[i].value_() for i in range(n)],
            [pt.cpu_pod[c].value_() for c in range(nr_cpu_ids)])


def node_cpus(prog: Program, nr_node_ids: int) -> list[list[int]]:
    """CPUs of each NUMA node (``node_to_cpumask_map``), where NUMA is configured."""
    try:
        m = prog["node_to_cpumask_map"]
    except KeyError:
        return []
    length = m.type_.unqualified().length
    return [cpumask_cpus(m[n]) for n in range(min(nr_node_ids, length) if length else nr_node_ids)]
