"""Where GenBridge keeps its files, and how server-given names are kept inside the output folder."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import UnsafePath

APP_DIR_NAME = "genbridge"


def default_data_dir() -> Path:
    """The per-user data dir used headless (Blender passes `bpy.utils.extension_path_user` instead)."""
    override = os.environ.get("GENBRIDGE_DATA_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / APP_DIR_NAME


_BAD_CHARS = re.compile(r'[\x00-\x1f<>:"|?*\\]')


def _clean_part(part: str, what: str, raw: str) -> str:
    if part in ("", ".", ".."):
        raise UnsafePath(f"The server gave a {what} '{raw}' that points outside the output folder.")
    cleaned = _BAD_CHARS.sub("_", part).strip().rstrip(".")
    if not cleaned:
        raise UnsafePath(f"The server gave an unusable {what} '{raw}'.")
    return cleaned


def safe_output_path(root: Path, subfolder: str, filename: str) -> Path:
    """Join server-given `subfolder`/`filename` under `root`, refusing anything that could escape it.

    Absolute paths, drive letters, `..` segments and backslash tricks are refused with UnsafePath;
    odd characters are replaced. The result is always inside `root`.
    """
    for raw, what in ((subfolder, "folder name"), (filename, "file name")):
        if raw.startswith(("/", "\\")) or PureWindowsPath(raw).drive or PurePosixPath(raw).is_absolute():
            raise UnsafePath(f"The server gave an absolute {what} '{raw}'.")
    sub_parts = [p for p in re.split(r"[\\/]", subfolder) if p not in ("",)] if subfolder else []
    for p in sub_parts:
        _clean_part(p, "folder name", subfolder)
    file_parts = re.split(r"[\\/]", filename)
    if len(file_parts) != 1:
        raise UnsafePath(f"The server gave a file name with a folder in it: '{filename}'.")
    name = _clean_part(filename, "file name", filename)
    root_resolved = root.resolve()
    target = root_resolved.joinpath(*[_clean_part(p, "folder name", subfolder) for p in sub_parts], name)
    if root_resolved not in target.resolve().parents:
        raise UnsafePath(f"'{subfolder}/{filename}' would land outside {root_resolved}.")
    return target
