# SPDX-License-Identifier: LGPL-2.1-or-later
"""The kernel differences the model needs, as explicit parameters.

One :class:`Features` value describes one kernel: :meth:`Features.from_snapshot`
derives it from what the readers detected (``kernel.features``) and the
machine's topology; tests build others directly to drive the model through
every combination.
"""

from dataclasses import dataclass, field

from ..snapshot import Layout, WqKind


@dataclass(frozen=True)
class Features:
    nr_colors: int = 16
    #: v6.9+: max_active lives in the workqueue (a per-cpu pwq's limit is
    #: wq->max_active); before, each pwq has its own max_active.
    wq_max_active: bool = True
    #: v6.9+: unbound workqueues count active items per NUMA node.
    node_nr_active: bool = True
    #: Up to v6.8: unbound workqueues with max_active 1 are made ordered.
    implicit_ordered: bool = False
    #: v6.6+: an unbound workqueue has a pwq per CPU plus a default one; before,
    #: per-node pwqs that are the default one on a single-node machine.
    unbound_pwq_per_cpu: bool = True
    #: v6.9+: BH pools and workqueues exist.
    bh: bool = True
    #: Before v5.15 (WORK_NO_COLOR, see Layout.work_no_color): flush_work()'s barrier items take
    #: this color, count neither in nr_in_flight[] nor in nr_active and carry no INACTIVE bit;
    #: nr_colors is then 15.  None: barriers take the color of the item they follow and count.
    no_color: int | None = None
    #: v5.15+: the worker records the color of the item it runs (worker->current_color);
    #: before, a running item's color cannot be read, so the model predicts none.
    running_color: bool = True
    max_active_limit: int = 2048
    dfl_active: int = 1024
    dfl_min_active: int | None = 8
    max_unbound_per_cpu: int | None = None
    wq_flag_names: frozenset = frozenset({"WQ_BH", "WQ_UNBOUND", "WQ_FREEZABLE", "WQ_MEM_RECLAIM", "WQ_HIGHPRI",
                                          "WQ_CPU_INTENSIVE", "WQ_SYSFS", "WQ_POWER_EFFICIENT", "WQ_PERCPU",
                                          "__WQ_DESTROYING", "__WQ_DRAINING", "__WQ_ORDERED", "__WQ_LEGACY"})
    possible_cpus: tuple[int, ...] = (0, 1)
    online_cpus: tuple[int, ...] = (0, 1)
    nr_node_ids: int = 1
    cpu_nodes: dict = field(default_factory=dict)
    #: Node of the unbound pool of each nice level (-1: no node).
    unbound_nodes: dict = field(default_factory=dict)

    def cpu_node(self, cpu: int) -> int:
        return self.cpu_nodes.get(cpu, 0)

    def unbound_pool_node(self, nice: int) -> int:
        return self.unbound_nodes.get(nice, -1)

    @classmethod
    def from_layout(cls, lay: Layout, **topology) -> "Features":
        return cls(
            nr_colors=lay.nr_colors,
            wq_max_active=lay.wq_max_active,
            node_nr_active=lay.wq_node_nr_active,
            implicit_ordered=lay.implicit_ordered,
            unbound_pwq_per_cpu=lay.wq_cpu_pwq == "cpu_pwq",
            bh=lay.bh_pools,
            no_color=lay.work_no_color,
            running_color=lay.worker_current_color,
            max_active_limit=lay.wq_max_active_limit,
            dfl_active=lay.wq_dfl_active,
            dfl_min_active=lay.wq_dfl_min_active,
            max_unbound_per_cpu=lay.wq_max_unbound_per_cpu,
            wq_flag_names=frozenset(name for name, _ in lay.wq_flags),
            **topology,
        )

    def to_layout(self) -> Layout:
        """The layout record of a kernel with these features (for states the model makes)."""
        return Layout(
            nr_colors=self.nr_colors, wq_max_active=self.wq_max_active, wq_node_nr_active=self.node_nr_active,
            implicit_ordered=self.implicit_ordered, wq_cpu_pwq="cpu_pwq" if self.unbound_pwq_per_cpu else "cpu_pwqs",
            bh_pools=self.bh, work_no_color=self.no_color, worker_current_color=self.running_color,
            wq_max_active_limit=self.max_active_limit, wq_dfl_active=self.dfl_active,
            wq_dfl_min_active=self.dfl_min_active, wq_max_unbound_per_cpu=self.max_unbound_per_cpu,
            wq_flags=tuple((name, 1 << i) for i, name in enumerate(sorted(self.wq_flag_names))),
        )

    @classmethod
    def from_snapshot(cls, snap) -> "Features":
        lay = snap.kernel.features
        cpu_nodes = {p.cpu: p.node for p in snap.pools if p.cpu >= 0}
        # The unbound pools that default-attribute workqueues share: those of system_unbound_wq
        # (normal) and of an unbound WQ_HIGHPRI workqueue if one exists.
        unbound_nodes: dict[int, int] = {}
        for wq in snap.workqueues:
            if wq.kind == WqKind.UNBOUND and wq.dfl_pwq:
                for p in wq.pwqs:
                    pool = snap.pool(p.pool_id)
                    if p.address == wq.dfl_pwq and pool is not None:
                        if wq.system_var == "system_unbound_wq" or pool.nice not in unbound_nodes:
                            unbound_nodes[pool.nice] = pool.node
        return cls.from_layout(
            lay,
            possible_cpus=tuple(snap.kernel.possible_cpus),
            online_cpus=tuple(snap.kernel.online_cpus),
            nr_node_ids=snap.kernel.nr_node_ids,
            cpu_nodes=cpu_nodes,
            unbound_nodes=unbound_nodes,
        )
