"""Install the add-on into a real `bpy` module the way a user would: built zip, isolated user folder.

Shared by the real-Blender tests, the benchmarks and the demo. Call `isolate()` BEFORE the first `import bpy`
in the process: Blender reads BLENDER_USER_RESOURCES and XDG_CACHE_HOME once, at import.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PKG = "bl_ext.user_default.genbridge"
HEAVY_MODULES = ("aiohttp", "websockets", "pydantic", "litellm")


def isolate(tmp: Path | None = None) -> Path:
    """Point Blender's user folders at a temp dir (returns it)."""
    tmp = Path(tmp or tempfile.mkdtemp(prefix="genbridge-bpy-"))
    os.environ["BLENDER_USER_RESOURCES"] = str(tmp / "res")
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
    return tmp


def blender_ext_cli() -> Path:
    """Blender's extension command line tool, shipped inside the bpy wheel."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise RuntimeError("the bpy module is not installed in this interpreter")
    return next(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))


def build_zip(out_dir: Path, source: Path = REPO) -> Path:
    """Validate and build the extension zip with Blender's own tool."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cli = str(blender_ext_cli())
    for args in (["validate", str(source)], ["build", "--source-dir", str(source), "--output-dir", str(out_dir)]):
        proc = subprocess.run([sys.executable, cli, *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"blender_ext {args[0]} failed:\n{proc.stdout}\n{proc.stderr}")
    return max(out_dir.glob("genbridge-*.zip"), key=lambda p: p.stat().st_mtime)


def install_zip(zip_path: Path) -> Any:
    """Install and enable the zip; raise unless Blender really enabled it (the operator says FINISHED anyway)."""
    import bpy

    bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default", enable_on_install=True)
    if PKG not in bpy.context.preferences.addons:
        raise RuntimeError(f"Blender did not enable {PKG} from {zip_path}")
    return importlib.import_module(PKG)
