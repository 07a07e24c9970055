"""Streamed /view downloads (see `backends.download`: chunked to disk, Range resume, size cap, one deadline), with
ComfyUI's wording for each failure.

Loop thread only.
"""

from __future__ import annotations

from pathlib import Path

from ..download import DownloadWords
from ..download import download as stream_download
from . import errors
from .transport import ComfyHTTP


async def download(
    http: ComfyHTTP,
    params: dict[str, str],
    target: Path,
    *,
    limit_bytes: int,
    deadline_s: float,
) -> Path:
    """Stream /view?`params` into `target` (via `target.part`); at most `deadline_s` seconds for everything."""
    name = params.get("filename")
    words = DownloadWords(
        folder=errors.local_write,
        write=errors.local_write,
        refused=lambda status: errors.file_refused(name, status),
        too_large=lambda size, limit: errors.file_too_large(name, size, limit),
        deadline=lambda seconds: errors.download_deadline(name, seconds),
        broke=lambda last: errors.download_broke(name, last),
    )
    return await stream_download(
        http, http.url("/view"), target, words, params=params, limit_bytes=limit_bytes, deadline_s=deadline_s
    )
