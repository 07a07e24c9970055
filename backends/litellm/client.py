"""LiteLLM (and any OpenAI-compatible server) over plain aiohttp: transport only (health, models, chat calls).

The `litellm` package is never imported: the proxy speaks the OpenAI API, so a POST plus an SSE parser is all
Blender needs (and the same client then works with Ollama's /v1, LM Studio, llama.cpp's server and vLLM).
Building film prompts and reading shot lists is not done here: `workflows/text/` prepares the request body and
reads the answer; this module sends it and hands back text.

Safety: every request has a total deadline (not only a gap timeout); JSON replies are read size-capped; every SSE
line and the whole streamed text are capped; redirects are never followed by aiohttp, each hop passes
`runtime.netpolicy.follow_redirect` and the key is only sent to the configured origin. Every error carries the
endpoint (`err.endpoint`, the URL without user info).

Thread rule: loop thread only (one client per endpoint, shared by its jobs). The idle keep-alive (4 s) is shorter
than uvicorn's 5 s, and an idempotent GET is retried once on a dropped pooled connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError

from ...runtime.backend import ProbeResult
from ...runtime.errors import GenBridgeError, IncompatibleServer, ServerError, ServiceTimeout
from ...runtime.netpolicy import MAX_REDIRECTS, REDIRECT_STATUSES, ensure_allowed, follow_redirect, redact_url
from ...runtime.settings import Endpoint, Settings
from ..http import MB, decode_json, read_capped, read_json_capped
from .errors import (
    SERVICE,
    cap,
    error_from_response,
    error_from_transport,
    retry_after_seconds,
    unknown_model,
)
from .models import ChatCompletion, ModelList
from .stream import StreamBatch, fix_utf8, read_stream
from .wire import Wire

log = logging.getLogger("genbridge.litellm")

KEEPALIVE_S = 4.0  # below uvicorn's 5 s idle close
MAX_RETRY_WAIT_S = 3.0  # a 429 asking for a longer wait is reported to the user instead of waited out
_DROPPED = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


def split_base_url(url: str) -> tuple[str, str]:
    """(server root for /health, OpenAI API base ending in /v1) from a URL given with or without /v1."""
    root = url.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root, root + "/v1"


@dataclass
class ChatReply:
    """An open 200 answer to a chat request; read it with `LiteLLMClient.stream` or `.whole`, or `finish()` it."""

    response: aiohttp.ClientResponse | None  # a stream to read; None for a whole answer already in `body`
    model: str
    note: str = ""  # e.g. "the proxy answered from a fallback model"
    on_finish: Callable[[], None] | None = None
    body: bytes = b""

    def finish(self) -> None:
        """Release the connection (closed when half-read, so it never returns to the pool) and end the call."""
        if self.response is not None:
            if self.response.content.at_eof():
                self.response.release()
            else:
                self.response.close()
        done, self.on_finish = self.on_finish, None
        if done is not None:
            done()


class LiteLLMClient:
    """One LiteLLM proxy or OpenAI-compatible server: requests, streams and errors, nothing about films."""

    service = SERVICE

    def __init__(self, endpoint: Endpoint, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.root, self.api = split_base_url(endpoint.url)
        self.server = f"the text server at {endpoint.name}"
        self.version = ""
        self.is_litellm: bool | None = None
        self.reply_limit = settings.reply_limit_mb * MB
        self.clock = clock
        self._origin = _origin(self.root)
        self._session: aiohttp.ClientSession | None = None
        self._models: list[str] | None = None
        self._calls = 0  # chat calls in flight (sent, being answered): the health probe leaves the server alone
        self._last_probe: ProbeResult | None = None
        self._allowed: set[str] = set()  # URLs that passed the host rule (settings are fixed per client)
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._wire = Wire()  # non-streamed chat answers (lean, kept-alive)

    # -- plumbing ---------------------------------------------------------------------------------------------------
    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S, limit=16)
            # No cookie jar and no auto headers to compute: less work per call (issue 19.2).
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
            )
        return self._session

    def _headers(self, url: str, auth: bool = True) -> dict[str, str]:
        key = self.endpoint.api_key
        # A redirect to another origin never gets the key.
        if key and auth and _origin(url) == self._origin:
            return {"Authorization": f"Bearer {key}"}
        return {}

    def _timeout(self, total: float | None) -> aiohttp.ClientTimeout:
        # sock_read bounds the time to the first byte and every gap between streamed chunks; `total` the whole call.
        t = self.settings.timeouts
        return aiohttp.ClientTimeout(total=total, connect=t.connect, sock_connect=t.connect, sock_read=t.request)

    def _note_headers(self, headers: Any) -> None:
        version = headers.get("x-litellm-version")
        if version:
            self.version, self.is_litellm = version, True

    def tag(self, err: GenBridgeError) -> GenBridgeError:
        """Every error names its endpoint (without user info) for logs, the journal and the UI."""
        err.endpoint = redact_url(self.endpoint.url)  # type: ignore[attr-defined]
        return err

    async def _send(
        self, method: str, url: str, *, body: bytes | None = None, auth: bool = True, total: float | None
    ) -> aiohttp.ClientResponse:
        """One request with redirects followed by hand (each hop checked); returns the open final response."""
        for _hop in range(MAX_REDIRECTS + 1):
            if url not in self._allowed:  # the host rule depends only on the URL: checked once per URL
                ensure_allowed(url, self.settings.allow_online, service="LiteLLM")
                self._allowed.add(url)
            headers = self._headers(url, auth)
            if body is not None:
                headers["Content-Type"] = "application/json"
            timeout = self._timeouts.get(total)
            if timeout is None:
                timeout = self._timeouts[total] = self._timeout(total)
            resp = await self._session_for_loop().request(
                method, url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            )
            self._note_headers(resp.headers)
            if resp.status not in REDIRECT_STATUSES:
                return resp
            location = resp.headers.get("Location")
            resp.release()
            if method != "GET" and resp.status not in (307, 308):
                raise IncompatibleServer(
                    f"{cap(self.server)} redirected the chat request ({resp.status}) in a way that would drop it.",
                    "Point GenBridge at the server's final address.",
                    service=SERVICE,
                )
            url = follow_redirect(url, location, self.settings.allow_online, service="LiteLLM")
        raise IncompatibleServer(
            f"{cap(self.server)} redirected more than {MAX_REDIRECTS} times (a redirect loop).",
            "Point GenBridge at the server's final address.",
            service=SERVICE,
        )

    async def get_json(self, url: str, *, auth: bool = True, what: str) -> tuple[int, Any, Any]:
        """GET under one total deadline, JSON read size-capped; one retry when a pooled connection was dropped."""
        total = self.settings.timeouts.request
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(total):
                    resp = await self._send("GET", url, auth=auth, total=total)
                    try:
                        if resp.status != 200:
                            return (
                                resp.status,
                                resp.headers,
                                await read_capped(resp, self.reply_limit, service="LiteLLM", what=what),
                            )
                        return (
                            resp.status,
                            resp.headers,
                            await read_json_capped(resp, self.reply_limit, service="LiteLLM", what=what),
                        )
                    finally:
                        resp.release()
            except _DROPPED as exc:
                if attempt == 2:
                    raise self.tag(
                        error_from_transport(exc, server=self.server, url=self._shown, during="asking")
                    ) from None
                log.debug("retrying GET %s after a dropped pooled connection: %r", url, exc)
            except GenBridgeError as exc:
                raise self.tag(exc) from None
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise self.tag(
                    error_from_transport(exc, server=self.server, url=self._shown, during="asking")
                ) from None
        raise AssertionError("unreachable")

    @property
    def _shown(self) -> str:
        return redact_url(self.root)

    # -- discovery --------------------------------------------------------------------------------------------------
    async def list_models(self, *, refresh: bool = False) -> list[str]:
        """Model ids from GET /v1/models (cached until `refresh`)."""
        if self._models is not None and not refresh:
            return self._models
        status, headers, data = await self.get_json(f"{self.api}/models", what="model list")
        if status != 200:
            raise self.tag(error_from_response(status, headers, data, server=self.server, sent_key=self._has_key))
        try:
            self._models = [m.id for m in ModelList.model_validate(data).data]
        except ValidationError:
            raise self.tag(error_from_response(404, headers, b"", server=self.server)) from None
        return self._models

    @property
    def _has_key(self) -> bool:
        return bool(self.endpoint.api_key)

    async def unknown_model_error(self, model: str, detail: str = "") -> GenBridgeError:
        """The unknown-model error with the server's model list in it (fetched now when not known yet)."""
        models = self._models
        if models is None:
            try:
                models = await self.list_models(refresh=True)
            except GenBridgeError:
                models = None
        return self.tag(unknown_model(self.server, model, models, detail=detail))

    async def probe(self, *, check_model: str | None = None) -> ProbeResult:
        """Liveliness and readiness (never /health, which calls every model), then the model list; see
        `health.probe` (it leaves the server alone while a chat call runs on it)."""
        from .health import probe

        result = await probe(self, check_model)
        self._last_probe = result
        return result

    # -- chat -------------------------------------------------------------------------------------------------------
    async def open_chat(
        self, body: dict[str, Any], *, deadline: float, cancelled: Callable[[], bool] = bool
    ) -> ChatReply:
        """POST the chat request; the open 200 answer, or the mapped error (errors before the first chunk)."""
        url = f"{self.api}/chat/completions"
        raw_body = json.dumps(body).encode()
        model = str(body.get("model", ""))
        self._calls += 1  # from before the request is sent: llama.cpp is busy as soon as it has the prompt
        try:
            reply = await self._open_chat(url, raw_body, model, deadline, cancelled, bool(body.get("stream")))
        except BaseException:
            self._calls -= 1
            raise
        reply.on_finish = self._call_done
        return reply

    def _call_done(self) -> None:
        self._calls -= 1

    async def _open_chat(
        self, url: str, raw_body: bytes, model: str, deadline: float, cancelled: Callable[[], bool], stream: bool
    ) -> ChatReply:
        headers: Mapping[str, str]
        for attempt in (1, 2):
            try:
                async with asyncio.timeout_at(self._loop_deadline(deadline)):
                    if not stream:
                        status, headers, raw = await self._post_whole(url, raw_body)
                        if status == 200:
                            return ChatReply(None, model, _fallback_note(headers, model), body=raw)
                    else:
                        resp = await self._send("POST", url, body=raw_body, total=None)
                        status, headers = resp.status, resp.headers
                        if status == 200:
                            return ChatReply(resp, model, _fallback_note(headers, model))
                        try:
                            raw = await read_capped(resp, self.reply_limit, service="LiteLLM", what="error reply")
                        except (TimeoutError, aiohttp.ClientError):
                            raw = b""
                        finally:
                            resp.release()
            except GenBridgeError as exc:
                raise self.tag(exc) from None
            except (TimeoutError, aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
                if isinstance(exc, TimeoutError) and self.clock() >= deadline:
                    raise self.tag(self._too_slow(model)) from None
                raise self.tag(
                    error_from_transport(exc, server=self.server, url=self._shown, during="sending the request")
                ) from None
            error = error_from_response(status, headers, raw, server=self.server, model=model, sent_key=self._has_key)
            if error.code == "unknown_model":
                raise await self.unknown_model_error(model, error.detail)
            wait = retry_after_seconds(headers) if status == 429 else None
            if attempt == 1 and wait is not None and wait <= MAX_RETRY_WAIT_S and not cancelled():
                log.info("rate-limited by %s, retrying once in %.1f s as the server asked", self.server, wait)
                await asyncio.sleep(wait)
                continue
            raise self.tag(error)
        raise AssertionError("unreachable")

    async def _post_whole(self, url: str, raw_body: bytes) -> tuple[int, dict[str, str], bytes]:
        """A non-streamed chat call over the lean wire (issue 19.2), redirects followed by hand like `_send`."""
        for _hop in range(MAX_REDIRECTS + 1):
            if url not in self._allowed:
                ensure_allowed(url, self.settings.allow_online, service="LiteLLM")
                self._allowed.add(url)
            headers = self._headers(url)
            headers["Content-Type"] = "application/json"
            reply = await self._wire.request(
                "POST",
                url,
                headers,
                raw_body,
                limit=self.reply_limit,
                connect_s=self.settings.timeouts.connect,
                first_byte_s=self.settings.timeouts.request,
            )
            self._note_headers(reply.headers)
            if reply.status not in REDIRECT_STATUSES:
                return reply.status, reply.headers, reply.body
            if reply.status not in (307, 308):
                raise IncompatibleServer(
                    f"{cap(self.server)} redirected the chat request ({reply.status}) in a way that would drop it.",
                    "Point GenBridge at the server's final address.",
                    service=SERVICE,
                )
            url = follow_redirect(url, reply.headers.get("location"), self.settings.allow_online, service="LiteLLM")
        raise IncompatibleServer(
            f"{cap(self.server)} redirected more than {MAX_REDIRECTS} times (a redirect loop).",
            "Point GenBridge at the server's final address.",
            service=SERVICE,
        )

    def _loop_deadline(self, deadline: float) -> float:
        """`deadline` (on self.clock) as a time on the running loop's clock."""
        return asyncio.get_running_loop().time() + max(0.0, deadline - self.clock())

    def deadline(self, total: float | None = None) -> float:
        """A total deadline for one answer, on `self.clock` (settings.timeouts.text by default)."""
        return self.clock() + (total if total is not None else self.settings.timeouts.text)

    async def whole(self, reply: ChatReply, *, deadline: float) -> tuple[str, str | None]:
        """(text, finish_reason) of a non-streamed answer, read size-capped before the deadline."""
        try:
            resp = reply.response
            if resp is None:
                data = decode_json(reply.body, service="LiteLLM", what="answer")
            else:
                async with asyncio.timeout_at(self._loop_deadline(deadline)):
                    data = await read_json_capped(resp, self.reply_limit, service="LiteLLM", what="answer")
            completion = ChatCompletion.model_validate(data)
        except ValidationError:
            raise self.tag(
                ServerError(
                    f"{cap(self.server)} sent an answer GenBridge cannot read.",
                    service=SERVICE,
                    detail=json.dumps(data)[:2000],
                )
            ) from None
        except GenBridgeError as exc:
            raise self.tag(exc) from None
        except TimeoutError:
            raise self.tag(self._too_slow(reply.model)) from None
        finally:
            reply.finish()
        choice = completion.choices[0] if completion.choices else None
        return fix_utf8(completion.text), choice.finish_reason if choice else None

    def _too_slow(self, model: str) -> ServiceTimeout:
        return ServiceTimeout(
            f"The answer from '{model}' on {self.server} took longer than the {self.settings.timeouts.text:g} s "
            "allowed for one answer (the text so far is kept).",
            "Raise the text timeout (text --timeout, or [timeouts] text in genbridge.toml), or ask for less text.",
            service=SERVICE,
        )

    async def stream(self, reply: ChatReply, *, deadline: float) -> AsyncIterator[StreamBatch]:
        """The streamed answer in batches of ~30 ms; raises when it ends without a `finish_reason`, passes a cap,
        reports an error line, or runs past `deadline` (the text already yielded is kept by the caller)."""
        try:
            assert reply.response is not None, "a streamed chat call has an open response"
            async for batch in read_stream(
                reply.response.content,
                server=self.server,
                model=reply.model,
                end_at=self._loop_deadline(deadline),
                reply_limit=self.reply_limit,
            ):
                yield batch
        except GenBridgeError as exc:
            raise self.tag(exc) from None
        except TimeoutError:
            raise self.tag(self._too_slow(reply.model)) from None
        except (aiohttp.ClientError, OSError) as exc:
            during = "receiving the answer"
            raise self.tag(error_from_transport(exc, server=self.server, url=self._shown, during=during)) from None
        finally:
            reply.finish()  # a half-read stream is closed, never returned to the pool

    async def complete(self, messages: list[dict[str, str]], model: str, **params: Any) -> str:
        """One non-streaming chat call (benchmarks, quick checks): the answer's text."""
        deadline = self.deadline()
        reply = await self.open_chat(
            {"model": model, "messages": messages, "stream": False, **params}, deadline=deadline
        )
        text, _ = await self.whole(reply, deadline=deadline)
        return text

    async def close(self) -> None:
        """Close the session (and with it any open stream)."""
        self._wire.close()
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or "").lower(), port or (443 if parts.scheme == "https" else 80)


def _fallback_note(headers: Any, model: str) -> str:
    """What to tell the user when the proxy answered from a fallback model group (x-litellm-* headers)."""
    if headers.get("x-litellm-attempted-fallbacks", "0") in ("", "0"):
        return ""
    group = headers.get("x-litellm-model-group") or "another model"
    return f"The model '{model}' failed; the proxy answered with '{group}' instead."
