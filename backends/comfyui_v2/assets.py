"""Assets on a Comfy API v2 endpoint: uploads deduplicated by blake3 hash, outputs streamed to disk with Range resume.

Loop thread only (hashing runs in a worker thread). The blake3 module is optional: the Blender extension bundles
it where a wheel exists; without it the client skips the `HEAD /assets/by-hash/{hash}` check and just uploads
(the server deduplicates by hash on its side anyway, so only the transfer is repeated).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from ...runtime.errors import DownloadTooLarge, LocalProblem, ServerError, ServiceTimeout, Unreachable
from . import errors
from .models import V2Asset
from .transport import V2HTTP

CHUNK = 1 << 20
ATTEMPTS = 4
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
    """Stream `GET /assets/{id}/content` into `target` (via `target.part`); one deadline for every attempt."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LocalProblem(f"Could not create the output folder {target.parent}: {exc.strerror or exc}.") from None
    part = target.with_name(target.name + ".part")
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    url = http.url(f"/assets/{quote(asset_id, safe='')}/content")
    try:
        async with asyncio.timeout(deadline_s):
            return await _attempts(http, url, name, part, target, limit_bytes, job_id)
    except TimeoutError:
        raise errors.locate(
            ServiceTimeout(
                f"Downloading '{name}' from Comfy API v2 did not finish within {deadline_s:g} s; the part already "
                "received is kept.",
                "Raise the download timeout in GenBridge preferences for very large outputs.",
                service=errors.SERVICE,
            ),
            http.base,
            job_id,
        ) from None


async def _attempts(http: V2HTTP, url: str, name: str, part: Path, target: Path, limit: int, job_id: str) -> Path:
    last_error: Exception | None = None
    for attempt in range(ATTEMPTS):
        try:
            await _one_attempt(http, url, name, part, limit, job_id)
            part.replace(target)
            return target
        except DownloadTooLarge:
            part.unlink(missing_ok=True)
            raise
        except OSError as exc:
            if isinstance(exc, aiohttp.ClientConnectionError):
                last_error = exc
            else:  # disk full, a name the file system refuses: retrying will not help, another server neither
                raise LocalProblem(f"Could not write {target}: {exc.strerror or exc}.") from None
        except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            last_error = exc
        await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
    raise errors.locate(
        Unreachable(
            f"The download of '{name}' kept breaking ({type(last_error).__name__}); the part already received is kept.",
            service=errors.SERVICE,
        ),
        http.base,
        job_id,
    )


async def _one_attempt(http: V2HTTP, url: str, name: str, part: Path, limit: int, job_id: str) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else None
    async with http.open("GET", url, headers=headers, timeout=http.stream_timeout) as r:
        if r.status == 404:
            raise errors.output_gone(name, endpoint=http.base, job_id=job_id)
        if r.status not in (200, 206):
            raise errors.locate(
                ServerError(f"Comfy API v2 refused to send '{name}' (HTTP {r.status}).", service=errors.SERVICE),
                http.base,
                job_id,
            )
        mode = "ab" if r.status == 206 and have else "wb"
        written = have if mode == "ab" else 0
        start = written
        expected = r.content_length
        if expected is not None and written + expected > limit:
            raise DownloadTooLarge(_too_large(name, written + expected, limit), service=errors.SERVICE)
        with part.open(mode) as fh:
            async for chunk in r.content.iter_chunked(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise DownloadTooLarge(_too_large(name, written, limit), service=errors.SERVICE)
                fh.write(chunk)
        if expected is not None and written < start + expected:
            raise aiohttp.ClientPayloadError("short read")


def _too_large(name: str, size: int, limit: int) -> str:
    return f"'{name}' is larger than the download limit ({size / 2**20:.0f} MB > {limit / 2**20:.0f} MB)."
