"""Streamed downloads shared by the ComfyUI and Comfy API v2 clients: chunked straight to disk, resumed with Range
after a break, capped in size, one deadline for the whole file.

Loop thread only. One deadline covers the whole file, retries included (a stalled server cannot stretch it to
four fresh timeouts), and redirects are followed hop by hop through the host rule (`EndpointHTTP.open`). The file
is written as `<target>.part` and renamed when complete, so a half file never takes the final name. Each backend
words its failures itself (`DownloadWords`): the messages name the service and what to do there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from ..runtime.errors import DownloadTooLarge, GenBridgeError
from .endpoint_http import EndpointHTTP

CHUNK = 1 << 20
ATTEMPTS = 4


@dataclass(frozen=True)
class DownloadWords:
    """One backend's error for each way a download fails."""

    folder: Callable[[Path, OSError], GenBridgeError]  # the output folder could not be created
    write: Callable[[Path, OSError], GenBridgeError]  # disk full, a name the file system refuses
    refused: Callable[[int], GenBridgeError]  # a status other than 200/206
    too_large: Callable[[int, int], DownloadTooLarge]  # (size, limit)
    deadline: Callable[[float], GenBridgeError]  # the whole download took longer than `deadline_s`
    broke: Callable[[BaseException | None], GenBridgeError]  # every attempt broke off


async def download(
    http: EndpointHTTP,
    url: str,
    target: Path,
    words: DownloadWords,
    *,
    params: Any = None,
    limit_bytes: int,
    deadline_s: float,
) -> Path:
    """Stream `url` into `target` (via `target.part`); at most `deadline_s` seconds for everything."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise words.folder(target.parent, exc) from None
    part = target.with_name(target.name + ".part")
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    try:
        async with asyncio.timeout(deadline_s):
            return await _attempts(http, url, params, part, target, limit_bytes, words)
    except TimeoutError:
        raise words.deadline(deadline_s) from None


async def _attempts(
    http: EndpointHTTP, url: str, params: Any, part: Path, target: Path, limit: int, words: DownloadWords
) -> Path:
    last_error: Exception | None = None
    for attempt in range(ATTEMPTS):
        try:
            await _one_attempt(http, url, params, part, limit, words)
            part.replace(target)
            return target
        except DownloadTooLarge:
            part.unlink(missing_ok=True)
            raise
        except OSError as exc:
            if isinstance(exc, aiohttp.ClientConnectionError):
                last_error = exc
            else:  # disk full, a name the file system refuses: retrying will not help, another server neither
                raise words.write(target, exc) from None
        except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            last_error = exc
        await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
    raise words.broke(last_error)


async def _one_attempt(http: EndpointHTTP, url: str, params: Any, part: Path, limit: int, words: DownloadWords) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else None
    async with http.open("GET", url, params=params, headers=headers, timeout=http.stream_timeout) as r:
        if r.status not in (200, 206):
            raise words.refused(r.status)
        mode = "ab" if r.status == 206 and have else "wb"
        written = have if mode == "ab" else 0
        start = written
        expected = r.content_length
        if expected is not None and written + expected > limit:
            raise words.too_large(written + expected, limit)
        with part.open(mode) as fh:
            async for chunk in r.content.iter_chunked(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise words.too_large(written, limit)
                fh.write(chunk)
        if expected is not None and written < start + expected:
            raise aiohttp.ClientPayloadError("short read")
