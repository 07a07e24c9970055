"""A pooled keep-alive socket the server already dropped: an idempotent GET is retried once on a new one.

The real proxy's idle close races with aiohttp's own detection, so this uses a raw loopback server that answers
exactly one request per connection and then hangs up on the next one, which makes the drop deterministic.
"""

from __future__ import annotations

import asyncio
import json

from genbridge.backends.litellm import LiteLLMClient
from genbridge.runtime.settings import Endpoint, Settings

MODELS = json.dumps({"object": "list", "data": [{"id": "m1", "object": "model"}]}).encode()


async def test_a_get_on_a_dropped_pooled_connection_is_retried_once() -> None:
    connections = 0

    async def one_answer_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(MODELS))
        writer.write(MODELS)
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # the reused connection's next request: hang up without answering
        writer.close()

    server = await asyncio.start_server(one_answer_per_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = LiteLLMClient(Endpoint(service="litellm", url=f"http://127.0.0.1:{port}"), Settings())
    try:
        assert await client.list_models(refresh=True) == ["m1"]
        assert await client.list_models(refresh=True) == ["m1"]
        assert connections == 2
    finally:
        await client.close()
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)
