"""Reading a streamed chat answer: SSE lines parsed and capped, tokens batched, the end checked.

An answer is complete only when a chunk carried a `finish_reason`; `[DONE]` or the end of the body without one
means it was cut off (a llama.cpp server ends a running answer with `[DONE]` when another request arrives), and
that is an error that keeps the text so far. Every line and the whole text are capped; the deadline bounds the
whole answer, not only the gaps. Loop thread only.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ...runtime.errors import ReplyTooLarge
from ..http import MB
from .errors import SERVICE, cap, error_from_stream_payload, incomplete_stream
from .models import ChatChunk
from .sse import DONE, LineTooLong, SSEParser

log = logging.getLogger("genbridge.litellm")

BATCH_WINDOW_S = 0.03  # tokens arriving within this window become one batch, so Blender is not flooded
MAX_SSE_LINE = 4 * MB  # an OpenAI chunk is a few hundred bytes


@dataclass
class StreamBatch:
    """Text that arrived within one batch window; `finish_reason` is set on the batch that ends the answer."""

    text: str
    tokens: int
    finish_reason: str | None = None


class SplitUTF8:
    """Rejoins characters a server split across tokens. llama.cpp's byte-level tokens can end inside a UTF-8
    character; llama-cpp-python then sends each half as a lone surrogate ("\\udcc3"), which Blender's text block
    stores as invalid UTF-8. The halves are turned back into bytes and decoded incrementally."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, piece: str) -> str:
        if piece.isascii() and not self._decoder.getstate()[0]:
            return piece  # the common case costs one check
        return self._decoder.decode(_to_bytes(piece))


def fix_utf8(text: str) -> str:
    """`text` with split characters rejoined and stray surrogates replaced (a whole, non-streamed answer)."""
    if text.isascii():
        return text
    return _to_bytes(text).decode("utf-8", "replace")


def _to_bytes(piece: str) -> bytes:
    try:
        return piece.encode("utf-8", "surrogateescape")  # U+DC80..U+DCFF are the raw bytes they stand for
    except UnicodeEncodeError:
        return piece.encode("utf-8", "replace")  # any other lone surrogate is not text


async def read_stream(
    content: Any, *, server: str, model: str, end_at: float, reply_limit: int
) -> AsyncIterator[StreamBatch]:
    """Batches of streamed text from an aiohttp body (`content`) until the answer ends; `end_at` is a time on the
    running loop's clock. Raises ServerError (cut off, error line), ReplyTooLarge, or TimeoutError at `end_at`."""
    loop = asyncio.get_running_loop()
    parser = SSEParser(min(MAX_SSE_LINE, reply_limit))
    utf8 = SplitUTF8()
    pending: list[str] = []
    pending_since = 0.0
    tokens = total_chars = 0
    finish: str | None = None

    while True:
        if pending and loop.time() - pending_since >= BATCH_WINDOW_S:
            yield StreamBatch("".join(pending), tokens)
            pending.clear()
        wake = min(end_at, pending_since + BATCH_WINDOW_S) if pending else end_at
        window = asyncio.timeout_at(wake)
        try:
            async with window:
                chunk = await content.readany()
        except TimeoutError:
            if not window.expired() or wake >= end_at:
                raise
            continue  # the batch window closed with no new bytes: flush at the top of the loop
        try:
            payloads = parser.feed(chunk) if chunk else parser.close()
        except LineTooLong as exc:
            if pending:
                yield StreamBatch("".join(pending), tokens)
            raise ReplyTooLarge(
                f"{cap(server)} sent a stream line larger than the {exc.limit // MB} MB limit; "
                "GenBridge stopped reading (the text so far is kept).",
                service=SERVICE,
            ) from None
        done = False
        for data in payloads:
            if data == DONE:
                done = True
                break
            try:
                parsed = ChatChunk.model_validate_json(data)
            except ValidationError:
                try:  # pydantic's parser refuses the lone surrogates llama-cpp-python sends for split characters
                    parsed = ChatChunk.model_validate(json.loads(data))
                except (ValueError, RecursionError, ValidationError):
                    log.warning("skipping an unreadable stream line from %s: %.200s", server, data)
                    continue
            if parsed.error is not None:
                if pending:
                    yield StreamBatch("".join(pending), tokens)
                    pending.clear()
                raise error_from_stream_payload(parsed.error, server=server, model=model, received=tokens)
            piece = utf8.feed(parsed.text) if parsed.text else ""
            if piece:
                if not pending:
                    pending_since = loop.time()
                pending.append(piece)
                tokens += 1
                total_chars += len(piece)
                if total_chars > reply_limit:
                    yield StreamBatch("".join(pending), tokens)
                    raise ReplyTooLarge(
                        f"The answer from '{model}' passed the {reply_limit // MB} MB limit for "
                        "streamed text; GenBridge stopped reading (the text so far is kept).",
                        "Ask for less text (max tokens), or raise reply_limit_mb in the settings.",
                        service=SERVICE,
                    )
            finish = parsed.finish_reason or finish
        if done or not chunk:
            yield StreamBatch("".join(pending), tokens, finish)
            if finish is None:
                raise incomplete_stream(server, model, tokens, finished_by_server=done)
            return
