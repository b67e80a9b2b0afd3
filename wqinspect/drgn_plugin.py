# SPDX-License-Identifier: LGPL-2.1-or-later
"""wqinspect's commands inside drgn: the ``wq`` command family, registered through drgn's plugin entry point.

pyproject.toml declares ``wqinspect = "wqinspect.drgn_plugin"`` under ``[project.entry-points."drgn.plugins"]``;
drgn imports this module when it creates its first program, and the command registers itself, as drgn's own
crash-compatible commands do. In drgn's interactive shell::

    >>> %wq workqueues events
    >>> %wq diagnose --json > findings.json
    >>> %wq works --wq kblockd | less

and in scripts, ``drgn.commands.run_command(prog, "wq pools")``. Each subcommand is the wqinspect command of
the same name, with the same options and output, reading the program drgn has open (the running kernel, a
vmcore, a QEMU guest) instead of opening one: drgn's own options (-c, -k, -s, --qemu ...) choose the kernel.
``monitor`` prints one sample unless given an INTERVAL. The command returns wqinspect's exit code (0 nothing
found, 1 check/diagnose found something, 2 bad usage, 3 internal error), as drgn's ``sh`` returns its status.

Importing this module is cheap: wqinspect's command line is imported only when a ``wq`` command runs.
"""

import argparse
from typing import Any, Sequence

from drgn import Program
from drgn.commands import argument, parse_shell_command
from drgn.commands.linux import linux_kernel_custom_command

#: The subcommands, in the order of the overview (the wqinspect command line has the same ones).
SUBCOMMANDS = (
    ("workqueues", "workqueues: kind, flags, limits, active/inactive/in-flight works"),
    ("pools", "worker pools: CPUs, workers, worklist, time since last progress"),
    ("workers", "workers (kworkers, rescuers, BH) and what they run"),
    ("works", "work items: running, scheduled, queued, inactive, delayed"),
    ("show", "the tree of one workqueue: pwqs, pools, workers, works"),
    ("check", "check the workqueue invariants of the reference model"),
    ("diagnose", "explain stalls, CPU hogs, stuck flushes, dangling work, rescuers"),
    ("monitor", "per-workqueue counters as wq_monitor.py shows them (one sample)"),
    ("topology", "affinity scopes, pods, each workqueue's CPU to pool map"),
    ("snapshot", "save everything read as one JSON file (-o FILE)"),
)

# A line block ("|..."): drgn's help formatter keeps its lines as they are.
_OVERVIEW = "\n".join(f"    |  {name:<11} {text}" for name, text in SUBCOMMANDS)
_DESCRIPTION = f"""
    Inspect the workqueues of the kernel drgn has open, with wqinspect.

    Each *command* is the wqinspect command of the same name, with its options and output; drgn's own
    options (``-c``, ``-k``, ``-s``, ``--qemu``) choose the kernel. ``wq help`` *command* (or
    *command* ``--help``) prints a command's options. Commands:

{_OVERVIEW}

    Returns wqinspect's exit code: 0, or 1 when ``check`` or ``diagnose`` found something, 2 for bad
    usage. ``monitor`` prints one sample unless given an *INTERVAL*.
"""


def _argv(args: Sequence[str]) -> list[str] | None:
    """The wqinspect command line for ``wq ARGS``; None for the overview."""
    args = list(args)
    if not args or args[0] in ("-h", "--help"):
        return None
    if args[0] == "help":
        return [args[1], "--help"] if len(args) > 1 else None
    if args[0] == "monitor" and not any(a in ("-i", "--interval") or a.startswith("--interval=")
                                        or a.replace(".", "", 1).isdigit() for a in args[1:]):
        args += ["-i", "0"]  # one sample: a drgn command returns
    return args


def run(prog: Program, args: Sequence[str]) -> int:
    """Run ``wq ARGS`` on ``prog``; returns the exit code."""
    argv = _argv(args)
    if argv is None:
        print(_help_text())
        return 0
    from . import cli

    # drgn chooses the kernel: its options are hidden from the help (and refused) here.
    hidden = [p for c in cli.main.commands.values() for p in c.params if p.name in _DRGN_CHOOSES and not p.hidden]
    for p in hidden:
        p.hidden = True
    try:
        with cli.reading(prog):
            cli.main.main(args=argv, prog_name="wq", standalone_mode=True)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        for p in hidden:
            p.hidden = False
    return 0


_DRGN_CHOOSES = frozenset(("core", "qemu", "live_kernel", "symbols", "debug_directories", "kernel_directories",
                           "vmcoreinfo", "debuginfod"))


def _help_text() -> str:
    lines = ["usage: wq COMMAND [OPTIONS] [ARGS]", "", "Inspect the workqueues of the kernel drgn has open.", "",
             "commands:"]
    lines += [f"  {name:<11} {text}" for name, text in SUBCOMMANDS]
    lines += ["", "'wq help COMMAND' or 'wq COMMAND --help' for a command's options."]
    return "\n".join(lines)


_ARGUMENTS = (
    argument("command", metavar="command", choices=[n for n, _ in SUBCOMMANDS] + ["help"],
             help="the wqinspect command to run"),
    argument("args", nargs=argparse.REMAINDER, help="its options and arguments"),
)


@linux_kernel_custom_command(
    name="wq",
    description="inspect, check and explain the kernel's workqueues (wqinspect)",
    long_description=_DESCRIPTION,
    arguments=_ARGUMENTS,
    parse=parse_shell_command,
)
def _cmd_wq(prog: Program, name: str, args: Sequence[str], **kwargs: Any) -> int:
    return run(prog, args)


try:  # drgn's crash compatibility mode: "%crash wq workqueues" (a private module of drgn 0.3.0)
    from drgn.commands._crash.common import crash_custom_command
except ImportError:  # pragma: no cover - another drgn
    pass
else:
    crash_custom_command(
        name="wq",
        description="inspect, check and explain the kernel's workqueues (wqinspect)",
        long_description=_DESCRIPTION,
        arguments=_ARGUMENTS,
        parse=parse_shell_command,
    )(_cmd_wq)
