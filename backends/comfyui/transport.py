"""HTTP to one ComfyUI server: every redirect hop checked by the host rule, every reply capped, one deadline per call.

Loop thread only. aiohttp never follows a redirect on its own here (`allow_redirects=False`): each hop goes
through `runtime.netpolicy.follow_redirect`, so a loopback server cannot send GenBridge to another computer while
online access is off. JSON replies are read through `backends.http.read_json_capped` with `reply_limit_mb`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from ...runtime.errors import GenBridgeError, ServerError
from ...runtime.netpolicy import MAX_REDIRECTS, redact_url
from ...runtime.settings import Endpoint, Settings
from ..endpoint_http import EndpointHTTP
from ..http import decode_json, read_capped
from . import errors

SERVICE_NAME = "ComfyUI"


class ComfyHTTP(EndpointHTTP):
    """One ComfyUI server's session (see `EndpointHTTP`), with ComfyUI's URL layout and error wording."""

    service_name = SERVICE_NAME

    def __init__(self, endpoint: Endpoint, settings: Settings) -> None:
        super().__init__(endpoint, settings)
        self.prefix = ""  # "/api" when only the prefixed routes answer (some proxies)

    def url(self, path: str) -> str:
        return f"{self.base}{self.prefix}{path}"

    def too_many_redirects(self) -> GenBridgeError:
        return errors.locate(
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
