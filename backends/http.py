"""Size-capped reading of HTTP replies, shared by every client. Runs on the loop thread only.

A hostile or broken server must not be able to grow our memory without bound: every body is read in chunks and
the read stops at the cap with a `ReplyTooLarge` that names the cap. JSON is decoded here too, so that deeply
nested or invalid bodies become one clear error instead of a RecursionError or a raw decode error.
"""

from __future__ import annotations

import json
from typing import Any

from ..runtime.errors import ReplyTooLarge, ServerError

MB = 1024 * 1024
DEFAULT_REPLY_LIMIT = 32 * MB


async def read_capped(resp: Any, limit: int = DEFAULT_REPLY_LIMIT, *, service: str = "", what: str = "reply") -> bytes:
    """The whole body of an aiohttp response, or ReplyTooLarge once it passes `limit` bytes."""
    declared = resp.content_length
    if declared is not None and declared > limit:
        raise _too_large(service, what, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            resp.release()
            raise _too_large(service, what, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(raw: bytes, *, service: str = "", what: str = "reply") -> Any:
    """Decode a JSON body; invalid, non-UTF-8 or absurdly nested bodies become a ServerError naming `what`."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ServerError(
            f"{service or 'The service'} sent a {what} nested too deeply to read.",
            "Check that the URL points at the right service.",
            service=service,
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ServerError(
            f"{service or 'The service'} sent a {what} that is not valid JSON.",
            "Check that the URL points at the right service.",
            service=service,
            detail=f"{exc}: {raw[:200]!r}",
        ) from None


async def read_json_capped(
    resp: Any, limit: int = DEFAULT_REPLY_LIMIT, *, service: str = "", what: str = "reply"
) -> Any:
    """`read_capped` then `decode_json`."""
    return decode_json(await read_capped(resp, limit, service=service, what=what), service=service, what=what)


def _too_large(service: str, what: str, limit: int) -> ReplyTooLarge:
    return ReplyTooLarge(
        f"{service or 'The service'} sent a {what} larger than the {limit // MB} MB limit; GenBridge stopped reading.",
        service=service,
    )
