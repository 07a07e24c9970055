"""The `/ws` endpoint: handshake, feature-flag negotiation, routing of text and binary frames like ComfyUI.

Routing follows `protocols/comfyui.md` §4.6: job messages go to the prompt's client only; `progress`,
`progress_state`, type-1 previews and `execution_interrupted` are broadcast when a prompt has no client id;
type-4 previews (with JSON metadata naming the prompt) go only to a client that sent `supports_preview_metadata`.
Runs on the stand-in's event loop.
"""

from __future__ import annotations

import contextlib
import json
import struct
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

PREVIEW_IMAGE, TEXT, PREVIEW_WITH_METADATA = 1, 3, 4
PNG_FORMAT = 2


def abort_ws(ws: web.WebSocketResponse) -> None:
    """Drop a socket without a close frame (close code 1006 on the client), like a killed server."""
    req = getattr(ws, "_req", None)
    transport = getattr(req, "transport", None) if req is not None else None
    if transport is not None:
        transport.abort()


class SocketMixin:
    """Websocket handling for `ComfyUIStandIn` (state lives on the server object)."""

    sockets: dict[str, web.WebSocketResponse]
    _all_ws: set[web.WebSocketResponse]
    _flags: dict[int, dict[str, Any]]
    running: list[Any] | None
    running_node: str | None
    queue: list[list[Any]]
    faults: Any

    if TYPE_CHECKING:

        def _features(self) -> dict[str, Any]: ...  # provided by routes_meta

    async def h_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)  # no heartbeat: the real server never pings
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        ws._standin_sent = 0  # type: ignore[attr-defined]
        self.sockets[sid] = ws
        self._all_ws.add(ws)
        first = True
        try:
            await self._send_to(ws, "status", {"status": self._exec_info(), "sid": sid})
            if self.running is not None and self.running_node and self.running[3].get("client_id") == sid:
                await self._send_to(ws, "executing", {"node": self.running_node})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                # Only the first text frame may negotiate flags; later text (or invalid JSON) is ignored.
                with contextlib.suppress(ValueError, AttributeError, TypeError):
                    data = json.loads(msg.data)
                    if first and data.get("type") == "feature_flags" and isinstance(data.get("data"), dict):
                        self._flags[id(ws)] = data["data"]
                        await self._send_to(ws, "feature_flags", self._features())
                first = False
        finally:
            self._all_ws.discard(ws)
            self._flags.pop(id(ws), None)
            if self.faults.orphan_sockets:
                self.sockets.pop(sid, None)  # the server's bug: may remove a newer socket's mapping
            elif self.sockets.get(sid) is ws:
                del self.sockets[sid]
        return ws

    def _exec_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": len(self.queue) + (1 if self.running else 0)}}

    def wants_metadata(self, client_id: str | None) -> bool:
        """Did this client's socket announce `supports_preview_metadata` (type-4 previews)?"""
        ws = self.sockets.get(client_id) if client_id else None
        return ws is not None and bool(self._flags.get(id(ws), {}).get("supports_preview_metadata"))

    async def _send_to(self, ws: web.WebSocketResponse, kind: str, data: dict[str, Any]) -> None:
        await self._send_frame(ws, json.dumps({"type": kind, "data": data}))

    async def _send_frame(self, ws: web.WebSocketResponse, frame: str | bytes) -> None:
        if ws.closed or self.faults.silent_socket:
            return
        limit = self.faults.drop_socket_after
        sent = getattr(ws, "_standin_sent", 0)
        if limit is not None and sent >= limit:
            abort_ws(ws)
            return
        ws._standin_sent = sent + 1  # type: ignore[attr-defined]
        with contextlib.suppress(ConnectionError, RuntimeError):
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)

    async def _send(self, kind: str, data: dict[str, Any], client_id: str | None, *, broadcast_if_none: bool) -> None:
        """Route like the server: to the prompt's client, or to everyone for broadcast types without one."""
        if client_id:
            ws = self.sockets.get(client_id)
            if ws is not None:
                await self._send_to(ws, kind, data)
        elif broadcast_if_none:
            for ws in list(self.sockets.values()):
                await self._send_to(ws, kind, data)

    async def _broadcast_status(self) -> None:
        for ws in list(self.sockets.values()):
            await self._send_to(ws, "status", {"status": self._exec_info()})

    async def send_text_frame(self, node_id: str, text: str) -> None:
        """A type-3 TEXT frame (node progress text, e.g. GetImageSize): always broadcast to every socket."""
        raw = node_id.encode()
        frame = struct.pack(">II", TEXT, len(raw)) + raw + text.encode()
        for ws in list(self.sockets.values()):
            await self._send_frame(ws, frame)

    async def send_preview(self, image: bytes, client_id: str | None, node_id: str, prompt_id: str) -> None:
        """One binary preview: type 4 with metadata for a client that asked for it, else type 1 (PNG)."""
        if self.faults.large_frame_bytes:
            image = image + b"\0" * max(0, self.faults.large_frame_bytes - len(image))  # bytes after IEND
            self.faults.large_frame_bytes = None
        if self.wants_metadata(client_id):
            meta = {
                "node_id": node_id,
                "prompt_id": prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
                "image_type": "image/png",
            }
            raw = json.dumps(meta).encode()
            ws = self.sockets.get(client_id or "")
            if ws is not None:
                await self._send_frame(ws, struct.pack(">II", PREVIEW_WITH_METADATA, len(raw)) + raw + image)
            return
        frame = struct.pack(">II", PREVIEW_IMAGE, PNG_FORMAT) + image
        targets = [self.sockets.get(client_id)] if client_id else list(self.sockets.values())
        for ws in targets:
            if ws is not None:
                await self._send_frame(ws, frame)
