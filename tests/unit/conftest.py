"""Fixtures shared across test folders: the real LiteLLM proxy (started only when a test asks for it) and text-job
clients bound to it (`backends/litellm` and `workflows/text` tests both use them)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from genbridge.runtime.events import BackendText
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings, Timeouts
from genbridge.standins.litellm_proxy import LiteLLMProxy, start_litellm_proxy
from genbridge.workflows.text.jobs import TextJobClient


@pytest.fixture(scope="session")
def litellm_proxy() -> Any:
    """Start `litellm --config ...` once per session (mock models + a tiny fake upstream); stopped by pid."""
    proxy = start_litellm_proxy(ready_timeout=120)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
async def make_client(litellm_proxy: LiteLLMProxy, tmp_path: Any) -> AsyncIterator[Callable[..., TextJobClient]]:
    """Clients bound to the proxy (key, URL suffix and timeouts adjustable), closed after the test."""
    made: list[TextJobClient] = []

    def factory(
        *, key: str | None = "master", suffix: str = "", request_timeout: float = 30.0, url: str | None = None
    ) -> TextJobClient:
        secret = litellm_proxy.master_key if key == "master" else key
        endpoint = Endpoint(service="litellm", url=(url or litellm_proxy.url) + suffix, key=secret)
        settings = Settings(timeouts=Timeouts(connect=3.0, request=request_timeout), output_dir=str(tmp_path / "out"))
        client = TextJobClient(endpoint, settings)
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.close()


async def run_text_job(client: TextJobClient, job: Job) -> list[Any]:
    """validate + submit + drain events, returning the events (raises what the client raises)."""
    assert await client.validate(job) == []
    await client.submit(job)
    return [event async for event in client.events(job)]


def joined_text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, BackendText))


@pytest.fixture
def run_job() -> Callable[..., Any]:
    return run_text_job


@pytest.fixture
def text_of() -> Callable[[list[Any]], str]:
    return joined_text
