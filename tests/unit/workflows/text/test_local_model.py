"""The storyboard's shot list on the REAL local model (SmolLM2-135M-Instruct on llama-cpp-python's server) behind the
real LiteLLM proxy: structure is checked, never the text. `./dev setup` builds `.venvs/llm`; without it this fails
(it is what the main job runs on), with the reason.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from genbridge.runtime.events import BackendLog, BackendText
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings, Timeouts
from genbridge.standins.litellm_proxy import LOCAL_TEXT_MODEL, start_litellm_proxy
from genbridge.standins.local_llm import find_local_model, start_local_llm
from genbridge.storyboard.model import shots_from_shotlist
from genbridge.workflows.text.jobs import TextJobClient

LOGLINES = (
    "A robot learns to paint in an abandoned museum",
    "A lighthouse keeper finds a glowing message in a bottle during a storm",
)


@pytest.fixture(scope="module")
def local_stack() -> Any:
    """llama_cpp.server (interrupting requests, as it does by default) behind the real proxy."""
    model = find_local_model()
    assert not isinstance(model, str), f"the local model is not set up: {model}"
    with start_local_llm(interrupt_requests=True) as llm:
        with start_litellm_proxy(with_upstream=False, local_llm_url=llm.url) as proxy:
            yield llm, proxy


def _client(url: str, key: str | None, tmp_path: Any) -> TextJobClient:
    settings = Settings(timeouts=Timeouts(request=60.0, text=300.0), output_dir=str(tmp_path / "out"))
    return TextJobClient(Endpoint(service="litellm", url=url, key=key), settings)


async def _shotlist(client: TextJobClient, logline: str, tmp_path: Any) -> tuple[list[Any], list[str], str]:
    inputs = {"text_task": "shotlist", "variables": {"logline": logline, "shots": "3"}, "model": LOCAL_TEXT_MODEL}
    job = Job(task="shotlist", inputs=inputs)
    await client.submit(job)
    notes: list[str] = []
    text: list[str] = []
    async for event in client.events(job):
        if isinstance(event, BackendLog):
            notes.append(event.message)
        elif isinstance(event, BackendText):
            text.append(event.text)
    paths = await client.fetch_outputs(job, tmp_path / job.id)
    import json

    data = json.loads(paths[1].read_text(encoding="utf-8"))
    return shots_from_shotlist(data), notes, "".join(text)


async def test_the_local_model_writes_a_structured_shot_list_per_logline(local_stack, tmp_path) -> None:
    _, proxy = local_stack
    client = _client(proxy.url, proxy.master_key, tmp_path)
    try:
        results = [await _shotlist(client, logline, tmp_path) for logline in LOGLINES]
    finally:
        await client.close()
    for shots, notes, _ in results:
        assert 1 <= len(shots) <= 3
        assert all(s.description and s.duration > 0 and s.prompt.endswith(".") for s in shots)
        assert any(n.startswith("Shot list asked for with") for n in notes)  # says which structure was used
    # Different loglines give different shot lists (the mock would give the same one).
    assert [s.description for s in results[0][0]] != [s.description for s in results[1][0]]


async def test_a_health_probe_during_a_stream_does_not_cut_the_answer(local_stack, tmp_path) -> None:
    """llama.cpp's server (interrupt_requests on) ends a running answer when another request arrives: the client
    must not probe the endpoint while it streams, and an answer ended without finish_reason is an error."""
    llm, _ = local_stack
    client = _client(llm.url, None, tmp_path)
    inputs = {"prompt": "Tell a long story about a robot who paints.", "model": "any", "max_tokens": 120}
    job = Job(task="text", inputs={**inputs, "temperature": 0.8})
    await client.submit(job)
    await client.probe()
    probes = 0
    try:
        async for event in client.events(job):
            if isinstance(event, BackendText) and probes < 3:
                probes += 1
                await asyncio.wait_for(client.probe(), 5)  # what the health monitor would do
    finally:
        await client.close()
    assert probes >= 1 and len(client.text_of(job)) > 100  # ended with finish_reason "length", not cut short
