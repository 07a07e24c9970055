"""HTTP to one Comfy API v2 endpoint: bearer key, every redirect hop checked by the host rule, every reply capped,
one deadline per call.

Loop thread only. aiohttp never follows a redirect on its own (`allow_redirects=False`): each hop goes through
`runtime.netpolicy.follow_redirect`, and the key is dropped when a hop leaves the configured origin. JSON replies
are read through `backends.http.read_capped` + `decode_json` with `reply_limit_mb`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from ...runtime.errors import GenBridgeError
from ..endpoint_http import EndpointHTTP
from ..http import decode_json, read_capped, too_many_redirects
from . import errors

SERVICE_NAME = "Comfy API v2"
API = "/api/v2"


def retry_after_s(headers: Any, default: float = 5.0) -> float:
    """`Retry-After` in seconds (the delta form; an HTTP date or garbage falls back to `default`), capped at 5 min."""
    raw = headers.get("Retry-After", "") if headers is not None else ""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default
    return min(max(value, 0.0), 300.0)


class V2HTTP(EndpointHTTP):
    """One Comfy API v2 endpoint's session (see `EndpointHTTP`), with the v2 URL layout and error wording."""

    service_name = SERVICE_NAME

    def url(self, path: str) -> str:
        return f"{self.base}{API}{path}"

    def too_many_redirects(self) -> GenBridgeError:
        return errors.locate(too_many_redirects("comfyui", self.base), self.base)

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
