"""Size-capped reading of HTTP replies, shared by every client. Runs on the loop thread only.

A hostile or broken server must not be able to grow our memory without bound: every body is read in chunks and
the read stops at the cap with a `ReplyTooLarge` that names the cap. JSON is decoded here too, so that deeply
nested or invalid bodies become one clear error instead of a RecursionError or a raw decode error.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..runtime.errors import (
    ConfigError,
    GenBridgeError,
    IncompatibleServer,
    ReplyTooLarge,
    ServerError,
    ServiceTimeout,
    Unreachable,
    error_from_exception,
    local_problem,
    register_library_errors,
)
from ..runtime.netpolicy import redact_url
from ..runtime.services import SERVICE_TITLES

MB = 1024 * 1024
DEFAULT_REPLY_LIMIT = 32 * MB


async def read_capped(resp: Any, limit: int = DEFAULT_REPLY_LIMIT, *, service: str = "", what: str = "reply") -> bytes:
    """The whole body of an aiohttp response, or ReplyTooLarge once it passes `limit` bytes."""
    declared = resp.content_length
    if declared is not None and declared > limit:
        raise _too_large(service, what, limit)
    import aiohttp

    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                resp.release()
                raise _too_large(service, what, limit)
            chunks.append(chunk)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        # A body cut off or stalled midway gets the same clear message as a failed request.
        raise map_transport_error(exc, service=service, url=str(getattr(resp, "url", "") or "")) from None
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


def map_transport_error(exc: BaseException, *, service: str = "", url: str = "") -> GenBridgeError:
    """What went wrong talking to a server, as a GenBridgeError that says which and what to do.

    Backends call this from their `except (aiohttp.ClientError, OSError, asyncio.TimeoutError)` blocks so that a
    refused connection, a server that is not speaking HTTP (a plain TCP echo, the wrong port), a reply cut off
    in the middle and a local file problem each get their own message. Local problems (disk full, a name too
    long, the output folder is a file) become `LocalProblem`, which never falls back to another backend.
    """
    import asyncio

    import aiohttp

    if isinstance(exc, GenBridgeError):
        return exc
    title = SERVICE_TITLES.get(service, service) or "The service"
    at = f"{title} at {redact_url(url)}" if url else title
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return ServiceTimeout(f"{at} did not answer in time.", service=service)
    if isinstance(exc, aiohttp.InvalidURL):
        return ConfigError(f"{redact_url(str(exc.url))} is not a URL GenBridge can use.", service=service)
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or str(exc.os_error) if exc.os_error else "connection failed"
        return Unreachable(f"Could not connect to {at} ({reason}).", service=service, detail=repr(exc))
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return Unreachable(
            f"{at} closed the connection without answering.",
            "Check that the URL points at the service (right host and port) and look at its console.",
            service=service,
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ServerError(
            f"{at} stopped in the middle of its reply (the connection closed before the reply was complete).",
            "The service may have crashed or restarted: look at its console, then try again.",
            service=service,
            detail=str(exc),
        )
    if isinstance(exc, aiohttp.ClientResponseError) and _not_http(exc):
        return IncompatibleServer(
            f"{at} did not answer in HTTP: something else is listening on that port.",
            "Check the port in the URL: it should be the service's web port (ComfyUI 8188, WanGP 7866, "
            "LiteLLM 4000 by default).",
            service=service,
            detail=str(exc.message)[:200],
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        return ServerError(f"{at} answered with HTTP {exc.status} ({exc.message}).", service=service)
    if isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientError):
        local = local_problem(exc)
        if local is not None:
            return local
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return Unreachable(f"Could not reach {at}: {exc}", service=service, detail=repr(exc))
    return error_from_exception(exc, service=service)


def _not_http(exc: Any) -> bool:
    """True when aiohttp could not even parse the status line or headers: the peer does not speak HTTP."""
    from aiohttp.http_exceptions import HttpProcessingError

    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, HttpProcessingError) or "Bad status line" in str(exc.message)


def _origin(url: str) -> tuple[str, str, int | None]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def too_many_redirects(service: str, url: str) -> ServerError:
    """The error for a server that keeps redirecting (a loop, or a chain longer than MAX_REDIRECTS hops)."""
    from ..runtime.netpolicy import MAX_REDIRECTS

    title = SERVICE_TITLES.get(service, service) or "The service"
    return ServerError(
        f"{title} at {redact_url(url)} redirected more than {MAX_REDIRECTS} times (a redirect loop); "
        "GenBridge stopped following.",
        "Point GenBridge at the final address of the service, and check the service's proxy settings.",
        service=service,
    )


@contextlib.asynccontextmanager
async def request_following_redirects(
    session: Any,
    method: str,
    url: str,
    *,
    online_access: bool,
    service: str = "",
    key_origin: str | None = None,
    check: Callable[[str], None] | None = None,
    make_data: Callable[[], Any] | None = None,
    too_many: Callable[[], GenBridgeError] | None = None,
    map_errors: bool = True,
    **kwargs: Any,
) -> AsyncIterator[Any]:
    """`session.request(...)` that follows redirects itself, each hop through the host policy.

    The one redirect loop every client uses (the ComfyUI and Comfy API v2 transports through `EndpointHTTP`).
    Yields the final (non-redirect) response. A hop to another computer with online access off, a hop with user
    info and more than MAX_REDIRECTS hops raise before anything is sent there. 307/308 resend the same request;
    301/302/303 turn it into a body-less GET (HEAD stays HEAD), as browsers and aiohttp do. The Authorization
    header is dropped for good once a hop leaves `key_origin` (default: the first URL's origin).
    `check(url)` judges each hop (default `ensure_allowed`); `make_data()` builds a fresh body for each hop (a
    stream can be read once); `too_many()` is the error after MAX_REDIRECTS hops (default `too_many_redirects`).
    With `map_errors`, transport failures of the request become GenBridgeErrors through `map_transport_error`;
    without, they propagate for the caller to word.
    """
    import aiohttp

    from ..runtime.netpolicy import MAX_REDIRECTS, REDIRECT_STATUSES, ensure_allowed, follow_redirect

    origin = _origin(key_origin or url)
    headers = dict(kwargs.pop("headers", None) or {})
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        if check is not None:
            check(current)
        else:
            ensure_allowed(current, online_access, service=service)
        if _origin(current) != origin:
            # The key belongs to the configured server: never hand it to another host or port a redirect names.
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        if make_data is not None:
            kwargs["data"] = make_data()
        try:
            resp = await session.request(method, current, headers=headers, allow_redirects=False, **kwargs)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            if not map_errors:
                raise
            raise map_transport_error(exc, service=service, url=current) from None
        if resp.status not in REDIRECT_STATUSES:
            try:
                yield resp
            finally:
                resp.release()
            return
        location = resp.headers.get("Location")
        hop_from = str(getattr(resp, "url", "") or current)
        resp.release()
        current = follow_redirect(hop_from, location, online_access, service=service)
        kwargs.pop("params", None)  # the Location carries its own query
        if resp.status in (301, 302, 303) and method.upper() != "HEAD":
            method, make_data = "GET", None
            for body in ("json", "data"):
                kwargs.pop(body, None)
    raise too_many() if too_many is not None else too_many_redirects(service, url)


# aiohttp's exceptions reach `runtime.errors.error_from_exception` from anywhere (probes, the CLI, the service):
# this module brings aiohttp, so it tells the core how to read them.
register_library_errors("aiohttp", lambda exc, service: map_transport_error(exc, service=service))
