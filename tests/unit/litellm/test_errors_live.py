"""Every mapped error, produced by the real LiteLLM proxy (and its fake upstream where an upstream is needed)."""

from __future__ import annotations

import asyncio

import pytest
from genbridge.backends.litellm import client as client_module
from genbridge.runtime.errors import (
    AuthError,
    RateLimited,
    RejectedInput,
    ServerError,
    ServiceTimeout,
    Unreachable,
)
from genbridge.runtime.events import BackendText
from genbridge.runtime.jobs import Job
from genbridge.standins.litellm_proxy import free_port


def _job(model: str, **inputs) -> Job:
    return Job(task="text", inputs={"prompt": "hi", "model": model, **inputs})


async def test_a_wrong_key_is_an_auth_error_not_a_bad_request(make_client, run_job) -> None:
    with pytest.raises(AuthError) as info:
        await run_job(make_client(key="sk-wrong-key-123"), _job("llama3"))
    assert "refused the API key" in info.value.message and "sk-wrong" not in str(info.value)


async def test_a_missing_key_plain_text_500_is_an_auth_error(make_client, run_job) -> None:
    with pytest.raises(AuthError) as info:
        await run_job(make_client(key=None), _job("llama3"))
    assert "GENBRIDGE_LITELLM_KEY" in info.value.hint


async def test_an_unknown_model_lists_the_available_ones(make_client, run_job) -> None:
    client = make_client()
    await client.list_models()
    with pytest.raises(RejectedInput) as info:
        await run_job(client, _job("no-such-model"))
    assert "no-such-model" in info.value.message and "llama3" in info.value.message


async def test_the_proxy_timeout_408_is_a_service_timeout(make_client, run_job) -> None:
    with pytest.raises(ServiceTimeout) as info:
        await run_job(make_client(), _job("timeouty", stream=False))
    assert "timeouty" in info.value.message


async def test_a_slow_model_is_cut_by_the_client_side_request_timeout(make_client, run_job) -> None:
    with pytest.raises(ServiceTimeout):
        await run_job(make_client(request_timeout=0.5), _job("slow", stream=False))


async def test_a_rate_limited_model_without_a_wait_hint_is_rate_limited(make_client, run_job) -> None:
    with pytest.raises(RateLimited) as info:
        await run_job(make_client(), _job("ratelimited"))
    assert info.value.retry_after is None and info.value.fallback_ok


async def test_the_upstreams_retry_after_reaches_the_user(make_client, run_job) -> None:
    # The proxy forwards the upstream's retry-after only as llm_provider-retry-after (7 s: too long to wait).
    with pytest.raises(RateLimited) as info:
        await run_job(make_client(), _job("upstream-429"))
    assert info.value.retry_after == 7 and "7 s" in info.value.hint


async def test_a_short_retry_after_is_waited_out_once(make_client, run_job, text_of, litellm_proxy) -> None:
    before = litellm_proxy.upstream.calls.get("rate-limit-once", 0)
    events = await run_job(make_client(), _job("upstream-429-once", stream=False))
    assert text_of(events) == "Hello from the fake upstream."
    assert litellm_proxy.upstream.calls["rate-limit-once"] == before + 2


async def test_a_5xx_without_fallback_is_a_server_error(make_client, run_job) -> None:
    with pytest.raises(ServerError) as info:
        await run_job(make_client(), _job("broken-nofallback"))
    assert info.value.fallback_ok and "Fallbacks are configured" not in info.value.message


async def test_an_error_before_the_first_chunk_is_raised_before_any_text(make_client, litellm_proxy) -> None:
    client = make_client()
    job = _job("midstream-error")
    await client.submit(job)
    texts = []
    with pytest.raises(ServerError) as info:
        async for event in client.events(job):
            if isinstance(event, BackendText):
                texts.append(event.text)
    assert texts == [] and "529" in info.value.message


async def test_an_error_mid_stream_keeps_the_text_so_far(make_client) -> None:
    client = make_client()
    job = _job("upstream-dies")
    await client.submit(job)
    texts = []
    with pytest.raises(ServerError) as info:
        async for event in client.events(job):
            if isinstance(event, BackendText):
                texts.append(event.text)
    # The fake upstream drops the connection right after "from ": whether that word reaches the proxy first races.
    assert "".join(texts) in ("Hello ", "Hello from ") and "".join(texts) == client.text_of(job)
    assert "mid-answer" in info.value.message and "kept" in info.value.message


async def test_a_stopped_server_is_unreachable(make_client, run_job) -> None:
    with pytest.raises(Unreachable):
        await run_job(make_client(url=f"http://127.0.0.1:{free_port()}"), _job("llama3"))


async def test_a_request_after_the_proxy_dropped_the_idle_socket_succeeds(make_client, monkeypatch) -> None:
    # Pool sockets longer than uvicorn's 5 s idle close, to provoke the dropped-connection path.
    monkeypatch.setattr(client_module, "KEEPALIVE_S", 30.0)
    client = make_client()
    assert "llama3" in await client.list_models(refresh=True)
    await asyncio.sleep(5.5)
    assert "llama3" in await client.list_models(refresh=True)


async def test_a_dead_model_server_behind_the_proxy_is_named_as_such(make_client, run_job) -> None:
    with pytest.raises(ServerError) as info:
        await run_job(make_client(), _job("upstream-down"))
    message = info.value.message
    assert "The model 'upstream-down' behind" in message and "is not answering" in message
    assert "while the model" not in message and "worked" not in message
