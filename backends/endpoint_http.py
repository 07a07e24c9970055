"""One server's HTTP session: bearer key, host rule, timeouts, reply cap and the shared redirect loop.

Loop thread only. The base of the ComfyUI and Comfy API v2 transports (`backends/comfyui*/transport.py`), which add
their own URL layout, status mapping and error wording. aiohttp never follows a redirect on its own here
(`allow_redirects=False`): each hop goes through `http.request_following_redirects`, i.e. the host rule and
`runtime.netpolicy.follow_redirect`, and the key is dropped once a hop leaves the configured origin.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from ..runtime.errors import GenBridgeError
from ..runtime.netpolicy import ensure_allowed
from ..runtime.settings import Endpoint, Settings
from .http import MB, request_following_redirects, too_many_redirects


class EndpointHTTP:
    """One aiohttp session per server (created lazily on the loop thread); the key is sent per request."""

    service_name = ""  # the name the host rule's messages use

    def __init__(self, endpoint: Endpoint, settings: Settings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.base = endpoint.url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._allowed: set[str] = set()  # URLs that passed the host rule (settings are fixed per client)
        t = settings.timeouts
        self.timeout = aiohttp.ClientTimeout(total=t.request, connect=t.connect, sock_connect=t.connect)
        # Streams (SSE, downloads) have no total per request (their callers hold one deadline for the whole);
        # a single read may stall at most `request` seconds.
        self.stream_timeout = aiohttp.ClientTimeout(total=None, connect=t.connect, sock_read=t.request)

    @property
    def auth_headers(self) -> dict[str, str]:
        key = self.endpoint.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    @property
    def reply_limit(self) -> int:
        return self.settings.reply_limit_mb * MB

    def check(self, url: str) -> None:
        """The host rule for `url` (remembered once passed: settings do not change under a client)."""
        if url not in self._allowed:
            ensure_allowed(url, self.settings.allow_online, service=self.service_name)
            if len(self._allowed) < 256:  # the API's few URLs per job id are not worth remembering forever
                self._allowed.add(url)

    def session(self) -> aiohttp.ClientSession:
        self.check(self.base)
        if self._session is None or self._session.closed:
            # No Origin header (aiohttp sends none): ComfyUI answers 403 to a mismatched one, and the v2 proxy's
            # origin guard only judges browser requests.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16))
        return self._session

    def too_many_redirects(self) -> GenBridgeError:
        """The error after MAX_REDIRECTS hops; subclasses word it for their service."""
        return too_many_redirects(self.service_name, self.base)

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
        """The final response after following redirects hop by hop; `data` builds a fresh body for each hop. The
        key goes only to the configured origin. Transport failures propagate as aiohttp/OS errors."""
        async with request_following_redirects(
            self.session(),
            method,
            url,
            online_access=self.settings.allow_online,
            service=self.service_name,
            key_origin=self.base,
            check=self.check,
            make_data=data,
            too_many=self.too_many_redirects,
            map_errors=False,
            params=params,
            json=json,
            headers={**self.auth_headers, **(headers or {})},
            timeout=timeout or self.timeout,
        ) as resp:
            yield resp

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
