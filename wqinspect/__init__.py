# SPDX-License-Identifier: LGPL-2.1-or-later
"""wqinspect: inspect, check and explain Linux workqueues."""

__version__ = "0.1.0"
