"""Fixtures for the distribution tests: the tools/ modules and the four platform zips built once per session."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tools"))

import build_extension  # noqa: E402
import wheel_spec  # noqa: E402


@pytest.fixture(scope="session")
def spec():
    """tools/wheel_spec.py (pins, platforms, lock reader)."""
    return wheel_spec


@pytest.fixture(scope="session")
def builder():
    """tools/build_extension.py."""
    return build_extension


@pytest.fixture(scope="session")
def blender_ext() -> Path:
    """Blender's extension tool; creates the bpy-only venv when no bpy is installed anywhere (fresh CI)."""
    try:
        return build_extension.find_blender_ext()
    except build_extension.BuildError:
        import bpy_venv

        bpy_venv.ensure_bpy_only_venv()
        return build_extension.find_blender_ext()


@pytest.fixture(scope="session")
def built(blender_ext: Path) -> Iterator[dict]:
    """Run the real build command for all four platforms into a private temp dir (downloads wheels once)."""
    manifest = REPO / "blender_manifest.toml"
    before = manifest.read_bytes()
    with tempfile.TemporaryDirectory(prefix="genbridge-dist-test-") as tmp:
        cmd = [
            sys.executable,
            str(REPO / "tools" / "build_extension.py"),
            "--output-dir",
            tmp,
            "--blender-ext",
            str(blender_ext),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, f"build failed:\n{proc.stdout}\n{proc.stderr}"
        zips = {path.name: path for path in Path(tmp).glob("*.zip")}
        yield {"zips": zips, "stdout": proc.stdout, "manifest_before": before, "manifest_after": manifest.read_bytes()}
