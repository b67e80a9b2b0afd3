# SPDX-License-Identifier: LGPL-2.1-or-later
"""The wqinspect test bed: real Debian kernels booted under QEMU.

Layers, each usable alone (``python -m testbed --help`` drives them):

- :mod:`testbed.debian`: download-only apt states for the Debian suites;
- :mod:`testbed.kernels`: resolve a suite's current cloud kernel and keep it,
  with its ``-dbg`` vmlinux, modules and headers, in a bounded cache;
- :mod:`testbed.kbuild`: build the scenario modules of ``fixtures/kmod``;
- :mod:`testbed.initramfs`: a busybox initramfs with the guest agent;
- :mod:`testbed.guest`: boot, run commands inside, dump memory over QMP;
- :mod:`testbed.scenarios`: the scenario descriptions of ``fixtures/scenarios``.

Only the standard library is used, so the harness runs before anything is
installed into the project's virtual environment.
"""


class TestbedError(Exception):
    """A failure with a message meant for the person running the test bed."""
