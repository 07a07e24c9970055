"""JSON-RPC 2.0 over plain aiohttp for WanGP's stateless MCP server: one POST per call, no MCP SDK.

The server (mcp 1.10 in WanGP 12.x) redirects `/mcp` -> `/mcp/` with a 307 (aiohttp re-POSTs the body), demands
`Accept: application/json, text/event-stream` (else 406), and reports tool failures as HTTP 200 with `isError`.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ...runtime.errors import (
    AuthError,
    IncompatibleServer,
    ServerError,
    ServiceTimeout,
    Unreachable,
)
from ...runtime.netpolicy import ensure_allowed
from ...runtime.settings import Endpoint, Settings

log = logging.getLogger("genbridge.wan2gp")

SERVICE = "Wan2GP"
PROTOCOL_VERSION = "2025-06-18"
START_HINT = (
    "Start WanGP's MCP server, e.g. `python wgp.py --mcp --mcp-transport streamable-http --mcp-host 127.0.0.1 "
    "--mcp-port 7866` (13.x: add `--mcp-api-version 2 --mcp-async`), and set its URL (ending in /mcp) in GenBridge."
)


class ToolError(ServerError):
    """A tool answered `isError: true`; `tool` names it and `text` is the server's message without the prefix."""

    def __init__(self, tool: str, text: str) -> None:
        prefix = f"Error executing tool {tool}: "
        self.tool = tool
        self.text = text[len(prefix) :] if text.startswith(prefix) else text
        super().__init__(f"Wan2GP refused {tool}: {self.text}", service="wan2gp", detail=text)


def unwrap_structured(result: dict[str, Any]) -> Any:
    """The tool's value: `structuredContent` (a lone {"result": ...} unwrapped), else the JSON text block(s)."""
    if "structuredContent" in result:
        value = result["structuredContent"]
        if isinstance(value, dict) and set(value) == {"result"}:
            return value["result"]
        return value
    texts = [c.get("text", "") for c in result.get("content", []) if c.get("type") == "text"]
    if not texts:
        return None
    try:
        parsed = [json.loads(t) for t in texts]
    except json.JSONDecodeError:
        return texts[0]
    return parsed[0] if len(parsed) == 1 else parsed


class McpRpc:
    """One endpoint's JSON-RPC channel; the aiohttp session is created on first use on the loop thread."""

    def __init__(self, endpoint: Endpoint, settings: Settings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.url = endpoint.url
        parts = urlsplit(self.url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None

    def headers(self, *, json_body: bool = True) -> dict[str, str]:
        """Headers for every request; the bearer token (13.x --mcp-auth) also goes on transfers."""
        headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": PROTOCOL_VERSION}
        if json_body:
            headers["Content-Type"] = "application/json"
        key = self.endpoint.api_key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeouts = self.settings.timeouts
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeouts.request, connect=timeouts.connect)
            )
        return self._session

    def resolve(self, relative_url: str) -> str:
        """Transfer URLs are relative to the server origin; refuse anything that leaves it."""
        if not relative_url.startswith("/wangp_api/gallery/") or ".." in relative_url:
            raise IncompatibleServer(f"Wan2GP gave an unexpected transfer URL '{relative_url}'.", service="wan2gp")
        return self.origin + relative_url

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One JSON-RPC request; returns `result` or raises a GenBridgeError saying what to do."""
        ensure_allowed(self.url, self.settings.allow_online, service=SERVICE)
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or {}}
        try:
            async with self.session().post(self.url, json=body, headers=self.headers()) as resp:
                text = await resp.text()
                status = resp.status
        except TimeoutError:
            raise ServiceTimeout(
                f"Wan2GP at {self.endpoint.name} did not answer {method} in time.", service="wan2gp"
            ) from None
        except aiohttp.ClientConnectionError as exc:
            raise Unreachable(
                f"Could not reach Wan2GP at {self.endpoint.name}.", START_HINT, service="wan2gp", detail=repr(exc)
            ) from None
        except aiohttp.ClientError as exc:
            raise ServerError(
                f"Wan2GP at {self.endpoint.name} broke the connection: {exc}.", service="wan2gp", detail=repr(exc)
            ) from None
        return self._parse(method, status, text)

    def _parse(self, method: str, status: int, text: str) -> Any:
        if status in (401, 403):
            raise AuthError(
                f"Wan2GP at {self.endpoint.name} refused the request ({status}).",
                "Set the WanGP MCP token (--mcp-auth) as the endpoint's key in GenBridge preferences.",
                service="wan2gp",
            )
        if status == 404:
            raise IncompatibleServer(f"No MCP server answers at {self.url}.", START_HINT, service="wan2gp")
        if status == 406:
            raise IncompatibleServer(
                f"Wan2GP at {self.endpoint.name} refused our request format (406).",
                START_HINT,
                service="wan2gp",
                detail=text[:500],
            )
        if status >= 500:
            raise ServerError(f"Wan2GP at {self.endpoint.name} failed ({status}).", service="wan2gp", detail=text[:500])
        if status >= 400:
            raise IncompatibleServer(
                f"Wan2GP at {self.endpoint.name} answered {status} to {method}.",
                START_HINT,
                service="wan2gp",
                detail=text[:500],
            )
        try:
            reply = json.loads(text) if text else {}
        except json.JSONDecodeError:
            raise IncompatibleServer(
                f"{self.url} did not answer with JSON: is it WanGP's MCP server?",
                START_HINT,
                service="wan2gp",
                detail=text[:500],
            ) from None
        if not isinstance(reply, dict):
            raise IncompatibleServer(f"{self.url} sent an unexpected reply.", START_HINT, service="wan2gp")
        if "error" in reply:
            err = reply["error"] or {}
            raise ServerError(
                f"Wan2GP rejected {method}: {err.get('message', err)}.", service="wan2gp", detail=json.dumps(err)[:500]
            )
        return reply.get("result")

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        """Call a tool; raise ToolError for `isError` replies (they arrive as HTTP 200)."""
        result = await self.call("tools/call", {"name": name, "arguments": arguments})
        if not isinstance(result, dict):
            raise IncompatibleServer(f"Wan2GP answered {name} without a result.", START_HINT, service="wan2gp")
        if result.get("isError"):
            texts = [c.get("text", "") for c in result.get("content", []) if c.get("type") == "text"]
            raise ToolError(name, " ".join(texts) or "unknown error")
        return unwrap_structured(result)

    async def list_tools(self) -> list[dict[str, Any]]:
        result = await self.call("tools/list")
        tools = result.get("tools") if isinstance(result, dict) else None
        if not isinstance(tools, list):
            raise IncompatibleServer(
                f"{self.url} listed no tools: is it WanGP's MCP server?", START_HINT, service="wan2gp"
            )
        return tools

    async def initialize(self) -> dict[str, Any]:
        """The MCP handshake (optional on the stateless server; used for the server info in probes)."""
        result = await self.call(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "genbridge", "version": "0.1"},
            },
        )
        return result if isinstance(result, dict) else {}

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
