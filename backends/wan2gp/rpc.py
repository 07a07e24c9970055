"""WanGP's tools over MCP: `tools/list`, `tools/call` and their results. Loop thread only.

Transport (reply forms, sessions, redirects, caps) lives in `mcp_http`; error mapping in `errors`. Tool failures
arrive as HTTP 200 with `isError: true` and become `ToolError`.
"""

from __future__ import annotations

import json
from typing import Any

from ...runtime.errors import IncompatibleServer
from .errors import START_HINT, ToolError, tag
from .mcp_http import PROTOCOL_VERSION, McpHttp

__all__ = ["PROTOCOL_VERSION", "START_HINT", "McpRpc", "ToolError", "unwrap_structured"]


def unwrap_structured(result: dict[str, Any]) -> Any:
    """The tool's value: `structuredContent` (a lone {"result": ...} unwrapped), else the JSON text block(s)."""
    if "structuredContent" in result:
        value = result["structuredContent"]
        if isinstance(value, dict) and set(value) == {"result"}:
            return value["result"]
        return value
    texts = [c.get("text", "") for c in result.get("content", []) if isinstance(c, dict) and c.get("type") == "text"]
    if not texts:
        return None
    try:
        parsed = [json.loads(t) for t in texts]
    except (json.JSONDecodeError, RecursionError):
        return texts[0]
    return parsed[0] if len(parsed) == 1 else parsed


class McpRpc(McpHttp):
    """One endpoint's MCP channel with the tool calls on top."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One JSON-RPC request (kept for callers of the old name)."""
        return await self.request(method, params)

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        """Call a tool; raise ToolError for `isError` replies (they arrive as HTTP 200)."""
        result = await self.request("tools/call", {"name": name, "arguments": arguments})
        if not isinstance(result, dict):
            raise tag(
                IncompatibleServer(f"WanGP answered {name} without a result.", START_HINT, service="wan2gp"),
                self.endpoint,
            )
        if result.get("isError"):
            content = result.get("content") or []
            texts = [c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"]
            raise tag(ToolError(name, " ".join(texts) or "unknown error"), self.endpoint)
        return unwrap_structured(result)

    async def list_tools(self) -> list[dict[str, Any]]:
        result = await self.request("tools/list")
        tools = result.get("tools") if isinstance(result, dict) else None
        if not isinstance(tools, list):
            raise tag(
                IncompatibleServer(
                    f"{self.endpoint.name} listed no tools: is it WanGP's MCP server?", START_HINT, service="wan2gp"
                ),
                self.endpoint,
            )
        return [t for t in tools if isinstance(t, dict)]
