"""Import the Blender side of GenBridge against a fake `bpy` (tests/unit/blender/fake_bpy.py)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("genbridge_fake_bpy", Path(__file__).with_name("fake_bpy.py"))
assert _spec is not None and _spec.loader is not None
fake_bpy = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fake_bpy  # dataclass-free, but keep it importable by name for pickling-free reuse
_spec.loader.exec_module(fake_bpy)

BPY_MODULES = ("genbridge.blender.session", "genbridge.blender.landing", "genbridge.blender.notify")


@pytest.fixture
def bpy(tmp_path, monkeypatch):
    """A fresh fake bpy installed as `bpy`; the modules that import bpy are imported again against it."""
    fake = fake_bpy.make(tmp_path / "user")
    monkeypatch.setitem(sys.modules, "bpy", fake)
    for name in BPY_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield fake
    for name in BPY_MODULES:
        sys.modules.pop(name, None)


@pytest.fixture
def landing(bpy):
    return importlib.import_module("genbridge.blender.landing")


@pytest.fixture
def session_module(bpy):
    return importlib.import_module("genbridge.blender.session")
