# SPDX-License-Identifier: LGPL-2.1-or-later
"""Small helpers kept under their old names (the view models hold the logic: :mod:`wqinspect.views.models`)."""

from ..snapshot import Snapshot, Workqueue, cpulist  # noqa: F401 (re-exported)
from .models import cpu_pools, dfl_pool, seconds, work_detail, worker_label  # noqa: F401 (re-exported)


def jiffies_ago(snap: Snapshot, ts: int | None) -> float | None:
    """Seconds from jiffies ``ts`` to the capture; None if HZ is unknown."""
    return snap.jiffies_ago(ts)


def named(wq: Workqueue, name: str) -> bool:
    """Exact name (or system variable, e.g. ``system_percpu_wq``) match."""
    return wq.named(name)


def wq_type(wq: Workqueue) -> str:
    """The kind, with the kernel's wq_dump.py strict marker: percpu, unbound, unbound,S, ordered or bh."""
    from .tables import kind

    return kind(wq)
