"""Streamed /view downloads: chunked straight to disk, resumed with Range after a break, capped in size."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp

from ...runtime.errors import DownloadTooLarge, ServerError, ServiceTimeout, Unreachable

CHUNK = 1 << 20
ATTEMPTS = 4


async def download(
    session: aiohttp.ClientSession,
    url: str,
    params: dict[str, str],
    target: Path,
    *,
    limit_bytes: int,
    timeout: aiohttp.ClientTimeout,
) -> Path:
    """Stream `url` into `target` (via `target.part`), resuming with Range when the connection breaks."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    last_error: Exception | None = None
    for attempt in range(ATTEMPTS):
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            async with session.get(url, params=params, headers=headers, timeout=timeout) as resp:
                if resp.status == 404:
                    raise ServerError(
                        f"ComfyUI no longer has the output file '{params.get('filename')}'.",
                        "Temporary outputs are deleted when ComfyUI restarts; generate again.",
                        service="comfyui",
                    )
                if resp.status not in (200, 206):
                    raise ServerError(
                        f"ComfyUI refused to send '{params.get('filename')}' (HTTP {resp.status}).", service="comfyui"
                    )
                mode = "ab" if resp.status == 206 and have else "wb"
                written = have if mode == "ab" else 0
                expected = resp.content_length
                if expected is not None and written + expected > limit_bytes:
                    raise DownloadTooLarge(_too_large(params, written + expected, limit_bytes), service="comfyui")
                with part.open(mode) as fh:
                    async for chunk in resp.content.iter_chunked(CHUNK):
                        written += len(chunk)
                        if written > limit_bytes:
                            raise DownloadTooLarge(_too_large(params, written, limit_bytes), service="comfyui")
                        fh.write(chunk)
                if expected is not None and written < (have if mode == "ab" else 0) + expected:
                    raise aiohttp.ClientPayloadError("short read")
            part.replace(target)
            return target
        except DownloadTooLarge:
            part.unlink(missing_ok=True)
            raise
        except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            last_error = exc
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
    if isinstance(last_error, asyncio.TimeoutError):
        raise ServiceTimeout(f"Downloading '{params.get('filename')}' from ComfyUI timed out.", service="comfyui")
    raise Unreachable(
        f"The download of '{params.get('filename')}' kept breaking ({last_error}); the part already received is kept.",
        service="comfyui",
    )


def _too_large(params: dict[str, Any], size: int, limit: int) -> str:
    name = params.get("filename")
    return f"'{name}' is larger than the download limit ({size / 2**20:.0f} MB > {limit / 2**20:.0f} MB)."
