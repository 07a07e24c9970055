"""Image uploads with /upload/image: a plain basename, directories in `subfolder`, and the name the server returns.

Loop thread only. The file is read once and the form rebuilt for each redirect hop (`ComfyHTTP.open`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from ..http import decode_json, read_capped
from . import errors
from .transport import ComfyHTTP

UPLOAD_SUBFOLDER = "genbridge"


async def upload_image(http: ComfyHTTP, path: Path, *, max_bytes: int | None, subfolder: str = UPLOAD_SUBFOLDER) -> str:
    """Upload `path`; returns the value for LoadImage's `image` input ("subfolder/name", the name as stored).

    One deadline (`timeouts.download`) for the whole upload; transport failures are mapped in `errors.py`."""
    deadline = http.settings.timeouts.download
    try:
        async with asyncio.timeout(deadline):
            return await _upload(http, path, max_bytes=max_bytes, subfolder=subfolder)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise errors.transport_error(exc, endpoint=http.base, path="/upload/image", timeout_s=deadline) from None


async def _upload(http: ComfyHTTP, path: Path, *, max_bytes: int | None, subfolder: str) -> str:
    if not path.is_file():
        raise errors.image_missing(path)
    size = path.stat().st_size
    if max_bytes and size > max_bytes:
        raise errors.image_too_large(path.name, size, max_bytes)
    content = path.read_bytes()

    def form() -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("subfolder", subfolder)
        data.add_field("type", "input")
        data.add_field("image", content, filename=path.name, content_type="application/octet-stream")
        return data

    async with http.open("POST", http.url("/upload/image"), data=form, timeout=http.stream_timeout) as resp:
        if resp.status == 413:
            raise errors.image_too_large(path.name, size, None)
        if resp.status != 200:
            raise errors.upload_refused(path.name, resp.status)
        raw = await read_capped(resp, http.reply_limit, service="ComfyUI", what="reply to /upload/image")
    body = decode_json(raw, service="ComfyUI", what="reply to /upload/image")
    name = str(body.get("name") or "") if isinstance(body, dict) else ""
    if not name:
        raise errors.upload_refused(path.name)
    sub = str(body.get("subfolder") or "")
    return f"{sub}/{name}" if sub else name
