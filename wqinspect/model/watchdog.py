# SPDX-License-Identifier: LGPL-2.1-or-later
"""The workqueue watchdog's rule (kernel/workqueue.c, wq_watchdog_timer_fn()).

For every pool with work queued, the watchdog takes the later of the pool's
progress stamp (watchdog_ts / last_progress_ts) and the touch stamp (the
CPU's wq_watchdog_touched_cpu for per-cpu pools, wq_watchdog_touched for
unbound ones); the pool is stuck if jiffies is past that by more than the
threshold.  It reports "stuck for N s" with N = jiffies_to_msecs(now -
pool_ts) / 1000, and after every check resets all touch stamps to jiffies.
All values are unsigned long jiffies and compared as the kernel's time_after().
"""

from dataclasses import dataclass

from ..snapshot import jiffies_delta, jiffies_to_msecs

MASK = (1 << 64) - 1
#: workqueue.watchdog_thresh's default, in seconds.
DEFAULT_THRESH = 30


def time_after(a: int, b: int) -> bool:
    """time_after(a, b): a is later than b, on wrapping unsigned long jiffies."""
    return ((b - a) & MASK) >= 1 << 63


@dataclass(frozen=True)
class Verdict:
    #: The kernel's test, evaluated now: would the watchdog report the pool?
    fires: bool
    #: Jiffies without progress (now - pool_ts).
    stuck: int
    #: The seconds the kernel prints: jiffies_to_msecs(now - pool_ts) / 1000.
    seconds: int
    #: Jiffies until the watchdog reports it (0 if it would now).
    until: int


def check_pool(now: int, pool_ts: int, touched: int | None, thresh_s: int, hz: int) -> Verdict:
    """The watchdog's verdict on one pool with work queued (``touched`` None: no watchdog stamps)."""
    ts = pool_ts if touched is None or time_after(pool_ts, touched) else touched
    thresh = thresh_s * hz
    stuck = jiffies_delta(now, pool_ts)
    seconds = jiffies_to_msecs(stuck, hz) // 1000 if stuck > 0 else 0
    fires = bool(thresh) and time_after(now, ts + thresh)
    return Verdict(fires, stuck, seconds, 0 if fires else max(jiffies_delta(ts + thresh, now), 0))
