"""WanGP (WanGP) backend: its MCP server over streamable HTTP, contracts v1 / late v1 / v2, one job at a time."""

from .client import Wan2GPClient

__all__ = ["Wan2GPClient"]
