"""The parser for the v2 job stream: feed it bytes, get `(event, data)` pairs out (see `backends.sse`).

The v2 stream (`GET /api/v2/jobs/{id}/events`) sends `event: status|progress|preview|output` with one JSON `data:`
line each, and `: keepalive` comments. A line or event larger than `limit` bytes raises ReplyTooLarge (a preview
is base64 in one line; a hostile server must not grow memory unbounded). Loop thread only.
"""

from __future__ import annotations

from ...runtime.errors import ReplyTooLarge
from ..sse import EventStream


def _too_large(limit: int) -> ReplyTooLarge:
    return ReplyTooLarge(
        f"Comfy API v2 sent a stream event larger than the {limit // 2**20} MB limit; GenBridge stopped reading.",
        service="comfyui",
    )


class V2EventParser(EventStream):
    __slots__ = ()

    def __init__(self, limit: int) -> None:
        super().__init__(limit, _too_large)
