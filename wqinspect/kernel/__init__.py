# SPDX-License-Identifier: LGPL-2.1-or-later
"""Kernel readers: drgn helpers for workqueues, pools, workers and work items."""
