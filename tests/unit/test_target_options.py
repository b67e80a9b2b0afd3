# SPDX-License-Identifier: LGPL-2.1-or-later
"""drgn's target conventions: options before or after the command, -k, debug directories, --vmcoreinfo,
-s DIR, and the debug-info hint of each distribution."""

import pytest

from wqinspect import target
from wqinspect.target import dbg_hint, distribution

from .conftest import SNAPSHOTS
from .test_cli_errors import elf_core, one_line_error, wqinspect

SNAP = str(SNAPSHOTS / "sid-idle.json")
DEBIAN, DEBIAN_OLD = "7.2.13+deb14-cloud-amd64", "6.1.0-57-cloud-amd64"
UBUNTU, FEDORA, RHEL = "6.8.0-45-generic", "6.8.5-301.fc40.x86_64", "5.14.0-427.13.1.el9_4.x86_64"


# ---- where the options go


def test_options_before_and_after_the_command_give_the_same_output():
    before = wqinspect("--from", SNAP, "pools", "--json")
    after = wqinspect("pools", "--from", SNAP, "--json")
    assert before[0] == after[0] == 0, before[2] + after[2]
    assert before[1] == after[1] and '"pools"' in before[1]


def test_j_is_json():
    rc, out, err = wqinspect("workqueues", "--from", SNAP, "-j")
    assert rc == 0, err
    assert out.lstrip().startswith("{")


def test_the_same_option_twice_with_different_values_is_refused(tmp_path):
    one_line_error(*wqinspect("--from", SNAP, "pools", "--from", str(tmp_path / "x.json"))[::2], "given twice")


def test_the_same_value_before_and_after_is_accepted():
    rc, _, err = wqinspect("--from", SNAP, "pools", "--from", SNAP)
    assert rc == 0, err


@pytest.mark.parametrize("before,after,message", [
    (["-k"], ["--from", SNAP], "it takes no --kernel"), (["-c", "core"], ["--qemu", "sock"], "--core or --qemu"),
    (["--from", SNAP], ["-c", "x"], "it takes no --core"), ([], ["-k", "-c", "x"], "--core or --kernel")])
def test_two_kernels_are_refused(before, after, message):
    one_line_error(*wqinspect(*before, "pools", *after)[::2], message)


@pytest.mark.parametrize("opt", [("-s", "/"), ("--debug-directory", "/"), ("--kernel-directory", "/"),
                                 ("--vmcoreinfo", "/etc/hostname"), ("--debuginfod",)])
def test_from_takes_no_debug_info_options(opt):
    one_line_error(*wqinspect(*opt, "pools", "--from", SNAP)[::2], "takes no debug info options")


def test_symbols_before_the_command_reach_the_target(tmp_path):
    core = elf_core(tmp_path / "core", [(4, 0x1000, 0x100)], 0x2000)
    one_line_error(*wqinspect("-s", str(tmp_path / "vmlinux"), "workqueues", "-c", core)[::2], "no such file")


def test_missing_debug_directory(tmp_path):
    core = elf_core(tmp_path / "core", [(4, 0x1000, 0x100)], 0x2000)
    one_line_error(*wqinspect("-c", core, "pools", "--debug-directory", str(tmp_path / "nope"))[::2],
                   "no such directory")
    one_line_error(*wqinspect("-c", core, "--kernel-directory", str(tmp_path / "nope"), "pools")[::2],
                   "no such directory")


def test_symbols_directory_is_not_an_internal_error(tmp_path):
    """`-s /usr/lib/debug` was exit 3; a directory is now searched, and a failure is one line, exit 2."""
    core = elf_core(tmp_path / "core", [(4, 0x1000, 0x100)], 0x2000)
    (tmp_path / "debug").mkdir()
    rc, _, err = wqinspect("workqueues", "-c", core, "-s", str(tmp_path / "debug"))
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("content,message", [(None, "no such file"), ("", "not a vmcoreinfo file"),
                                             ("PAGESIZE=4096\n", "not a vmcoreinfo file")])
def test_bad_vmcoreinfo(tmp_path, content, message):
    info = tmp_path / "vmcoreinfo"
    if content is not None:
        info.write_text(content)
    core = elf_core(tmp_path / "core", [(4, 0x1000, 0x100)], 0x2000)
    one_line_error(*wqinspect("--vmcoreinfo", str(info), "pools", "-c", core)[::2], message)


def test_vmcoreinfo_directory(tmp_path):
    core = elf_core(tmp_path / "core", [(4, 0x1000, 0x100)], 0x2000)
    one_line_error(*wqinspect("pools", "-c", core, "--vmcoreinfo", str(tmp_path))[::2], "is a directory")


def test_help_lists_the_target_options():
    for args in (("--help",), ("pools", "--help")):
        rc, out, _ = wqinspect(*args)
        assert rc == 0
        for opt in ("-k, --kernel", "--debug-directory", "--kernel-directory", "--vmcoreinfo", "--debuginfod"):
            assert opt in out, (args, opt)


# ---- -s DIR


def _tree(root, files):
    for f in files:
        p = root / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


def test_search_directory_finds_this_kernels_files_only(tmp_path):
    _tree(tmp_path, [f"boot/vmlinux-{DEBIAN}", f"boot/vmlinux-{DEBIAN_OLD}", "vmlinux",
                     f"lib/modules/{DEBIAN}/kernel/fs/ext4.ko", f"lib/modules/{DEBIAN}/extra/wqi.ko.debug",
                     f"lib/modules/{DEBIAN_OLD}/kernel/fs/ext4.ko", ".build-id/ab/cdef.debug", "usr/bin/ls.debug",
                     f"lib/modules/{DEBIAN}/modules.dep"])
    found = sorted(str(p.relative_to(tmp_path)) for p in map(type(tmp_path), target._search_directory(str(tmp_path),
                                                                                                    DEBIAN)))
    assert found == sorted([f"boot/vmlinux-{DEBIAN}", "vmlinux", f"lib/modules/{DEBIAN}/kernel/fs/ext4.ko",
                            f"lib/modules/{DEBIAN}/extra/wqi.ko.debug"])


def test_search_directory_is_bounded(tmp_path, monkeypatch):
    _tree(tmp_path, [f"d{i}/x{j}" for i in range(5) for j in range(5)])
    monkeypatch.setattr(target, "_WALK_LIMIT", 10)
    with pytest.raises(target.TargetError, match="too large to search"):
        target._search_directory(str(tmp_path), DEBIAN)


# ---- the hint


@pytest.mark.parametrize("release,family", [(DEBIAN, "debian"), (DEBIAN_OLD, "debian"), (UBUNTU, "ubuntu"),
                                            ("6.8.0-1015-aws", "ubuntu"), (FEDORA, "fedora"), (RHEL, "rhel"),
                                            ("6.4.0-150600.23.7-default", "suse")])
def test_distribution_from_the_release(release, family):
    # The target's release wins over the host's os-release.
    assert distribution(release, {"ID": "arch"}) == family


@pytest.mark.parametrize("host,family", [({"ID": "ubuntu", "ID_LIKE": "debian"}, "ubuntu"),
                                         ({"ID": "debian"}, "debian"), ({"ID": "fedora"}, "fedora"),
                                         ({"ID": "rocky", "ID_LIKE": "rhel centos fedora"}, "rhel"),
                                         ({"ID": "arch"}, None), ({}, None)])
def test_distribution_from_the_host(host, family):
    assert distribution("6.9.1-custom", host) == family


def test_os_release_parsing(tmp_path):
    f = tmp_path / "os-release"
    f.write_text('# comment\nNAME="Fedora Linux"\nID=fedora\nID_LIKE="rhel centos"\n\nVERSION_ID=40\n')
    assert target.os_release(str(f)) == {"NAME": "Fedora Linux", "ID": "fedora", "ID_LIKE": "rhel centos",
                                         "VERSION_ID": "40"}
    assert target.os_release(str(tmp_path / "missing")) == {}


def test_hint_per_distribution():
    assert f"linux-image-{DEBIAN}-dbg (Debian)" in dbg_hint(DEBIAN, "debian")
    assert f"linux-image-{UBUNTU}-dbgsym" in dbg_hint(UBUNTU, "ubuntu")
    assert "-dbg " not in dbg_hint(UBUNTU, "ubuntu")
    assert f"dnf debuginfo-install kernel-{FEDORA}" in dbg_hint(FEDORA, "fedora")
    assert "linux-image" not in dbg_hint(FEDORA, "fedora")
    assert f"debuginfo-install kernel-{RHEL}" in dbg_hint(RHEL, "rhel")
    for family in ("debian", "ubuntu", "fedora", "rhel", "suse", None):
        assert "with -s" in dbg_hint(DEBIAN, family)
    assert dbg_hint(None) == "pass the kernel's vmlinux with -s"


def test_hint_mentions_debuginfod_as_drgn_has_it():
    assert "--debuginfod" in dbg_hint(DEBIAN, "debian", "available")
    assert "set DEBUGINFOD_URLS" in dbg_hint(DEBIAN, "debian", "unset")
    assert dbg_hint(DEBIAN, "debian", "tried").startswith("debuginfod had none; ")
    assert "debuginfod" not in dbg_hint(DEBIAN, "debian", "off")


def test_hint_on_the_command_line_names_the_release(tmp_path):
    """A vmcoreinfo naming a Fedora kernel: the hint names Fedora's package whatever the host is."""
    info = tmp_path / "vmcoreinfo"
    info.write_text(f"OSRELEASE={FEDORA}\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffffffff82a0c000\nKERNELOFFSET=0\n")
    core = elf_core(tmp_path / "core", [(4, 0x1000, 0x100)], 0x2000)
    one_line_error(*wqinspect("pools", "-c", core, "--vmcoreinfo", str(info))[::2],
                   f"no debug info for kernel {FEDORA}: run 'dnf debuginfo-install kernel-{FEDORA}' (Fedora)")


def test_unusable_vmcoreinfo(tmp_path):
    info = tmp_path / "vmcoreinfo"
    info.write_text(f"OSRELEASE={FEDORA}\nPAGESIZE=4096\n")
    core = elf_core(tmp_path / "core", [(4, 0x1000, 0x100)], 0x2000)
    one_line_error(*wqinspect("pools", "-c", core, "--vmcoreinfo", str(info))[::2], "--vmcoreinfo file is not usable")
