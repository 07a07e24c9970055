"""Typed views of the OpenAI-compatible responses the client depends on, validated once at the edge.

Everything else a server sends is ignored (`extra="ignore"`), so LiteLLM, Ollama, LM Studio, llama.cpp and vLLM
answers all fit.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ModelEntry(_Lenient):
    id: str
    owned_by: str = ""


class ModelList(_Lenient):
    """GET /v1/models."""

    data: list[ModelEntry] = Field(default_factory=list)


class Message(_Lenient):
    role: str = "assistant"
    content: str | None = None


class Choice(_Lenient):
    index: int = 0
    message: Message = Field(default_factory=Message)
    finish_reason: str | None = None


class Usage(_Lenient):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletion(_Lenient):
    """A non-streaming POST /v1/chat/completions answer."""

    id: str = ""
    model: str = ""
    choices: list[Choice] = Field(default_factory=list)
    usage: Usage | None = None

    @property
    def text(self) -> str:
        return "".join(c.message.content or "" for c in self.choices[:1])


class Delta(_Lenient):
    role: str | None = None
    content: str | None = None


class ChunkChoice(_Lenient):
    index: int = 0
    delta: Delta = Field(default_factory=Delta)
    finish_reason: str | None = None


class ChatChunk(_Lenient):
    """One `data:` payload of a streamed answer; `error` is set when the server failed mid-stream."""

    id: str = ""
    model: str = ""
    choices: list[ChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None
    error: dict[str, Any] | str | None = None

    @property
    def text(self) -> str:
        return "".join(c.delta.content or "" for c in self.choices if c.index == 0)

    @property
    def finish_reason(self) -> str | None:
        return next((c.finish_reason for c in self.choices if c.finish_reason), None)


class ErrorBody(_Lenient):
    """LiteLLM's `{"error": {message, type, param, code}}` (code is the status as a string)."""

    message: str = ""
    type: str = ""
    param: Any = None
    code: Any = None
