"""tools/gui_chroot.py: the command line that enters the cached root, and its refusals (no root, no tools)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools"))

import gui_chroot


def test_every_mount_lives_in_a_private_namespace_and_the_command_is_quoted(tmp_path):
    cmd = gui_chroot.command(
        tmp_path / "root dir",
        ["blender", "--python", "/gb/a b.py"],
        binds=[("/tmp/work dir", "/gb")],
        env={"DISPLAY": ":5", "GB": "x y"},
    )
    assert cmd[:4] == ["unshare", "--mount", "--propagation", "private"]
    script = cmd[-1]
    assert script.index("mount --bind /proc") < script.index("exec chroot")
    assert "mount --bind '/tmp/work dir'" in script
    assert script.splitlines()[0] == "set -e"  # a failed mount stops before anything runs in the root
    inner = shlex.split(script.splitlines()[-1])
    assert inner[:2] == ["exec", "chroot"] and "/usr/bin/env" in inner
    assert "DISPLAY=:5" in script and "'GB=x y'" in script
    assert "'/gb/a b.py'" in inner[-1], inner[-1]  # the argument survives two levels of quoting


def test_a_root_is_ready_only_with_a_matching_stamp_and_blender(tmp_path):
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    assert not gui_chroot.is_ready(root)
    (root / gui_chroot.STAMP).write_text(json.dumps(gui_chroot._wanted()))
    assert not gui_chroot.is_ready(root), "no blender binary yet"
    (root / "usr/bin/blender").write_text("")
    assert gui_chroot.is_ready(root)
    (root / gui_chroot.STAMP).write_text(json.dumps({**gui_chroot._wanted(), "packages": ["other"]}))
    assert not gui_chroot.is_ready(root), "a changed package list rebuilds the root"


def test_missing_host_tools_without_root_say_what_to_install(monkeypatch):
    monkeypatch.setattr(gui_chroot.shutil, "which", lambda exe: None)
    monkeypatch.setattr(gui_chroot.os, "geteuid", lambda: 1000)
    with pytest.raises(gui_chroot.ChrootError, match="debootstrap, imagemagick"):
        gui_chroot.ensure_host_tools()


def test_building_a_root_needs_root(monkeypatch, tmp_path):
    monkeypatch.setattr(gui_chroot.os, "geteuid", lambda: 1000)
    with pytest.raises(gui_chroot.ChrootError, match="needs root"):
        gui_chroot.ensure_root(tmp_path / "cache")
