"""Create (once) a venv that holds only Blender's `bpy` module: no aiohttp, websockets or pydantic from pip.

Used by the zip smoke test, which must prove the extension runs on its bundled wheels alone, and as a source of
Blender's extension tool. `python tools/bpy_venv.py` prints the venv's python.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BPY_VERSION = "4.5.15"
DEFAULT_VENV = Path(__file__).resolve().parent.parent / ".venvs" / "bpy-only"
FORBIDDEN = ("aiohttp", "websockets", "pydantic")


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def _probe(python: Path) -> tuple[str | None, list[str]]:
    """(installed bpy version or None, forbidden packages present) without importing bpy."""
    code = (
        "import importlib.metadata as m, importlib.util as u\n"
        "try: v = m.version('bpy')\nexcept m.PackageNotFoundError: v = ''\n"
        f"print(v); print(','.join(n for n in {FORBIDDEN!r} if u.find_spec(n)))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    return (out[0] or None), [n for n in out[1].split(",") if n]


def ensure_bpy_only_venv(venv: Path = DEFAULT_VENV, version: str = BPY_VERSION) -> Path:
    """Return the python of a venv with exactly bpy==`version` (creating it if needed). Raises if it is not clean."""
    python = venv_python(venv)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed, forbidden = _probe(python)
    if installed != version:
        cmd = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"bpy=={version}"]
        subprocess.run(cmd, check=True)
        installed, forbidden = _probe(python)
    if forbidden:
        raise RuntimeError(f"{venv} is not bpy-only: it has {', '.join(forbidden)}; delete the venv and retry")
    return python


if __name__ == "__main__":
    print(ensure_bpy_only_venv(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_VENV))
