"""Install the add-on into the bpy module the way a user would: build the zip with Blender's own extension tool,
then `package_install_files` into an isolated user folder. Call `isolate()` BEFORE the first `import bpy`.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
PKG = "bl_ext.user_default.genbridge"


def isolate(root: Path) -> None:
    """Point Blender's user resources and cache at `root` so the real user config is never touched."""
    os.environ["BLENDER_USER_RESOURCES"] = str(root / "res")
    os.environ["XDG_CACHE_HOME"] = str(root / "cache")


def blender_ext_cli() -> Path:
    """Blender's extension command line tool, shipped inside the bpy wheel."""
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise RuntimeError("bpy is not installed in this Python")
    return next(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))


def build_zip(out_dir: Path, source: Path = REPO) -> Path:
    """Validate and build the extension zip with Blender's tool; returns the zip."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cli = str(blender_ext_cli())
    for cmd in (
        [sys.executable, cli, "validate", str(source)],
        [sys.executable, cli, "build", "--source-dir", str(source), "--output-dir", str(out_dir)],
    ):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[2:4])} failed:\n{done.stdout}\n{done.stderr}")
    return next(out_dir.glob("genbridge-*.zip"))


def install(zip_path: Path) -> ModuleType:
    """Install and enable the zip; the operator says FINISHED even when it refuses, so check it is enabled."""
    import bpy

    bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default", enable_on_install=True)
    if PKG not in bpy.context.preferences.addons:
        raise RuntimeError(f"{zip_path.name} was installed but the extension is not enabled")
    return importlib.import_module(PKG)


def disable() -> None:
    """Disable the add-on (stops its loop thread and timer) so the bpy module exits cleanly."""
    import addon_utils

    addon_utils.disable(PKG, default_set=True)
