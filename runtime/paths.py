"""Where GenBridge keeps its files, and how server-given names are kept inside the output folder."""

from __future__ import annotations

import os
import re
import sys
import unicodedata
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


# Characters no file system of the three takes (Windows is the strictest), plus control characters.
_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*\\]')
# Names Windows reserves whatever the extension ("aux.png" is the device AUX), compared without case.
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{dev}{n}" for dev in ("COM", "LPT") for n in (*"0123456789", "\u00b9", "\u00b2", "\u00b3")}
)
# Bytes, leaving room under the usual 255-byte limit for ".part" and a "-99" that makes a name unique.
MAX_NAME_BYTES = 200
MAX_FOLDER_BYTES = 100
MAX_SUFFIX_BYTES = 16


def _clean_part(part: str, what: str, raw: str, limit: int = MAX_NAME_BYTES) -> str:
    """One path component made valid on Windows, macOS and Linux, or UnsafePath for one that means "up"."""
    if part in ("", ".", ".."):
        raise UnsafePath(f"The server gave a {what} '{_shown(raw)}' that points outside the output folder.")
    cleaned = unicodedata.normalize("NFC", _BAD_CHARS.sub("_", part)).strip().rstrip(". ")
    if not cleaned:
        raise UnsafePath(f"The server gave an unusable {what} '{_shown(raw)}'.")
    if cleaned.split(".", 1)[0].rstrip(" ").upper() in _RESERVED:
        cleaned = f"_{cleaned}"
    return _shorten(cleaned, limit)


def _shorten(name: str, limit: int) -> str:
    """`name` cut to `limit` UTF-8 bytes on a character boundary, keeping a short extension."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, suffix = os.path.splitext(name)
    if len(suffix.encode("utf-8")) > MAX_SUFFIX_BYTES:
        stem, suffix = name, ""
    room = limit - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip(". ")
    return f"{cut or '_'}{suffix}"


def _shown(raw: str) -> str:
    """A server-given name as it may appear in a message: one line, not endless."""
    text = raw.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= 120 else f"{text[:100]}...({len(text)} characters)"


def safe_output_path(root: Path, subfolder: str, filename: str, *, taken: set[str] | None = None) -> Path:
    """Join server-given `subfolder`/`filename` under `root`, refusing anything that could escape it.

    Absolute paths, drive letters, `..` segments and backslash tricks are refused with UnsafePath; characters,
    reserved device names (CON, aux.png...), trailing dots and spaces and over-long names are made valid on
    Windows, macOS and Linux. With `taken` (one set per job), a name already handed out gets a "-2", "-3"...
    before its extension, compared the way case-insensitive disks compare, so two outputs never overwrite
    each other. The result is always inside `root`.
    """
    for raw, what in ((subfolder, "folder name"), (filename, "file name")):
        if raw.startswith(("/", "\\")) or PureWindowsPath(raw).drive or PurePosixPath(raw).is_absolute():
            raise UnsafePath(f"The server gave an absolute {what} '{_shown(raw)}'.")
    sub_parts = [p for p in re.split(r"[\\/]", subfolder) if p not in ("",)] if subfolder else []
    folders = [_clean_part(p, "folder name", subfolder, MAX_FOLDER_BYTES) for p in sub_parts]
    if len(re.split(r"[\\/]", filename)) != 1:
        raise UnsafePath(f"The server gave a file name with a folder in it: '{_shown(filename)}'.")
    name = _clean_part(filename, "file name", filename)
    root_resolved = root.resolve()
    folder = root_resolved.joinpath(*folders)
    if taken is not None:
        name = _unique(folder, name, taken)
    target = folder / name
    if root_resolved not in target.resolve().parents:
        raise UnsafePath(f"'{_shown(subfolder)}/{_shown(filename)}' would land outside {root_resolved}.")
    return target


def _unique(folder: Path, name: str, taken: set[str]) -> str:
    stem, suffix = os.path.splitext(name)
    candidate, number = name, 1
    while _fold(folder / candidate) in taken:
        number += 1
        tail = f"-{number}{suffix}"
        candidate = _shorten(stem, MAX_NAME_BYTES - len(tail.encode("utf-8"))) + tail
    taken.add(_fold(folder / candidate))
    return candidate


def _fold(path: Path) -> str:
    # Windows and macOS disks ignore case (and macOS normalises Unicode): "A.png" and "a.png" are one file there.
    return unicodedata.normalize("NFC", str(path)).casefold()


def unique_output_paths(root: Path, names: list[tuple[str, str]]) -> list[Path]:
    """`safe_output_path` for every (subfolder, filename) of one job, each distinct; all checked before any is
    returned, so an unsafe name means nothing at all is written."""
    taken: set[str] = set()
    return [safe_output_path(root, subfolder, filename, taken=taken) for subfolder, filename in names]
