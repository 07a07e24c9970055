"""Fixtures for the zip smoke test: a bpy-only venv and a freshly built Linux x64 zip."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import bpy_venv  # noqa: E402


@pytest.fixture(scope="session")
def bpy_only_python() -> Path:
    """The python of `.venvs/bpy-only` (bpy==4.5.15 and nothing of ours), created on first use (~30 s)."""
    return bpy_venv.ensure_bpy_only_venv()


@pytest.fixture(scope="session")
def work_dir() -> Iterator[Path]:
    """A private temp dir (not pytest's shared basetemp, which concurrent pytest runs prune)."""
    with tempfile.TemporaryDirectory(prefix="genbridge-zip-test-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="session")
def linux_zip(bpy_only_python: Path, work_dir: Path) -> Path:
    """Build the linux-x64 zip from the working tree with the real build command."""
    out = work_dir / "dist"
    tool = next(
        bpy_only_python.parent.parent.glob(
            "lib/python3*/site-packages/bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"
        )
    )
    cmd = [
        sys.executable,
        str(REPO / "tools" / "build_extension.py"),
        "--platform",
        "linux-x64",
        "--output-dir",
        str(out),
        "--blender-ext",
        str(tool),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"build failed:\n{proc.stdout}\n{proc.stderr}"
    (zip_path,) = out.glob("genbridge-*-linux_x64.zip")
    return zip_path
