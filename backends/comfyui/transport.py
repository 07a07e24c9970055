"""HTTP to one ComfyUI server: every redirect hop checked by the host rule, every reply capped, one deadline per call.

Loop thread only. aiohttp never follows a redirect on its own here (`allow_redirects=False`): each hop goes
through `runtime.netpolicy.follow_redirect`, so a loopback server cannot send GenBridge to another computer while
online access is off. JSON replies are read through `backends.http.read_json_capped` with `reply_limit_mb`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from ...runtime.errors import GenBridgeError, ServerError
from ...runtime.netpolicy import MAX_REDIRECTS, REDIRECT_STATUSES, ensure_allowed, follow_redirect, redact_url
from ...runtime.settings import Endpoint, Settings
from ..http import MB, decode_json, read_capped
from . import errors

SERVICE_NAME = "ComfyUI"


class ComfyHTTP:
    """One aiohttp session per server (created lazily on the loop thread), with the API key as a bearer header."""

    def __init__(self, endpoint: Endpoint, settings: Settings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.base = endpoint.url.rstrip("/")
        self.prefix = ""  # "/api" when only the prefixed routes answer (some proxies)
        self._session: aiohttp.ClientSession | None = None
        self._allowed: set[str] = set()  # URLs that passed the host rule (settings are fixed per client)
        t = settings.timeouts
        self.timeout = aiohttp.ClientTimeout(total=t.request, connect=t.connect, sock_connect=t.connect)
        # Downloads have one deadline for the whole file (retries included, see download.py); per read, `request`.
        self.stream_timeout = aiohttp.ClientTimeout(total=None, connect=t.connect, sock_read=t.request)

    @property
    def auth_headers(self) -> dict[str, str]:
        key = self.endpoint.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    @property
    def reply_limit(self) -> int:
        return self.settings.reply_limit_mb * MB

    def url(self, path: str) -> str:
        return f"{self.base}{self.prefix}{path}"

    def _check(self, url: str) -> None:
        if url not in self._allowed:
            ensure_allowed(url, self.settings.allow_online, service=SERVICE_NAME)
            if len(self._allowed) < 256:  # the API's few URLs per job id are not worth remembering forever
                self._allowed.add(url)

    def session(self) -> aiohttp.ClientSession:
        self._check(self.base)
        if self._session is None or self._session.closed:
            # aiohttp sends no Origin header by default: ComfyUI answers 403 to a mismatched one.
            self._session = aiohttp.ClientSession(
                headers=self.auth_headers or None, connector=aiohttp.TCPConnector(limit=16)
            )
        return self._session

    @contextlib.asynccontextmanager
    async def open(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        json: Any = None,
        data: Callable[[], Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The final response after following redirects hop by hop; `data` builds a fresh body for each hop."""
        session = self.session()
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            self._check(current)
            resp = await session.request(
                method,
                current,
                params=params,
                json=json,
                data=data() if data is not None else None,
                headers=headers,
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
            params = None  # the Location carries its own query
            if resp.status == 303 or (resp.status in (301, 302) and method != "GET"):
                method, json, data = "GET", None, None  # what browsers (and aiohttp) do
        raise errors.locate(
            ServerError(
                f"ComfyUI at {redact_url(self.base)} redirected more than {MAX_REDIRECTS} times.",
                "Point GenBridge at the final address of ComfyUI.",
                service=errors.SERVICE,
            ),
            self.base,
        )

    async def request(self, method: str, path: str, *, json: Any = None, params: Any = None) -> tuple[int, Any]:
        """One API call under one deadline; returns (status, parsed JSON or None). Failures become GenBridgeErrors."""
        try:
            async with asyncio.timeout(self.settings.timeouts.request):
                async with self.open(method, self.url(path), json=json, params=params) as r:
                    status, ctype = r.status, r.content_type
                    raw = await read_capped(r, self.reply_limit, service=SERVICE_NAME, what=f"reply to {path}")
        except GenBridgeError as exc:
            raise errors.locate(exc, self.base) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise errors.transport_error(
                exc, endpoint=self.base, path=path, timeout_s=self.settings.timeouts.request
            ) from None
        err = errors.status_error(status, ctype, raw[:300].decode("utf-8", "replace"), endpoint=self.base, path=path)
        if err is not None:
            raise err
        if not raw.strip():
            return status, None  # the "just act" POSTs answer 200 with an empty body
        if "json" not in ctype:
            if status == 404:
                return status, None
            raise errors.not_comfyui(
                endpoint=self.base, path=path, what=f"got {ctype}", detail=raw[:300].decode("utf-8", "replace")
            )
        try:
            return status, decode_json(raw, service=SERVICE_NAME, what=f"reply to {path}")
        except GenBridgeError as exc:
            raise errors.locate(exc, self.base) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
