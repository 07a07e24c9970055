"""HTTP to one Comfy API v2 endpoint: bearer key, every redirect hop checked by the host rule, every reply capped,
one deadline per call.

Loop thread only. aiohttp never follows a redirect on its own (`allow_redirects=False`): each hop goes through
`runtime.netpolicy.follow_redirect`, and the key is dropped when a hop leaves the configured origin. JSON replies
are read through `backends.http.read_capped` + `decode_json` with `reply_limit_mb`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ...runtime.errors import GenBridgeError
from ...runtime.netpolicy import MAX_REDIRECTS, REDIRECT_STATUSES, ensure_allowed, follow_redirect
from ...runtime.settings import Endpoint, Settings
from ..http import MB, decode_json, read_capped, too_many_redirects
from . import errors

SERVICE_NAME = "Comfy API v2"
API = "/api/v2"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def retry_after_s(headers: Any, default: float = 5.0) -> float:
    """`Retry-After` in seconds (the delta form; an HTTP date or garbage falls back to `default`), capped at 5 min."""
    raw = headers.get("Retry-After", "") if headers is not None else ""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default
    return min(max(value, 0.0), 300.0)


class V2HTTP:
    """One aiohttp session per endpoint (created lazily on the loop thread)."""

    def __init__(self, endpoint: Endpoint, settings: Settings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.base = endpoint.url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        t = settings.timeouts
        self.timeout = aiohttp.ClientTimeout(total=t.request, connect=t.connect, sock_connect=t.connect)
        # Streams (SSE, downloads) have no total per request; a read may stall at most `silence`/`request` seconds.
        self.stream_timeout = aiohttp.ClientTimeout(total=None, connect=t.connect, sock_read=t.request)

    @property
    def auth_headers(self) -> dict[str, str]:
        key = self.endpoint.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    @property
    def reply_limit(self) -> int:
        return self.settings.reply_limit_mb * MB

    def url(self, path: str) -> str:
        return f"{self.base}{API}{path}"

    def session(self) -> aiohttp.ClientSession:
        ensure_allowed(self.base, self.settings.allow_online, service=SERVICE_NAME)
        if self._session is None or self._session.closed:
            # No Origin header (aiohttp sends none): the proxy's origin guard only judges browser requests.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16))
        return self._session

    @contextlib.asynccontextmanager
    async def open(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: Callable[[], Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The final response after following redirects hop by hop; `data` builds a fresh body for each hop. The
        key goes only to the configured origin."""
        session = self.session()
        current = url
        sent = {**self.auth_headers, **(headers or {})}
        for _ in range(MAX_REDIRECTS + 1):
            ensure_allowed(current, self.settings.allow_online, service=SERVICE_NAME)
            if _origin(current) != _origin(self.base):
                sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            resp = await session.request(
                method,
                current,
                json=json,
                data=data() if data is not None else None,
                headers=sent,
                allow_redirects=False,
                timeout=timeout or self.timeout,
            )
            if resp.status not in REDIRECT_STATUSES:
                try:
                    yield resp
                finally:
                    resp.release()
                return
            location = resp.headers.get("Location")
            hop_from = str(resp.url)
            resp.release()
            current = follow_redirect(hop_from, location, self.settings.allow_online, service=SERVICE_NAME)
            if resp.status == 303 or (resp.status in (301, 302) and method not in ("GET", "HEAD")):
                method, json, data = "GET", None, None  # what browsers (and aiohttp) do
        raise errors.locate(too_many_redirects("comfyui", self.base), self.base)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Callable[[], Any] | None = None,
        job_id: str = "",
        ok: tuple[int, ...] = (200, 201),
        timeout_s: float | None = None,
    ) -> tuple[int, Any]:
        """One API call under one deadline: (status, parsed JSON or None). A status outside `ok` (and 404 when
        `ok` holds it) raises the mapped error; transport failures become GenBridgeErrors."""
        limit = timeout_s or self.settings.timeouts.request
        try:
            async with asyncio.timeout(limit):
                timeout = self.timeout if timeout_s is None else aiohttp.ClientTimeout(total=None, sock_read=limit)
                async with self.open(method, self.url(path), json=json, data=data, timeout=timeout) as r:
                    status, ctype, headers = r.status, r.content_type, r.headers
                    raw = (
                        b""
                        if method == "HEAD"
                        else await read_capped(r, self.reply_limit, service=SERVICE_NAME, what=f"reply to {path}")
                    )
        except GenBridgeError as exc:
            raise errors.locate(exc, self.base, job_id) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise errors.locate(
                errors.transport_error(exc, endpoint=self.base, path=API + path, timeout_s=limit), self.base, job_id
            ) from None
        body: Any = None
        if raw.strip() and "json" in ctype:
            try:
                body = decode_json(raw, service=SERVICE_NAME, what=f"reply to {path}")
            except GenBridgeError as exc:
                raise errors.locate(exc, self.base, job_id) from None
        if status not in ok:
            raise errors.status_error(
                status, body, endpoint=self.base, path=API + path, job_id=job_id, retry_after=retry_after_s(headers)
            )
        if raw.strip() and body is None and method != "HEAD":
            raise errors.locate(
                errors.ServerError(
                    f"{SERVICE_NAME} at {self.base} sent {ctype or 'a non-JSON reply'} to {API}{path}.",
                    "Check that the URL points at a Comfy API v2 server (Comfy Cloud or comfy-api-proxy).",
                    service=errors.SERVICE,
                ),
                self.base,
                job_id,
            )
        return status, body

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
