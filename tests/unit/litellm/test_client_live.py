"""TextJobClient against the real LiteLLM proxy: health, models, streaming, batching, cancel
(the text tasks' outputs are tested in tests/unit/workflows/text)."""

from __future__ import annotations

import asyncio

import pytest
from genbridge.runtime.errors import Cancelled
from genbridge.runtime.events import BackendLog, BackendProgress, BackendText
from genbridge.runtime.jobs import Job
from genbridge.standins.litellm_proxy import MOCK_LONG_TEXT, MOCK_TEXT, free_port


async def test_probe_reports_the_proxy_and_its_models(make_client) -> None:
    result = await make_client().probe()
    assert result.reachable and result.error is None
    assert "llama3" in result.models["text"] and result.capabilities["litellm"]


async def test_probe_of_a_stopped_server_is_unreachable_not_an_exception(make_client) -> None:
    result = await make_client(url=f"http://127.0.0.1:{free_port()}").probe()
    assert not result.reachable and result.error is not None and result.error.code == "unreachable"


@pytest.mark.parametrize("suffix", ["", "/v1", "/v1/"])
async def test_base_url_works_with_or_without_v1(make_client, run_job, text_of, suffix) -> None:
    events = await run_job(make_client(suffix=suffix), Job(task="text", inputs={"prompt": "hi", "model": "llama3"}))
    assert text_of(events) == MOCK_TEXT


async def test_streamed_tokens_arrive_in_batches_with_token_counts(make_client, run_job, text_of) -> None:
    client = make_client()
    events = await run_job(client, Job(task="text", inputs={"prompt": "hi", "model": "writer-mock"}))
    texts = [e for e in events if isinstance(e, BackendText)]
    phases = [e.phase for e in events if isinstance(e, BackendProgress)]
    assert text_of(events) == MOCK_LONG_TEXT
    # The proxy sends one chunk per 3 characters within milliseconds: far fewer events than chunks.
    assert 1 <= len(texts) < len(MOCK_LONG_TEXT) // 3
    assert phases[-1].startswith("Writing (") and phases[-1].endswith(" tokens)")
    assert client.llm.version == "1.108.7"


async def test_non_streaming_answer_is_one_text_event(make_client, run_job, text_of) -> None:
    events = await run_job(make_client(), Job(task="text", inputs={"prompt": "hi", "model": "llama3", "stream": False}))
    assert text_of(events) == MOCK_TEXT


async def test_without_a_model_the_first_listed_model_is_used(make_client, run_job, text_of) -> None:
    events = await run_job(make_client(), Job(task="text", inputs={"messages": [{"role": "user", "content": "x"}]}))
    assert text_of(events) == MOCK_TEXT  # llama3 is first in the proxy's list


async def test_a_proxy_fallback_answers_from_the_other_model(make_client, run_job, text_of) -> None:
    events = await run_job(make_client(), Job(task="text", inputs={"prompt": "hi", "model": "broken"}))
    assert text_of(events) == MOCK_TEXT
    notes = [e.message for e in events if isinstance(e, BackendLog)]
    assert notes == ["The model 'broken' failed; the proxy answered with 'llama3' instead."]


async def test_cancel_mid_stream_closes_it_at_once(make_client, litellm_proxy) -> None:
    client = make_client()
    job = Job(task="text", inputs={"prompt": "hi", "model": "upstream-trickle"})
    await client.submit(job)
    received: list[str] = []

    async def consume() -> None:
        async for event in client.events(job):
            if isinstance(event, BackendText):
                received.append(event.text)

    task = asyncio.create_task(consume())
    for _ in range(200):  # bounded: the first words arrive within a few hundred ms
        if received:
            break
        await asyncio.sleep(0.02)
    assert received, "no text arrived before the cancel"
    await client.cancel(job)
    with pytest.raises(Cancelled):
        await asyncio.wait_for(task, timeout=2)
    assert len(received) < 400 and not client._replies


async def test_unknown_inputs_are_reported_by_validate(make_client) -> None:
    problems = await make_client().validate(Job(task="text", inputs={"temperature": 5}))
    assert {p.field for p in problems} == {"inputs", "temperature"}


async def test_an_upstream_that_ignores_stream_still_delivers_its_text(make_client, run_job, text_of) -> None:
    # The proxy turns such an answer into one empty chunk; the client asks once more without streaming.
    events = await run_job(make_client(), Job(task="text", inputs={"prompt": "hi", "model": "upstream-nostream"}))
    assert text_of(events) == "Hello from the fake upstream."
    assert any(isinstance(e, BackendLog) and "without streaming" in e.message for e in events)
