"""Assets on a Comfy API v2 endpoint: uploads deduplicated by blake3 hash, outputs streamed to disk with Range resume.

Loop thread only (hashing runs in a worker thread). The blake3 module is optional: the Blender extension bundles
it where a wheel exists; without it the client skips the `HEAD /assets/by-hash/{hash}` check and just uploads
(the server deduplicates by hash on its side anyway, so only the transfer is repeated).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from ...runtime.errors import DownloadTooLarge, GenBridgeError, LocalProblem, ServerError, ServiceTimeout, Unreachable
from ..download import CHUNK, DownloadWords
from ..download import download as stream_download
from . import errors
from .models import V2Asset
from .transport import V2HTTP

UPLOAD_FOLDER = "input/genbridge"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def blake3_hash(path: Path) -> str | None:
    """`blake3:<hex>` of the file, as the v2 surface names blobs; None when the blake3 module is not installed."""
    try:
        import blake3
    except ImportError:
        return None
    digest = blake3.blake3()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return "blake3:" + digest.hexdigest()


def asset_ref(*, asset_id: str = "", blob_hash: str = "") -> dict[str, Any]:
    """The `core/ASSET` reference a v2 server resolves to the uploaded file's name in the graph."""
    info = {"id": asset_id} if asset_id else {"hash": blob_hash}
    return {"__type": "core/ASSET", "info": info}


async def upload(http: V2HTTP, path: Path, *, deadline_s: float) -> tuple[dict[str, Any], bool]:
    """Upload `path` unless the server already has its bytes; returns (core/ASSET ref, whether it was skipped)."""
    try:
        content = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise LocalProblem(f"Could not read the input image {path}: {exc.strerror or exc}.") from None
    blob_hash = await asyncio.to_thread(blake3_hash, path)
    if blob_hash:
        status, _ = await http.request("HEAD", f"/assets/by-hash/{quote(blob_hash, safe=':')}", ok=(200, 404))
        if status == 200:
            return asset_ref(blob_hash=blob_hash), True
    name = _UNSAFE.sub("_", path.name).strip("._") or "image.png"

    def form() -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("file_path", f"{UPLOAD_FOLDER}/{name}")
        if blob_hash:
            data.add_field("expected_hash", blob_hash)  # the server refuses bytes that arrive damaged (409)
        data.add_field("file", content, filename=name, content_type="application/octet-stream")
        return data

    _, body = await http.request("POST", "/assets", data=form, timeout_s=deadline_s)
    asset = V2Asset.model_validate(body if isinstance(body, dict) else {})
    return asset_ref(asset_id=asset.id), False


async def download(
    http: V2HTTP, asset_id: str, name: str, target: Path, *, limit_bytes: int, deadline_s: float, job_id: str
) -> Path:
    """Stream `GET /assets/{id}/content` into `target` (via `target.part`, see `backends.download`); one deadline
    for every attempt."""

    def located(err: GenBridgeError) -> GenBridgeError:
        return errors.locate(err, http.base, job_id)

    def refused(status: int) -> GenBridgeError:
        if status == 404:
            return errors.output_gone(name, endpoint=http.base, job_id=job_id)
        return located(ServerError(f"Comfy API v2 refused to send '{name}' (HTTP {status}).", service=errors.SERVICE))

    words = DownloadWords(
        folder=lambda folder, exc: LocalProblem(f"Could not create the output folder {folder}: {exc.strerror or exc}."),
        write=lambda path, exc: LocalProblem(f"Could not write {path}: {exc.strerror or exc}."),
        refused=refused,
        too_large=lambda size, limit: DownloadTooLarge(
            f"'{name}' is larger than the download limit ({size / 2**20:.0f} MB > {limit / 2**20:.0f} MB).",
            service=errors.SERVICE,
        ),
        deadline=lambda seconds: located(
            ServiceTimeout(
                f"Downloading '{name}' from Comfy API v2 did not finish within {seconds:g} s; the part already "
                "received is kept.",
                "Raise the download timeout in GenBridge preferences for very large outputs.",
                service=errors.SERVICE,
            )
        ),
        broke=lambda last: located(
            Unreachable(
                f"The download of '{name}' kept breaking ({type(last).__name__}); the part already received is kept.",
                service=errors.SERVICE,
            )
        ),
    )
    url = http.url(f"/assets/{quote(asset_id, safe='')}/content")
    return await stream_download(http, url, target, words, limit_bytes=limit_bytes, deadline_s=deadline_s)
