"""The LiteLLM backend: plain-HTTP client for the LiteLLM proxy and any OpenAI-compatible server."""

from .client import LiteLLMClient

__all__ = ["LiteLLMClient"]
