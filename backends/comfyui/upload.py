"""Image uploads with /upload/image: a plain basename, directories in `subfolder`, and the name the server returns.

Loop thread only. The file is read once and the form rebuilt for each redirect hop (`ComfyHTTP.open`).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from ...runtime.errors import RejectedInput, ServerError
from ..http import decode_json, read_capped
from .transport import ComfyHTTP

UPLOAD_SUBFOLDER = "genbridge"


async def upload_image(http: ComfyHTTP, path: Path, *, max_bytes: int | None, subfolder: str = UPLOAD_SUBFOLDER) -> str:
    """Upload `path`; returns the value for LoadImage's `image` input ("subfolder/name", the name as stored)."""
    if not path.is_file():
        raise RejectedInput(f"The input image {path} does not exist.", "Pick an existing image file.")
    size = path.stat().st_size
    if max_bytes and size > max_bytes:
        raise RejectedInput(
            f"{path.name} is {size / 2**20:.0f} MB; ComfyUI accepts uploads up to {max_bytes / 2**20:.0f} MB.",
            "Use a smaller image, or start ComfyUI with a larger --max-upload-size.",
        )
    content = path.read_bytes()

    def form() -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("subfolder", subfolder)
        data.add_field("type", "input")
        data.add_field("image", content, filename=path.name, content_type="application/octet-stream")
        return data

    async with http.open("POST", http.url("/upload/image"), data=form, timeout=http.stream_timeout) as resp:
        if resp.status == 413:
            raise RejectedInput(
                f"ComfyUI refused {path.name}: it is larger than its upload limit.",
                "Use a smaller image, or raise ComfyUI's --max-upload-size.",
                service="comfyui",
            )
        if resp.status != 200:
            raise ServerError(f"ComfyUI refused the upload of {path.name} (HTTP {resp.status}).", service="comfyui")
        raw = await read_capped(resp, http.reply_limit, service="ComfyUI", what="reply to /upload/image")
    body = decode_json(raw, service="ComfyUI", what="reply to /upload/image")
    name = str(body.get("name") or "") if isinstance(body, dict) else ""
    if not name:
        raise ServerError(f"ComfyUI did not say where it stored {path.name}.", service="comfyui")
    sub = str(body.get("subfolder") or "")
    return f"{sub}/{name}" if sub else name
