"""Which server-named files GenBridge may copy from this disk. Loop thread only; stdlib only.

A WanGP server on this machine names its outputs by absolute path (`result.generated_files`). Copying any path a
server names would let a hostile or broken server make GenBridge copy `/proc/self/environ` or `~/.ssh/id_rsa` into
the output folder and report it as the job's output. So a shared path is accepted only when all of these hold:

* the server is on this computer (loopback URL);
* the server itself declared the folder it writes to: its gallery record for the same output names the same file
  (early v1), or one of its upload receipts named a file under `<output dir>/mcp_uploads/` (every contract);
* that folder is not the filesystem root, a home folder, a hidden folder or a system folder;
* the file, with every link resolved, lies inside that folder, is a regular file, is not itself a link, has a
  media extension and starts with that media type's signature.

Anything else is not an error: the output is downloaded through a one-use ticket instead, exactly as from a server
on another computer. The file is opened once with O_NOFOLLOW and copied from that open handle, so it cannot be
swapped for a link between the check and the copy.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

from ...runtime.netpolicy import is_loopback

log = logging.getLogger("genbridge.wan2gp")

# What a generation (or an upload) can be: extension -> accepted leading signatures (offset, bytes).
MEDIA_SIGNATURES: dict[str, tuple[tuple[int, bytes], ...]] = {
    ".mp4": ((4, b"ftyp"),),
    ".mov": ((4, b"ftyp"), (4, b"moov"), (4, b"wide"), (4, b"mdat")),
    ".m4v": ((4, b"ftyp"),),
    ".mkv": ((0, b"\x1a\x45\xdf\xa3"),),
    ".webm": ((0, b"\x1a\x45\xdf\xa3"),),
    ".png": ((0, b"\x89PNG\r\n\x1a\n"),),
    ".jpg": ((0, b"\xff\xd8\xff"),),
    ".jpeg": ((0, b"\xff\xd8\xff"),),
    ".webp": ((8, b"WEBP"),),
    ".gif": ((0, b"GIF8"),),
    ".wav": ((8, b"WAVE"),),
    ".mp3": ((0, b"ID3"), (0, b"\xff\xfb"), (0, b"\xff\xf3"), (0, b"\xff\xf2")),
}
SYSTEM_ROOTS = ("/proc", "/sys", "/dev", "/etc", "/boot", "/root", "/run", "/var/run", "/private/etc")
UPLOADS_FOLDER = "mcp_uploads"


def declared_folder_from_upload(server_path: str) -> str | None:
    """`<out>/mcp_uploads/<id>/<name>` (an upload receipt's `path`) -> `<out>`, the server's output folder."""
    parts = PurePosixPath(server_path).parts if server_path else ()
    if len(parts) >= 4 and parts[-3] == UPLOADS_FOLDER and PurePosixPath(server_path).is_absolute():
        return str(PurePosixPath(*parts[:-3]))
    return None


def declared_folder_from_item(item: dict[str, Any], generated: str) -> str | None:
    """The folder of an early-v1 gallery record that names the very same file as `generated_files`."""
    path = item.get("path")
    if isinstance(path, str) and path and path == generated:
        return str(Path(path).parent)
    return None


def _acceptable_folder(folder: Path) -> bool:
    """Never a folder that holds things other than WanGP's outputs: /, a home, hidden or system folders."""
    text = str(folder)
    if folder == Path(folder.anchor) or len(folder.parts) < 3:
        return False
    if any(text == root or text.startswith(root + os.sep) for root in SYSTEM_ROOTS):
        return False
    with_home = {Path.home().resolve()}
    if folder in with_home or folder.parent == Path("/home") or folder.parent == Path("/Users"):
        return False
    return not any(part.startswith(".") for part in folder.parts[1:])


def _signature_ok(head: bytes, suffix: str) -> bool:
    return any(head[offset : offset + len(magic)] == magic for offset, magic in MEDIA_SIGNATURES.get(suffix, ()))


def open_shared_output(url: str, generated: str, declared: list[str]) -> tuple[int, Path] | None:
    """An open read-only descriptor and the resolved path of an acceptable shared output, else None (never raises).

    The caller owns the descriptor (close it). `declared` are the server's own output folders for this output.
    """
    if not generated or not declared or not is_loopback(url):
        return None
    candidate = Path(generated)
    if not candidate.is_absolute() or candidate.suffix.lower() not in MEDIA_SIGNATURES:
        return _refuse(generated, "not an absolute path to a media file")
    try:
        resolved = candidate.resolve(strict=True)
        folders = [Path(d).resolve(strict=True) for d in declared if Path(d).is_absolute()]
    except (OSError, RuntimeError):
        return None  # not on this disk: the server is elsewhere after all
    inside = [f for f in folders if _acceptable_folder(f) and resolved.is_relative_to(f)]
    if not inside:
        return _refuse(generated, "outside the output folder the server declared")
    if resolved != candidate.absolute():
        return _refuse(generated, "a link")
    try:
        fd = os.open(resolved, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        head = os.read(fd, 16)
        os.lseek(fd, 0, os.SEEK_SET)
        if not stat.S_ISREG(info.st_mode) or not _signature_ok(head, resolved.suffix.lower()):
            os.close(fd)
            return _refuse(generated, "not a media file")
    except OSError:
        os.close(fd)
        return None
    return fd, resolved


def _refuse(generated: str, why: str) -> tuple[int, Path] | None:
    log.warning("WanGP named %r as an output (%s); downloading it through a ticket instead.", generated[:300], why)
    return None
