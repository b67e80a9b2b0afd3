# SPDX-License-Identifier: LGPL-2.1-or-later
"""The test bed's own failures say what failed: the package and apt's reason, the tail of the
module build log, the tail of the console of a guest that does not boot."""

import shutil

import pytest

from testbed import kbuild, kernels
from testbed import TestbedError as BedError  # (a name pytest does not collect)
from testbed.guest import Guest

from .conftest import DEBIAN_KERNELS

#: A kernel that is always there: not the optional release candidate, if another is in KERNELS.
SUITE = next((k for k in DEBIAN_KERNELS if k not in kernels.OPTIONAL), DEBIAN_KERNELS[0] if DEBIAN_KERNELS else None)
pytestmark = pytest.mark.skipif(SUITE is None, reason="KERNELS names no Debian kernel")


def test_failed_download_names_the_package_and_the_reason(tmp_path):
    apt = kernels._apt_updated(kernels.suite_of(SUITE), kernels.arch_of(SUITE))
    with pytest.raises(BedError) as e:
        apt.download(["wqi-no-such-package"], tmp_path)
    assert f"download of wqi-no-such-package from {apt.suite} failed: " in str(e.value)
    assert "Unable to locate package wqi-no-such-package" in str(e.value)


def test_module_that_does_not_build_shows_the_build_log(tmp_path, monkeypatch):
    src = tmp_path / "kmod"
    shutil.copytree(kbuild.KMOD_SRC, src)
    with open(src / "wqi.c", "a") as f:
        f.write("\n#error wqi deliberately broken\n")
    monkeypatch.setattr(kbuild, "KMOD_SRC", src)
    kernel = kernels.ensure(SUITE)
    with pytest.raises(BedError) as e:
        kbuild.build_modules(kernel, out=tmp_path / "out")
    message = str(e.value)
    assert message.startswith(f"building the test modules for {kernel.describe()} failed")
    assert "wqi deliberately broken" in message  # the compiler's line, from the log's tail
    assert (tmp_path / "out" / "build.log").exists()


def test_guest_that_does_not_boot_shows_its_console(tmp_path):
    kernel = kernels.ensure(SUITE)
    initrd = tmp_path / "not-an-initramfs"
    initrd.write_bytes(b"\0garbage" * 512)
    guest = Guest(f"noboot-{SUITE}", kernel.vmlinuz, initrd, hostroot=False, agent=False, arch=kernel.arch)
    with pytest.raises(BedError) as e:
        guest.start(timeout=120)
    message = str(e.value)
    assert message.startswith("the guest did not boot")
    assert "--- console tail ---" in message and "Kernel panic" in message


def test_guest_that_hangs_while_booting_is_booted_once_more(monkeypatch, capsys):
    """QEMU's -S holds the CPUs before the first instruction: a console that never moves, as in the
    boot that hung in CI.  The test bed gives up after BOOT_SILENCE, not the whole timeout, and tries
    once more."""
    kernel = kernels.ensure(SUITE)
    monkeypatch.setattr(Guest, "BOOT_SILENCE", 3.0)
    guest = Guest(f"hang-{SUITE}", kernel.vmlinuz, kernel.vmlinuz, hostroot=False, agent=False, arch=kernel.arch,
                  qemu_args=("-S",))
    with pytest.raises(BedError) as e:
        guest.start(timeout=120)
    assert str(e.value).startswith("the guest did not boot: its console has been silent for 3 s")
    assert capsys.readouterr().err.count("hung while booting; booting it once more") == 1
