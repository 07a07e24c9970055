"""The one websocket per ComfyUI server: routes messages to jobs by prompt id, reconnects, and asks for resyncs.

Why so careful: ComfyUI replays nothing after a reconnect and has a bug that leaves a second socket with the same
client id deaf, so we close the old socket fully before reopening, tell every open job to resynchronise from
/queue and /history after any break, and reconnect when no `status` frame follows a submit (the watchdog).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import time
from typing import Any

from ...runtime.errors import GenBridgeError, ServiceTimeout
from ...runtime.netpolicy import follow_redirect
from . import errors

log = logging.getLogger(__name__)

RESYNC = ("resync", None)  # put into every job's queue when messages may have been lost
FATAL = "fatal"  # ("fatal", GenBridgeError): the socket will not come back (refused credentials, refused redirect)
MAX_FRAME = 64 * 1024 * 1024  # full-image previews (SaveImageWebsocket) can be 12+ MB in one frame
# Sent first on every connection: previews then arrive as type 4 frames that name their prompt and node.
FEATURE_FLAGS = json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}})


class ComfySocket:
    """Owns the websocket task of one client id; jobs `subscribe(prompt_id)` to get their messages."""

    def __init__(
        self,
        ws_url: str,
        *,
        connect_timeout: float,
        watchdog_s: float = 1.0,
        backoff_max: float = 2.0,
        headers: dict[str, str] | None = None,
        allow_online: bool = False,
    ):
        self.ws_url = ws_url
        self.headers = headers or {}  # the same Authorization as the HTTP session
        self.allow_online = allow_online
        self.fatal: GenBridgeError | None = None
        self.server_flags: dict[str, Any] = {}  # the server's `feature_flags` reply (0.3.64+ servers answer)
        self.connect_timeout = connect_timeout
        self.watchdog_s = watchdog_s
        self.backoff_max = backoff_max
        self.subscribers: dict[str, asyncio.Queue[tuple[str, Any]]] = {}
        self.last_message = 0.0
        self.reconnects = 0
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._preview_owner: str | None = None  # type-1 previews belong to the last `executing` prompt...
        self._preview_node: str | None = None  # ...and node
        self._watchdogs: set[asyncio.Future[None]] = set()
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._armed = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def ensure_started(self) -> None:
        """Start the socket task if needed and wait (bounded) until it is connected; raises a refused handshake."""
        if self.fatal is not None:
            raise self.fatal
        if self._task is None or self._task.done():
            self._closing = False
            self._task = asyncio.create_task(self._run(), name="comfyui-ws")
        if self._connected.is_set():
            return
        stopped: asyncio.Future[Any] = asyncio.ensure_future(asyncio.shield(self._task))
        waiter: asyncio.Future[Any] = asyncio.ensure_future(self._connected.wait())
        try:
            await asyncio.wait([waiter, stopped], timeout=self.connect_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopped.cancel()
        if self.fatal is not None:
            raise self.fatal
        if not self._connected.is_set():
            raise errors.socket_unreachable(self.ws_url.split("?")[0])

    def subscribe(self, prompt_id: str) -> asyncio.Queue[tuple[str, Any]]:
        return self.subscribers.setdefault(prompt_id, asyncio.Queue())

    def unsubscribe(self, prompt_id: str) -> None:
        self.subscribers.pop(prompt_id, None)

    def arm_watchdog(self) -> None:
        """After a submit: no frame within `watchdog_s` means a deaf socket, so reconnect it.

        A timer, not a task per submit: most checks find the socket alive and cost nothing more."""
        armed_at = time.monotonic()
        self._armed += 1
        token = self._armed
        self._timers[token] = asyncio.get_running_loop().call_later(
            self.watchdog_s, self._watchdog_fired, token, armed_at
        )

    def _watchdog_fired(self, token: int, armed_at: float) -> None:
        self._timers.pop(token, None)
        if self.last_message < armed_at and self._ws is not None:
            log.info("ComfyUI socket silent after a submit; reconnecting")
            task = asyncio.ensure_future(self._drop())
            self._watchdogs.add(task)
            task.add_done_callback(self._watchdogs.discard)

    async def reconnect(self) -> None:
        """Force a reconnect (used when a job has heard nothing for too long)."""
        await self._drop()

    async def close(self) -> None:
        self._closing = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._watchdogs):
            task.cancel()
        await self._drop()
        if self._task is not None:
            # Bounded: on Python 3.11 a cancel that races with a finishing `wait_for` can be swallowed.
            for _ in range(10):
                if self._task.done():
                    break
                self._task.cancel()
                await asyncio.wait([self._task], timeout=0.1)
            self._task = None

    async def _drop(self) -> None:
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)

    def _broadcast(self, item: tuple[str, Any]) -> None:
        for queue in self.subscribers.values():
            queue.put_nowait(item)

    async def _run(self) -> None:
        from websockets.exceptions import InvalidStatus, WebSocketException

        attempt = 0
        had_connection = False
        while not self._closing:
            try:
                # `async with` returns only after the close handshake finished (or the transport died), so the
                # next connection with the same client id never overlaps this one.
                async with _connector()(
                    self.ws_url,
                    allow_online=self.allow_online,
                    additional_headers=self.headers or None,
                    max_size=MAX_FRAME,
                    # Small JSON messages and already-compressed images: deflate costs CPU on both ends for nothing.
                    compression=None,
                    open_timeout=self.connect_timeout,
                    close_timeout=2.0,
                ) as ws:
                    self._ws = ws
                    attempt = 0
                    self.last_message = time.monotonic()
                    await ws.send(FEATURE_FLAGS)
                    self._connected.set()
                    if had_connection:
                        self.reconnects += 1
                        self._broadcast(RESYNC)
                    had_connection = True
                    async for raw in ws:
                        self.last_message = time.monotonic()
                        self._dispatch(raw)
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):  # the same answer every time: stop, and say why
                    self._stop_for(errors.socket_refused(status, endpoint=self.ws_url.split("?")[0]))
                    return
                log.debug("ComfyUI socket: %s", exc)
            except GenBridgeError as exc:  # a redirect the host rule refused
                self._stop_for(exc)
                return
            except (TimeoutError, OSError, WebSocketException) as exc:
                log.debug("ComfyUI socket: %s", exc)
            finally:
                self._ws = None
                self._connected.clear()
            if self._closing:
                break
            self._broadcast(RESYNC)
            await asyncio.sleep(min(self.backoff_max, 0.05 * 2**attempt))
            attempt += 1

    def _stop_for(self, err: GenBridgeError) -> None:
        self.fatal = err
        self._broadcast((FATAL, err))

    def _dispatch(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            self._dispatch_binary(raw)
            return
        try:
            msg = json.loads(raw)
            kind, data = msg["type"], msg.get("data") or {}
        except (ValueError, KeyError, TypeError):
            return
        if kind == "feature_flags" and isinstance(data, dict):
            self.server_flags = data
            return
        prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
        if prompt_id is None:
            return  # status, the bare reconnect `executing`, unknown broadcasts: nothing job-specific
        if kind == "executing":
            node = data.get("node")
            self._preview_owner = prompt_id if node is not None else None
            self._preview_node = str(node) if node is not None else None
        queue = self.subscribers.get(prompt_id)
        if queue is not None:
            queue.put_nowait((kind, data))

    def _dispatch_binary(self, raw: bytes) -> None:
        if len(raw) < 8:
            return
        event, second = struct.unpack(">II", raw[:8])
        owner, node, image, fmt = None, None, b"", "png"
        if event == 1:
            owner, node = self._preview_owner, self._preview_node
            fmt, image = ("jpg" if second == 1 else "png"), raw[8:]
        elif event == 4:
            with contextlib.suppress(ValueError, AttributeError):
                meta = json.loads(raw[8 : 8 + second])
                owner = meta.get("prompt_id")
                node = meta.get("node_id")
                node = str(node) if node is not None else None
                fmt = "jpg" if "jpeg" in str(meta.get("image_type")) else "png"
                image = raw[8 + second :]
        queue = self.subscribers.get(owner) if isinstance(owner, str) else None
        if queue is not None and image:
            queue.put_nowait(("preview", (fmt, image, node)))


def _connector() -> Any:
    """websockets' `connect`, but every redirect hop must pass the host rule (websockets follows them itself)."""
    from websockets.asyncio.client import connect

    class PolicyConnect(connect):  # type: ignore[misc]
        def __init__(self, uri: str, *, allow_online: bool, **kwargs: Any) -> None:
            self.allow_online = allow_online
            super().__init__(uri, **kwargs)

        def process_redirect(self, exc: Exception) -> Exception | str:
            target = super().process_redirect(exc)
            if isinstance(target, Exception):
                return target
            try:
                follow_redirect(_as_http(self.uri), _as_http(target), self.allow_online, service="ComfyUI")
            except GenBridgeError as refused:
                return refused
            return target

    return PolicyConnect


def _as_http(url: str) -> str:
    return "http" + url[2:] if url.startswith("ws") else url


__all__ = ["FATAL", "RESYNC", "ComfySocket", "ServiceTimeout"]
