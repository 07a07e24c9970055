"""Turn what an OpenAI-compatible server (above all the LiteLLM proxy) says on failure into GenBridge errors.

Branch on the HTTP status first, then on LiteLLM's `error.type`; bodies may be LiteLLM JSON, FastAPI
`{"detail": ...}` or plain text. Quirks of a database-less proxy: a wrong key is `400 no_db_connection`, a missing
key can be a plain-text 500. Messages never contain the key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ...runtime.errors import (
    AuthError,
    GenBridgeError,
    IncompatibleServer,
    RateLimited,
    RejectedInput,
    ServerError,
    ServiceTimeout,
    Unreachable,
)

SERVICE = "litellm"
KEY_HINT = (
    "Set the proxy's master key (or a virtual key) in GenBridge preferences > LiteLLM, "
    "or the GENBRIDGE_LITELLM_KEY environment variable."
)


def parse_error_body(body: bytes) -> tuple[str, str, dict[str, Any]]:
    """(message, type, raw error object) from any error body shape; plain text becomes the message."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return text, "", {}
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        return str(err.get("message") or ""), str(err.get("type") or ""), err
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"], "", data  # Ollama and llama.cpp style
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"]), "", data  # FastAPI framework errors (405...)
    return text, "", data if isinstance(data, dict) else {}


def short(message: str, limit: int = 220) -> str:
    """The first line of a server message, without LiteLLM's routing epilogue and exception prefixes."""
    first = message.strip().split("\n", 1)[0].strip()
    for prefix in ("litellm.", "RateLimitError: ", "APIError: ", "InternalServerError: ", "OpenAIException - "):
        while True:
            cut = first.find(prefix)
            if cut < 0 or cut > 40:
                break
            first = first[cut + len(prefix) :]
            if prefix == "litellm.":  # "litellm.RateLimitError: x" -> "x"
                first = first.split(": ", 1)[-1]
    return first[:limit].rstrip() + ("..." if len(first) > limit else "")


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` (router cooldown), else `llm_provider-retry-after` (forwarded from the upstream)."""
    for name in ("retry-after", "llm_provider-retry-after"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            continue  # an HTTP date: rare from these servers; fall through to a plain back-off
    return None


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    server: str,
    model: str = "",
    sent_key: bool = True,
    known_models: list[str] | None = None,
) -> GenBridgeError:
    """The GenBridge error for a non-2xx answer (also an error answered before the first streamed chunk)."""
    message, etype, _ = parse_error_body(body)
    detail = message[:2000]
    brief = short(message) or f"HTTP {status}"
    kw = {"service": SERVICE, "detail": detail}

    if status == 401 or etype in ("auth_error", "no_db_connection") or (status == 400 and "No connected db" in message):
        what = "refused the API key" if sent_key else "needs an API key and none is set"
        return AuthError(f"{cap(server)} {what}.", KEY_HINT, **kw)
    if status == 500 and not sent_key and etype == "" and message.lower().startswith("internal server error"):
        # A proxy without prisma answers a missing key with a bare plain-text 500.
        return AuthError(f"{cap(server)} failed without an API key (it probably needs one).", KEY_HINT, **kw)
    if status == 429:
        wait = retry_after_seconds(headers)
        when = f"in {wait:.0f} s" if wait is not None else "in a moment"
        cooldown = " (all its deployments are cooling down)" if etype == "all_deployments_in_cooldown" else ""
        return RateLimited(
            f"The model '{model}' is rate-limited{cooldown}: {brief}",
            f"Try again {when}, or pick another model.",
            retry_after=wait,
            **kw,
        )
    if status == 408:
        return ServiceTimeout(
            f"The model '{model}' took longer than {server} allows: {brief}",
            "Try a shorter request or a faster model, or raise the model's timeout in the proxy config.",
            **kw,
        )
    if _is_unknown_model(status, message):
        return unknown_model(server, model, known_models, detail=detail)
    if status in (404, 405) or (status == 400 and "detail" in body.decode("utf-8", "replace")[:20]):
        return IncompatibleServer(
            f"{cap(server)} does not offer the OpenAI chat API here (HTTP {status}: {brief}).",
            "Check the URL: it should be the server's base URL, e.g. http://127.0.0.1:4000 or http://127.0.0.1:11434/v1.",
            **kw,
        )
    if 400 <= status < 500:
        return RejectedInput(f"{cap(server)} rejected the request: {brief}", **kw)
    if _is_dead_upstream(message):
        return ServerError(
            f"The model '{model}' behind {server} is not answering (HTTP {status}): its model server is down or "
            f"unreachable from the proxy. {brief}",
            "Start the model's server (or fix its api_base in the proxy config), or pick another model.",
            **kw,
        )
    return ServerError(
        f"The model '{model}' on {server} failed (HTTP {status}): {brief}",
        "Look at the proxy's console or its model's server for the cause, then try again.",
        **kw,
    )


MODEL_HINT = (
    "Pick one of the listed models: on the command line with --model NAME or GENBRIDGE_TEXT_MODEL "
    "(text_model in genbridge.toml); in Blender in GenBridge preferences > LiteLLM > Text model."
)


def unknown_model(server: str, model: str, known_models: list[str] | None, *, detail: str = "") -> RejectedInput:
    """The server has no such model: the message lists the ones it has (fetched by the caller when needed)."""
    if known_models:
        shown = ", ".join(known_models[:20]) + (
            f" (and {len(known_models) - 20} more)" if len(known_models) > 20 else ""
        )
        choices = f" It has: {shown}."
    else:
        choices = " It lists no models."
    err = RejectedInput(
        f"{cap(server)} has no model named '{model}'.{choices}", MODEL_HINT, service=SERVICE, detail=detail
    )
    err.code = "unknown_model"
    return err


def _is_dead_upstream(message: str) -> bool:
    low = message.lower()
    return any(
        s in low
        for s in ("apiconnectionerror", "connection error", "connection refused", "cannot connect", "connecterror")
    )


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _is_unknown_model(status: int, message: str) -> bool:
    low = message.lower()
    return status in (400, 404) and (
        "invalid model name" in low or ("model" in low and ("not found" in low or "does not exist" in low))
    )


def incomplete_stream(server: str, model: str, received: int, *, finished_by_server: bool) -> ServerError:
    """The stream ended without a `finish_reason`: the answer is probably cut off, and the user is told so."""
    how = "ended ([DONE]) without saying the answer was finished" if finished_by_server else "broke off"
    got = f" after {received} tokens" if received else ""
    return ServerError(
        f"The answer from '{model}' on {server} {how}{got}; it is probably incomplete (the text so far is kept).",
        "Try again. A llama.cpp server ends a running answer when another request arrives: start it with "
        "--interrupt_requests False, or send it one request at a time.",
        service=SERVICE,
    )


def error_from_stream_payload(payload: Any, *, server: str, model: str, received: int) -> GenBridgeError:
    """A `data: {"error": ...}` line after the stream started: the answer broke off mid-way."""
    message = payload.get("message", "") if isinstance(payload, dict) else str(payload)
    code = str(payload.get("code", "")) if isinstance(payload, dict) else ""
    got = f" after {received} tokens (the text so far is kept)" if received else ""
    if code == "429":
        return RateLimited(f"The model '{model}' hit a rate limit mid-answer{got}.", service=SERVICE, detail=message)
    return ServerError(
        f"The model '{model}' failed mid-answer{got}: {short(message)}",
        "Try again; if it keeps failing, look at the proxy's console for the model server's error.",
        service=SERVICE,
        detail=message[:2000],
    )


def error_from_transport(exc: BaseException, *, server: str, url: str, during: str) -> GenBridgeError:
    """Connection refused, a dropped connection, or a client-side timeout, while `during` ("connecting"...)."""
    import asyncio

    if isinstance(exc, GenBridgeError):
        return exc
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return ServiceTimeout(
            f"{cap(server)} did not answer in time while {during}.",
            "The model may be loading or overloaded; try again, or raise the request timeout in GenBridge preferences.",
            service=SERVICE,
            detail=repr(exc),
        )
    import aiohttp

    if isinstance(exc, aiohttp.ClientError) and not isinstance(exc, aiohttp.ClientConnectorError):
        # Connected, but the answer was not HTTP (wrong port), was cut off, or the server hung up: say which.
        from ..http import map_transport_error

        return map_transport_error(exc, service=SERVICE, url=url)
    return Unreachable(
        f"Lost or could not open the connection to {server} ({url}) while {during}.",
        "Check that the LiteLLM proxy (or your OpenAI-compatible server) is running and the URL is right.",
        service=SERVICE,
        detail=repr(exc),
    )
