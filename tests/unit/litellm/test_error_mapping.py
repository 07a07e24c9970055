"""Captured proxy answers map to errors a Blender user can act on (the same cases run live in test_errors_live)."""

from __future__ import annotations

from typing import Any

import pytest
from genbridge.backends.litellm.errors import error_from_response
from genbridge.runtime.errors import (
    AuthError,
    IncompatibleServer,
    RateLimited,
    RejectedInput,
    ServerError,
    ServiceTimeout,
)
from genbridge.standins.fixtures import load_fixture


def _map(name: str, **kw: Any):
    fx = load_fixture("litellm", name)
    body = fx.get("response_body")
    raw = fx.get("response_body_raw") or ("".join(fx.get("sse_raw_lines") or []))
    data = (raw if body is None else __import__("json").dumps(body)).encode()
    headers = {k.lower(): v for k, v in fx["response_headers"].items()}
    return error_from_response(fx["status"], headers, data, server="the proxy", model="m", **kw)


@pytest.mark.parametrize(
    ("fixture", "kind", "kw"),
    [
        ("09_wrong_key.json", AuthError, {}),
        ("09b_no_key.json", AuthError, {"sent_key": False}),
        ("p2_09b_no_key.json", AuthError, {"sent_key": False}),
        ("10_unknown_model.json", RejectedInput, {}),
        ("13_timeout_model.json", ServiceTimeout, {}),
        ("11_error_model_nofallback.json", ServerError, {}),
        ("p2_18_midstream_error_stream.json", ServerError, {}),
        ("16_get_on_chat.json", IncompatibleServer, {}),
        ("15_malformed_json.json", RejectedInput, {}),
    ],
)
def test_captured_error_maps_to_its_class(fixture: str, kind: type, kw: dict[str, Any]) -> None:
    error = _map(fixture, **kw)
    assert type(error) is kind
    assert error.hint and "sk-" not in error.message


def test_upstream_retry_after_is_read_from_the_provider_header() -> None:
    error = _map("p2_20_upstream_429.json")
    assert isinstance(error, RateLimited) and error.retry_after == 7
    assert "7 s" in error.hint


def test_router_cooldown_retry_after_is_read_from_the_plain_header() -> None:
    error = _map("p3_31_rl_pool_attempt3.json")
    assert isinstance(error, RateLimited) and error.retry_after == 7
    assert "cooling down" in error.message


def test_server_messages_lose_the_routing_epilogue() -> None:
    error = _map("11_error_model_nofallback.json")
    assert "Fallbacks are configured" not in error.message
    assert "Fallbacks are configured" in error.detail
