"""MCP streamable HTTP by the spec, over plain aiohttp (no MCP SDK inside Blender). Loop thread only.

* Every POST accepts both reply forms: one `application/json` body (WanGP 12.x: `json_response=True`), or a
  `text/event-stream` whose events carry the JSON-RPC response with our request id (the MCP SDK's default);
  notifications, server requests and other ids in the stream are skipped. Both are size-capped
  (`Settings.reply_limit_mb`) and bounded in time (the request timeout covers the whole body).
* Sessions: `initialize` runs before the first request; the `Mcp-Session-Id` it returns goes on every later request
  with the agreed `MCP-Protocol-Version`; `notifications/initialized` follows `initialize`; a 404 while we hold a
  session means the server dropped it: initialize again once and retry; `close()` ends the session with `DELETE`.
* Redirects are never followed by aiohttp: each hop passes `netpolicy.follow_redirect` (the prompt is re-sent on a
  307, so a hop to another host needs online access like a configured URL). After the first `307 /mcp -> /mcp/`
  on the same origin, requests go to the final URL directly.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ...runtime.errors import GenBridgeError, IncompatibleServer, ServerError, ServiceTimeout, Unreachable
from ...runtime.netpolicy import MAX_REDIRECTS, REDIRECT_STATUSES, ensure_allowed, follow_redirect, redact_url
from ...runtime.settings import Endpoint, Settings
from ..http import MB, decode_json, map_transport_error, read_capped
from . import errors
from .errors import SERVICE, START_HINT

log = logging.getLogger("genbridge.wan2gp")

PROTOCOL_VERSION = "2025-06-18"
SESSION_HEADER = "Mcp-Session-Id"
REPLAY_STATUSES = (307, 308)  # the only redirects that keep a POST a POST


class McpHttp:
    """One endpoint's MCP channel: JSON-RPC requests and notifications, the session, and the aiohttp session."""

    def __init__(self, endpoint: Endpoint, settings: Settings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.url = endpoint.url  # becomes `/mcp/` after the server's first same-origin redirect
        parts = urlsplit(self.url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.server_info: dict[str, Any] = {}
        self._initialized = False
        self._ids = itertools.count(1)
        self._http: aiohttp.ClientSession | None = None

    @property
    def reply_limit(self) -> int:
        return self.settings.reply_limit_mb * MB

    def headers(self, *, json_body: bool = True, mcp: bool = True) -> dict[str, str]:
        """Headers for MCP requests (mcp=True) and transfers; the bearer token (13.x --mcp-auth) goes on both."""
        headers: dict[str, str] = {}
        if mcp:
            headers["Accept"] = "application/json, text/event-stream"
            headers["MCP-Protocol-Version"] = self.protocol_version or PROTOCOL_VERSION
            if self.session_id:
                headers[SESSION_HEADER] = self.session_id
        if json_body:
            headers["Content-Type"] = "application/json"
        key = self.endpoint.api_key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session, created on first use on the loop thread."""
        if self._http is None or self._http.closed:
            timeouts = self.settings.timeouts
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeouts.request, connect=timeouts.connect)
            )
        return self._http

    def resolve(self, relative_url: str) -> str:
        """Transfer URLs are relative to the server origin; refuse anything that leaves it."""
        if not relative_url.startswith("/wangp_api/gallery/") or ".." in relative_url:
            raise errors.tag(errors.bad_transfer_url(relative_url), self.endpoint)
        return self.origin + relative_url

    # -- the protocol ----------------------------------------------------------------------------------------------
    async def initialize(self) -> dict[str, Any]:
        """The MCP handshake: keep the session id and protocol version, then send `notifications/initialized`.

        A session we still hold is ended first (a probe initializes again each time: no session left behind).
        """
        await self._end_session()
        params = {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "genbridge", "version": "0.1"},
        }
        status, headers, reply = await self._exchange("initialize", params, rpc_id=next(self._ids))
        result = self._result("initialize", status, reply)
        self.session_id = headers.get(SESSION_HEADER) or None
        self.server_info = result if isinstance(result, dict) else {}
        self.protocol_version = str(self.server_info.get("protocolVersion") or PROTOCOL_VERSION)
        self._initialized = True
        await self.notify("notifications/initialized")
        return self.server_info

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        """A JSON-RPC notification (no id, no answer expected: 202)."""
        status, _, reply = await self._exchange(method, params, rpc_id=None)
        if status >= 400:
            log.info("WanGP at %s answered %s to %s: %s", self.endpoint.name, status, method, str(reply)[:200])

    async def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One JSON-RPC request; returns `result` or raises a GenBridgeError saying what to do."""
        if not self._initialized:
            await self.initialize()
        status, _, reply = await self._exchange(method, params, rpc_id=next(self._ids))
        if status == 404 and self.session_id:
            # The server forgot our session (restarted, or expired it): start a new one once.
            log.info("WanGP at %s dropped MCP session; initializing again", self.endpoint.name)
            self.session_id = None  # already gone on the server: nothing to DELETE
            await self.initialize()
            status, _, reply = await self._exchange(method, params, rpc_id=next(self._ids))
            if status == 404 and self.session_id:
                raise errors.session_refused(self.endpoint, self.url)
        if status == 400 and not self.session_id and "session" in str(reply).lower():
            raise errors.session_missing(self.endpoint, self.url, str(reply))
        return self._result(method, status, reply)

    async def close(self) -> None:
        """End the session (DELETE) when the server gave one, then close the HTTP session."""
        await self._end_session()
        if self._http is not None and not self._http.closed:
            await self._http.close()
        self._http = None

    async def _end_session(self) -> None:
        """DELETE the session the server gave us, if any (best effort: a server may have dropped it already)."""
        if self.session_id and self._http is not None and not self._http.closed:
            try:
                async with self._http.delete(self.url, headers=self.headers(json_body=False), allow_redirects=False):
                    pass
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.info("Could not end the MCP session with %s: %r", self.endpoint.name, exc)
        self.session_id, self._initialized = None, False

    # -- one POST, its redirects and its reply ---------------------------------------------------------------------
    async def _exchange(
        self, method: str, params: dict[str, Any] | None, *, rpc_id: int | None
    ) -> tuple[int, Mapping[str, str], Any]:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if rpc_id is not None:
            body["id"] = rpc_id
        if params is not None or rpc_id is not None:
            body["params"] = params or {}
        url = self.url
        try:
            for _hop in range(MAX_REDIRECTS + 1):
                ensure_allowed(url, self.settings.allow_online, service=SERVICE)
                async with self.session().post(url, json=body, headers=self.headers(), allow_redirects=False) as resp:
                    if resp.status in REDIRECT_STATUSES:
                        url = self._next_hop(url, resp.status, resp.headers.get("Location"))
                        continue
                    self._remember_final(url)
                    reply = await self._read_reply(resp, method, rpc_id)
                    return resp.status, resp.headers, reply
        except GenBridgeError:
            raise
        except TimeoutError:
            raise ServiceTimeout(
                f"WanGP at {self.endpoint.name} did not answer {method} in time.", service="wan2gp"
            ) from None
        except aiohttp.ClientConnectionError as exc:
            raise Unreachable(
                f"Could not reach WanGP at {self.endpoint.name}.", START_HINT, service="wan2gp", detail=repr(exc)
            ) from None
        except aiohttp.ClientError as exc:
            # Not HTTP at all (wrong port), a reply cut off, ...: the shared mapper names each, never raw aiohttp text.
            raise map_transport_error(exc, service="wan2gp", url=url) from None
        raise IncompatibleServer(
            f"WanGP at {self.endpoint.name} redirected more than {MAX_REDIRECTS} times (a redirect loop).",
            "Point GenBridge at the final address of WanGP's MCP server (ending in /mcp).",
            service="wan2gp",
        )

    def _next_hop(self, url: str, status: int, location: str | None) -> str:
        target = follow_redirect(url, location, self.settings.allow_online, service=SERVICE)
        if status not in REPLAY_STATUSES:
            raise IncompatibleServer(
                f"WanGP at {self.endpoint.name} redirected a request to {redact_url(target)} with {status}, "
                "which would drop the request body.",
                "Set that address as the WanGP URL in GenBridge instead.",
                service="wan2gp",
            )
        return target

    def _remember_final(self, url: str) -> None:
        """Post to the final URL directly from now on, when it is on the configured origin (e.g. /mcp -> /mcp/)."""
        if url != self.url and urlsplit(url)._replace(path="", query="", fragment="").geturl() == self.origin:
            self.url = url

    async def _read_reply(self, resp: aiohttp.ClientResponse, method: str, rpc_id: int | None) -> Any:
        if resp.status >= 400 or (rpc_id is None and resp.status == 202):
            raw = await read_capped(resp, min(self.reply_limit, MB), service=SERVICE, what=f"reply to {method}")
            return raw.decode("utf-8", "replace")
        if resp.content_type == "text/event-stream":
            return await self._read_event_stream(resp, method, rpc_id)
        raw = await read_capped(resp, self.reply_limit, service=SERVICE, what=f"reply to {method}")
        if not raw.strip() and rpc_id is None:
            return None
        try:
            return decode_json(raw, service=SERVICE, what=f"reply to {method}")
        except ServerError:
            raise errors.not_json(self.endpoint, self.url, method, resp.content_type, raw) from None

    async def _read_event_stream(self, resp: aiohttp.ClientResponse, method: str, rpc_id: int | None) -> Any:
        """The JSON-RPC response with our id from an SSE reply; everything else in the stream is skipped."""
        stream = EventStream(self.reply_limit, what=f"event stream answering {method}")
        async for chunk in resp.content.iter_chunked(64 * 1024):
            for data in stream.feed(chunk):
                message = decode_json(data.encode(), service=SERVICE, what=f"event in the reply to {method}")
                if isinstance(message, dict) and message.get("id") == rpc_id and rpc_id is not None:
                    if "result" in message or "error" in message:
                        resp.release()
                        return message
                # A notification, a request from the server, or another request's answer: not ours.
        for data in stream.close():
            message = decode_json(data.encode(), service=SERVICE, what=f"event in the reply to {method}")
            if isinstance(message, dict) and rpc_id is not None and message.get("id") == rpc_id:
                return message
        if rpc_id is None:
            return None
        raise errors.stream_without_answer(self.endpoint, self.url, method)

    def _result(self, method: str, status: int, reply: Any) -> Any:
        if status >= 300:
            raise errors.http_error(self.endpoint, self.url, status, method, str(reply or ""))
        if not isinstance(reply, dict):
            raise errors.not_json(self.endpoint, self.url, method, "", json.dumps(reply)[:200].encode())
        if "error" in reply:
            raise errors.rpc_error(self.endpoint, method, reply["error"])
        return reply.get("result")


class EventStream:
    """An incremental `text/event-stream` parser: yields each event's data; linear in the input, size-capped."""

    def __init__(self, limit: int, *, what: str = "event stream") -> None:
        self.limit, self.what = limit, what
        self._pending: list[bytes] = []  # pieces of the line after the last line break
        self._data: list[str] = []
        self._size = 0
        self._total = 0

    def feed(self, chunk: bytes) -> list[str]:
        """Events completed by `chunk` (their joined `data:` lines)."""
        self._total += len(chunk)
        if self._total > self.limit:
            raise errors.reply_too_large(self.what, self.limit)
        events: list[str] = []
        start = 0
        # Only the new bytes are searched, and a long line's pieces are joined once: linear in the input.
        while (end := chunk.find(b"\n", start)) >= 0:
            piece = bytes(chunk[start:end])
            if self._pending:
                piece, self._pending = b"".join([*self._pending, piece]), []
            start = end + 1
            done = self._line(piece.rstrip(b"\r"))
            if done is not None:
                events.append(done)
        if start < len(chunk):
            self._pending.append(bytes(chunk[start:]))
        return events

    def close(self) -> list[str]:
        """A last event the server did not end with a blank line."""
        tail_line, self._pending = b"".join(self._pending), []
        return [d for d in (self._line(tail_line.rstrip(b"\r")), self._line(b"")) if d is not None]

    def _line(self, line: bytes) -> str | None:
        if not line:
            if not self._data:
                return None
            data, self._data, self._size = "\n".join(self._data), [], 0
            return data
        if line.startswith(b":"):
            return None  # a comment / keep-alive
        name, _, value = line.partition(b":")
        if name == b"data":
            text = value[1:] if value.startswith(b" ") else value
            self._size += len(text)
            self._data.append(text.decode("utf-8", "replace"))
        return None
