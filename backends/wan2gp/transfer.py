"""Media in and out of WanGP: upload tickets + PUT for inputs; outputs from the shared disk or download tickets.

Outputs are streamed to disk in chunks (never held whole in memory), capped in size, and named with
`safe_output_path` whatever the server called them.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import aiohttp

from ...runtime.errors import GenBridgeError, ServerError
from ...runtime.paths import safe_output_path
from ..http import decode_json, read_capped
from . import errors
from .contract import Contract
from .errors import SERVICE
from .models import DownloadTicket, UploadReceipt, UploadTicket
from .rpc import McpRpc

CHUNK = 1024 * 1024


async def upload_file(rpc: McpRpc, contract: Contract, path: Path) -> UploadReceipt:
    """Upload a local file through a one-use ticket; the receipt's `id` goes in the settings."""
    tool, args = contract.upload_ticket(path.name)
    ticket = UploadTicket.model_validate(await rpc.call_tool(tool, args))
    size = path.stat().st_size
    if ticket.max_bytes is not None and size > ticket.max_bytes:
        raise errors.upload_too_large(path.name, ticket.max_bytes, rpc.endpoint)
    headers = rpc.headers(json_body=False, mcp=False)
    headers["Content-Type"] = "application/octet-stream"
    timeout = aiohttp.ClientTimeout(total=rpc.settings.timeouts.download, connect=rpc.settings.timeouts.connect)
    try:
        with path.open("rb") as handle:  # aiohttp streams a file object instead of reading it whole
            async with rpc.session().put(
                rpc.resolve(ticket.upload_url), data=handle, headers=headers, timeout=timeout, allow_redirects=False
            ) as resp:
                raw = await read_capped(resp, rpc.reply_limit, service=SERVICE, what="upload reply")
                status = resp.status
    except aiohttp.ClientConnectionError as exc:
        raise errors.transfer_lost("uploading", path.name, exc, rpc.endpoint) from None
    except TimeoutError:
        raise errors.transfer_timeout("upload", path.name, rpc.endpoint) from None
    if status != 200:
        try:
            body: Any = decode_json(raw, service=SERVICE, what="upload reply")
        except ServerError:
            body = raw[:300].decode("utf-8", "replace")
        raise errors.tag(errors.upload_refused(path.name, status, body), rpc.endpoint)
    body = decode_json(raw, service=SERVICE, what="upload reply")
    receipt = UploadReceipt.model_validate(body)
    if not receipt.id:
        raise errors.upload_without_id(rpc.endpoint)
    return receipt


def _limit_bytes(rpc: McpRpc) -> int:
    return rpc.settings.download_limit_mb * 1024 * 1024


def _too_large(name: str, size: int, limit: int) -> GenBridgeError:
    return errors.output_too_large(name, size, limit)


async def copy_shared(rpc: McpRpc, fd: int, source: Path, dest_dir: Path, taken: set[str] | None = None) -> Path:
    """Copy an output the server wrote on this machine from the descriptor `open_shared_output` checked.

    Takes ownership of `fd`. Size-capped, chunked, off the loop thread.
    """
    limit = _limit_bytes(rpc)
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise _too_large(source.name, size, limit)
        target = safe_output_path(dest_dir, "", source.name, taken=taken)
        await asyncio.to_thread(_copy_handle, handle, target, limit)
    return target


def _copy_handle(handle: Any, target: Path, limit: int) -> None:
    written = 0
    with target.open("wb") as out:
        while chunk := handle.read(CHUNK):
            written += len(chunk)
            if written > limit:  # the file grew after the check
                out.close()
                target.unlink(missing_ok=True)
                raise _too_large(target.name, written, limit)
            out.write(chunk)


async def download_media(
    rpc: McpRpc, contract: Contract, media_id: str, dest_dir: Path, taken: set[str] | None = None
) -> Path:
    """Download an output through a one-use ticket, streamed to disk with the size cap."""
    tool, args = contract.download_ticket(media_id)
    ticket = DownloadTicket.model_validate(await rpc.call_tool(tool, args))
    limit = _limit_bytes(rpc)
    name = ticket.filename or media_id.replace(":", "_")
    if ticket.size is not None and ticket.size > limit:
        raise _too_large(name, ticket.size, limit)
    target = safe_output_path(dest_dir, "", name, taken=taken)
    partial = target.with_name(target.name + ".part")
    timeout = aiohttp.ClientTimeout(total=rpc.settings.timeouts.download, connect=rpc.settings.timeouts.connect)
    written = 0
    try:
        async with rpc.session().get(
            rpc.resolve(ticket.download_url),
            headers=rpc.headers(json_body=False, mcp=False),
            timeout=timeout,
            allow_redirects=False,
        ) as resp:
            if resp.status != 200:
                text = (await read_capped(resp, 64 * 1024, service=SERVICE, what="download reply")).decode(
                    "utf-8", "replace"
                )
                raise errors.download_refused(name, resp.status, text, rpc.endpoint)
            with partial.open("wb") as out:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    written += len(chunk)
                    if written > limit:
                        raise _too_large(name, written, limit)
                    out.write(chunk)
    except aiohttp.ClientConnectionError as exc:
        partial.unlink(missing_ok=True)
        raise errors.transfer_lost("downloading", name, exc, rpc.endpoint) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if ticket.size is not None and written != ticket.size:
        partial.unlink(missing_ok=True)
        raise errors.download_short(name, written, ticket.size, rpc.endpoint)
    partial.replace(target)
    return target
