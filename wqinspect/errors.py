# SPDX-License-Identifier: LGPL-2.1-or-later
"""Errors every layer may raise, without importing drgn (``--from`` never loads it)."""


class TargetError(Exception):
    """The kernel could not be opened or read (exit code 2)."""


class ScenarioError(Exception):
    """A scenario file that cannot be read or replayed (the user's input, not the kernel's)."""
