"""Streamed /view downloads: chunked straight to disk, resumed with Range after a break, capped in size.

Loop thread only. One deadline covers the whole file, retries included (a stalled server cannot stretch it to
four fresh timeouts), and redirects are followed hop by hop through the host rule (`ComfyHTTP.open`).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp

from ...runtime.errors import DownloadTooLarge
from . import errors
from .transport import ComfyHTTP

CHUNK = 1 << 20
ATTEMPTS = 4


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
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.local_write(target.parent, exc) from None
    part = target.with_name(target.name + ".part")
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    try:
        async with asyncio.timeout(deadline_s):
            return await _attempts(http, params, part, target, limit_bytes)
    except TimeoutError:
        raise errors.download_deadline(name, deadline_s) from None


async def _attempts(http: ComfyHTTP, params: dict[str, str], part: Path, target: Path, limit: int) -> Path:
    last_error: Exception | None = None
    for attempt in range(ATTEMPTS):
        try:
            await _one_attempt(http, params, part, limit)
            part.replace(target)
            return target
        except DownloadTooLarge:
            part.unlink(missing_ok=True)
            raise
        except OSError as exc:
            if isinstance(exc, aiohttp.ClientConnectionError):
                last_error = exc
            else:  # disk full, a name the file system refuses: retrying will not help, another server neither
                raise errors.local_write(target, exc) from None
        except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            last_error = exc
        await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
    raise errors.download_broke(params.get("filename"), last_error)


async def _one_attempt(http: ComfyHTTP, params: dict[str, str], part: Path, limit: int) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else None
    async with http.open("GET", http.url("/view"), params=params, headers=headers, timeout=http.stream_timeout) as r:
        _check_status(r.status, params)
        mode = "ab" if r.status == 206 and have else "wb"
        written = have if mode == "ab" else 0
        start = written
        expected = r.content_length
        if expected is not None and written + expected > limit:
            raise errors.file_too_large(params.get("filename"), written + expected, limit)
        with part.open(mode) as fh:
            async for chunk in r.content.iter_chunked(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise errors.file_too_large(params.get("filename"), written, limit)
                fh.write(chunk)
        if expected is not None and written < start + expected:
            raise aiohttp.ClientPayloadError("short read")


def _check_status(status: int, params: dict[str, str]) -> None:
    if status not in (200, 206):
        raise errors.file_refused(params.get("filename"), status)
