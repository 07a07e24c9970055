"""Image uploads with /upload/image: a plain basename, directories in `subfolder`, and the name the server returns."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from ...runtime.errors import RejectedInput, ServerError

UPLOAD_SUBFOLDER = "genbridge"


async def upload_image(
    session: aiohttp.ClientSession,
    url: str,
    path: Path,
    *,
    max_bytes: int | None,
    timeout: aiohttp.ClientTimeout,
    subfolder: str = UPLOAD_SUBFOLDER,
) -> str:
    """Upload `path`; returns the value for LoadImage's `image` input ("subfolder/name", the name as stored)."""
    if not path.is_file():
        raise RejectedInput(f"The input image {path} does not exist.", "Pick an existing image file.")
    size = path.stat().st_size
    if max_bytes and size > max_bytes:
        raise RejectedInput(
            f"{path.name} is {size / 2**20:.0f} MB; ComfyUI accepts uploads up to {max_bytes / 2**20:.0f} MB.",
            "Use a smaller image, or start ComfyUI with a larger --max-upload-size.",
        )
    form = aiohttp.FormData()
    form.add_field("subfolder", subfolder)
    form.add_field("type", "input")
    with path.open("rb") as fh:
        form.add_field("image", fh, filename=path.name, content_type="application/octet-stream")
        async with session.post(url, data=form, timeout=timeout) as resp:
            if resp.status == 413:
                raise RejectedInput(
                    f"ComfyUI refused {path.name}: it is larger than its upload limit.",
                    "Use a smaller image, or raise ComfyUI's --max-upload-size.",
                    service="comfyui",
                )
            if resp.status != 200:
                raise ServerError(f"ComfyUI refused the upload of {path.name} (HTTP {resp.status}).", service="comfyui")
            body = await resp.json(content_type=None)
    name = str(body.get("name") or "")
    if not name:
        raise ServerError(f"ComfyUI did not say where it stored {path.name}.", service="comfyui")
    sub = str(body.get("subfolder") or "")
    return f"{sub}/{name}" if sub else name
