# SPDX-License-Identifier: LGPL-2.1-or-later
"""The reference model of the workqueue algorithm: state machine, invariants, scenario replay.

Pure Python: it reads snapshots, never a kernel.
"""
