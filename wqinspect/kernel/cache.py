# SPDX-License-Identifier: LGPL-2.1-or-later
"""Facts looked up once per program (symbol names, CPU nodes, offsets), kept in ``prog.cache``."""

from typing import Callable, TypeVar

from drgn import Program

T = TypeVar("T")


def per_program(prog: Program, table: str, key, compute: Callable[[], T]) -> T:
    """``compute()`` the first time ``key`` is asked for in ``table`` of this program, the kept value after."""
    cache = prog.cache.setdefault(f"wqinspect_{table}", {})
    try:
        return cache[key]
    except KeyError:
        value = cache[key] = compute()
        return value
