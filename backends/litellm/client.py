"""LiteLLM (and any OpenAI-compatible server) over plain aiohttp: health, models, streamed chat completions.

The `litellm` package is never imported: the proxy speaks the OpenAI API, so a POST plus an SSE parser is all
Blender needs (and the same client then works with Ollama's /v1, LM Studio, llama.cpp's server and vLLM).
Timeouts are explicit; the idle keep-alive (4 s) is shorter than uvicorn's 5 s so pooled sockets are never reused
after the proxy closed them, and an idempotent GET is retried once on a dropped connection anyway.

Job inputs (tasks "text", "shotlist", "prompt"): {"prompt": str} | {"messages": [...]} |
{"text_task": name, "variables": {...}}; optional "model", "temperature", "max_tokens", "stream" (default true).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import ValidationError

from ...runtime.backend import ProbeResult, Problem
from ...runtime.errors import Cancelled, GenBridgeError, RejectedInput, ServerError
from ...runtime.events import BackendEvent, BackendLog, BackendProgress, BackendText
from ...runtime.jobs import Job, JobErrorInfo
from ...runtime.netpolicy import ensure_allowed
from ...runtime.redact import redact
from ...runtime.settings import Endpoint, Settings
from .errors import SERVICE, error_from_response, error_from_stream_payload, error_from_transport, retry_after_seconds
from .models import ChatChunk, ChatCompletion, ModelList
from .sse import DONE, SSEParser

log = logging.getLogger("genbridge.litellm")

TEXT_JOB_TASKS = ("text", "shotlist", "prompt")
BATCH_WINDOW_S = 0.03  # tokens arriving within this window become one event, so Blender is not flooded
KEEPALIVE_S = 4.0  # below uvicorn's 5 s idle close
MAX_RETRY_WAIT_S = 3.0  # a 429 asking for a longer wait is reported to the user instead of waited out
_DROPPED = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


def split_base_url(url: str) -> tuple[str, str]:
    """(server root for /health, OpenAI API base ending in /v1) from a URL given with or without /v1."""
    root = url.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root, root + "/v1"


class LiteLLMClient:
    """One LiteLLM proxy or OpenAI-compatible server, shared by every text job on it."""

    service = SERVICE

    def __init__(self, endpoint: Endpoint, settings: Settings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.root, self.api = split_base_url(endpoint.url)
        self.server = f"the text server at {endpoint.name}"
        self.version = ""
        self.is_litellm: bool | None = None
        self._session: aiohttp.ClientSession | None = None
        self._models: list[str] | None = None
        self._requests: dict[str, dict[str, Any]] = {}
        self._responses: dict[str, aiohttp.ClientResponse] = {}
        self._texts: dict[str, list[str]] = {}
        self._cancelled: set[str] = set()

    # -- plumbing ---------------------------------------------------------------------------------------------------
    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S, limit=16)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    def _headers(self) -> dict[str, str]:
        key = self.endpoint.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _timeout(self) -> aiohttp.ClientTimeout:
        # sock_read bounds the time to the first byte and every gap between streamed chunks.
        t = self.settings.timeouts
        return aiohttp.ClientTimeout(total=None, connect=t.connect, sock_connect=t.connect, sock_read=t.request)

    def _note_headers(self, headers: Any) -> None:
        version = headers.get("x-litellm-version")
        if version:
            self.version, self.is_litellm = version, True

    async def _get(self, url: str, *, auth: bool = True) -> tuple[int, Any, bytes]:
        """GET with one retry when a pooled connection turns out to be dropped (GET is idempotent)."""
        ensure_allowed(url, self.settings.allow_online, service="LiteLLM")
        for attempt in (1, 2):
            try:
                async with self._session_for_loop().get(
                    url, headers=self._headers() if auth else {}, timeout=self._timeout()
                ) as resp:
                    body = await resp.read()
                    self._note_headers(resp.headers)
                    return resp.status, resp.headers, body
            except _DROPPED as exc:
                if attempt == 2:
                    raise error_from_transport(exc, server=self.server, url=self.root, during="asking") from None
                log.debug("retrying GET %s after a dropped pooled connection: %r", url, exc)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise error_from_transport(exc, server=self.server, url=self.root, during="asking") from None
        raise AssertionError("unreachable")

    # -- discovery --------------------------------------------------------------------------------------------------
    async def list_models(self, *, refresh: bool = False) -> list[str]:
        """Model ids from GET /v1/models (cached until `refresh`)."""
        if self._models is not None and not refresh:
            return self._models
        status, headers, body = await self._get(f"{self.api}/models")
        if status != 200:
            raise error_from_response(status, headers, body, server=self.server, sent_key=bool(self._headers()))
        try:
            self._models = [m.id for m in ModelList.model_validate_json(body).data]
        except ValidationError:
            raise error_from_response(404, headers, body, server=self.server) from None
        return self._models

    async def probe(self) -> ProbeResult:
        """Liveliness and readiness (never /health, which calls every model), then the model list."""
        started = time.perf_counter()
        base: dict[str, Any] = {"service": self.service, "url": self.endpoint.url, "label": self.endpoint.label}
        try:
            status, _, _ = await self._get(f"{self.root}/health/liveliness", auth=False)
            self.is_litellm = status == 200 or bool(self.version)
            if status == 200:
                ready, _, body = await self._get(f"{self.root}/health/readiness", auth=False)
                if ready != 200:
                    raise ServerError(
                        f"{cap(self.server)} is starting or shutting down (readiness {ready}).",
                        "Wait a few seconds and check again.",
                        service=SERVICE,
                        detail=body[:500].decode(),
                    )
            latency = (time.perf_counter() - started) * 1000
            models = await self.list_models(refresh=True)
        except GenBridgeError as exc:
            reachable = exc.code not in ("unreachable", "timeout", "online_access")
            return ProbeResult(
                **base,
                reachable=reachable,
                version=self.version,
                error=JobErrorInfo(**exc.to_dict()),
                checked_at=time.time(),
            )
        return ProbeResult(
            **base,
            reachable=True,
            version=self.version,
            latency_ms=latency,
            models={"text": models},
            capabilities={"chat": True, "streaming": True, "litellm": bool(self.is_litellm)},
            checked_at=time.time(),
        )

    # -- jobs -------------------------------------------------------------------------------------------------------
    async def validate(self, job: Job) -> list[Problem]:
        """Problems with the job's inputs, found before anything is sent."""
        problems: list[Problem] = []
        inputs = job.inputs
        if job.task not in TEXT_JOB_TASKS:
            problems.append(Problem(field="task", message=f"LiteLLM does text tasks, not '{job.task}'"))
        try:
            build_messages(job, self.settings.template_dirs)
        except GenBridgeError as exc:
            problems.append(Problem(field="inputs", message=exc.message.rstrip("."), hint=exc.hint))
        temperature = inputs.get("temperature")
        if temperature is not None and not (isinstance(temperature, int | float) and 0 <= temperature <= 2):
            problems.append(
                Problem(field="temperature", message="must be a number from 0 to 2", fix={"temperature": 0.7})
            )
        max_tokens = inputs.get("max_tokens")
        if max_tokens is not None and not (isinstance(max_tokens, int) and max_tokens > 0):
            problems.append(
                Problem(field="max_tokens", message="must be a positive whole number", fix={"max_tokens": 512})
            )
        return problems

    async def submit(self, job: Job) -> str:
        """Prepare the request (model chosen, messages rendered); the POST itself happens in `events`."""
        ensure_allowed(self.api, self.settings.allow_online, service="LiteLLM")
        messages, task = build_messages(job, self.settings.template_dirs)
        model = job.inputs.get("model") or self.settings.text_model
        if not model:
            models = await self.list_models()
            if not models:
                raise RejectedInput(f"{cap(self.server)} offers no models.", "Add a model to the proxy's config.")
            model = models[0]
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": bool(job.inputs.get("stream", True))}
        temperature = job.inputs.get("temperature", task.temperature if task else None)
        max_tokens = job.inputs.get("max_tokens", task.max_tokens if task else None)
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        self._requests[job.id] = body
        self._texts[job.id] = []
        self._cancelled.discard(job.id)
        return job.id  # chat completions have no server-side job; the call id is logged when it arrives

    async def _post(self, job: Job, body: dict[str, Any]) -> aiohttp.ClientResponse:
        """POST the chat request and return the open 200 response; errors before the first chunk are raised."""
        url = f"{self.api}/chat/completions"
        for attempt in (1, 2):
            try:
                resp = await self._session_for_loop().post(
                    url, json=body, headers=self._headers(), timeout=self._timeout()
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise error_from_transport(
                    exc, server=self.server, url=self.root, during="sending the request"
                ) from None
            self._note_headers(resp.headers)
            if resp.status == 200:
                return resp
            try:
                raw = await resp.read()
            except (TimeoutError, aiohttp.ClientError):
                raw = b""
            finally:
                resp.release()
            error = error_from_response(
                resp.status,
                resp.headers,
                raw,
                server=self.server,
                model=body["model"],
                sent_key=bool(self._headers()),
                known_models=self._models,
            )
            wait = retry_after_seconds(resp.headers) if resp.status == 429 else None
            if attempt == 1 and wait is not None and wait <= MAX_RETRY_WAIT_S and job.id not in self._cancelled:
                log.info("job %s: rate-limited, retrying once in %.1f s as the server asked", job.id, wait)
                await asyncio.sleep(wait)
                continue
            raise error
        raise AssertionError("unreachable")

    async def reattach(self, job: Job) -> None:
        """A chat completion streams into the connection that asked for it: after a restart nothing is left to
        follow. Decision: fail rather than resend, because the text block already holds the half-written answer
        (a new one would not continue it) and a paid upstream would bill the tokens twice."""
        raise GenBridgeError(
            "Blender closed while this text was being written; generate again.",
            "Press Retry in the job list to write it again; the partial text stays in its text block.",
            service=SERVICE,
        )

    async def events(self, job: Job) -> AsyncIterator[BackendEvent]:
        """Text in batches of ~30 ms plus "Writing (N tokens)" progress; ends after the last token."""
        body = self._requests.get(job.id)
        if body is None:
            raise RejectedInput("This text job was never submitted to LiteLLM.", service=SERVICE)
        yield BackendProgress(fraction=0.02, phase=f"Waiting for {body['model']}", running=True)
        try:
            resp = await self._post(job, body)
            self._responses[job.id] = resp
            fallback = _fallback_note(resp.headers, body["model"])
            if fallback:
                yield BackendLog(message=fallback)
            if body["stream"]:
                async for event in self._stream(job, resp, body):
                    yield event
                if not self._texts[job.id]:
                    # Some upstreams ignore `stream` and the proxy then sends one empty chunk: ask once more, whole.
                    yield BackendLog(message="The server streamed no text; asking again without streaming.")
                    resp.release()
                    resp = self._responses[job.id] = await self._post(job, {**body, "stream": False})
                    async for event in self._whole(job, resp, body):
                        yield event
            else:
                async for event in self._whole(job, resp, body):
                    yield event
        except GenBridgeError:
            if job.id in self._cancelled:
                raise Cancelled("The text job was cancelled.", service=SERVICE) from None
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            if job.id in self._cancelled:
                raise Cancelled("The text job was cancelled.", service=SERVICE) from None
            raise error_from_transport(exc, server=self.server, url=self.root, during="receiving the answer") from None
        finally:
            done = self._responses.pop(job.id, None)
            if done is not None:
                # An unfinished stream (cancel, error, task cancelled) must not go back to the pool half-read.
                if job.id in self._cancelled or not done.content.at_eof():
                    done.close()
                else:
                    done.release()

    async def _whole(self, job: Job, resp: aiohttp.ClientResponse, body: dict[str, Any]) -> AsyncIterator[BackendEvent]:
        raw = await resp.read()
        try:
            text = ChatCompletion.model_validate_json(raw).text
        except ValidationError:
            raise ServerError(
                f"{cap(self.server)} sent an answer GenBridge cannot read.",
                service=SERVICE,
                detail=raw[:2000].decode("utf-8", "replace"),
            ) from None
        self._texts[job.id].append(text)
        if text:
            yield BackendText(text=text)
        yield BackendProgress(fraction=0.95, phase=f"Written ({len(text)} characters)")

    async def _stream(
        self, job: Job, resp: aiohttp.ClientResponse, body: dict[str, Any]
    ) -> AsyncIterator[BackendEvent]:
        """Parse SSE incrementally; coalesce tokens that arrive within BATCH_WINDOW_S into one BackendText."""
        loop = asyncio.get_running_loop()
        parser = SSEParser()
        pending: list[str] = []
        pending_since = 0.0
        tokens = 0
        max_tokens = body.get("max_tokens")
        text = self._texts[job.id]
        finished = False

        def flush() -> list[BackendEvent]:
            batch = "".join(pending)
            pending.clear()
            text.append(batch)
            fraction = min(0.95, tokens / max_tokens if max_tokens else tokens / (tokens + 200))
            return [BackendText(text=batch), BackendProgress(fraction=fraction, phase=f"Writing ({tokens} tokens)")]

        while not finished:
            if pending and loop.time() - pending_since >= BATCH_WINDOW_S:
                for event in flush():
                    yield event
            if pending:
                window = asyncio.timeout_at(pending_since + BATCH_WINDOW_S)
                try:
                    async with window:
                        chunk = await resp.content.readany()
                except TimeoutError:
                    if not window.expired():
                        raise
                    continue  # the window closed with no new bytes: flush at the top of the loop
            else:
                chunk = await resp.content.readany()
            payloads = parser.feed(chunk) if chunk else parser.close()
            for data in payloads:
                if data == DONE:
                    finished = True
                    break
                try:
                    parsed = ChatChunk.model_validate(json.loads(data))
                except (ValueError, ValidationError):
                    log.warning("job %s: skipping an unreadable stream line: %.200s", job.id, data)
                    continue
                if parsed.error is not None:
                    if pending:
                        for event in flush():
                            yield event
                    raise error_from_stream_payload(
                        parsed.error, server=self.server, model=body["model"], received=tokens
                    )
                piece = parsed.text
                if piece:
                    if not pending:
                        pending_since = loop.time()
                    pending.append(piece)
                    tokens += 1
            if not chunk and not finished:
                if pending:
                    for event in flush():
                        yield event
                if job.id in self._cancelled:
                    raise Cancelled("The text job was cancelled.", service=SERVICE)
                raise ServerError(
                    f"The answer from '{body['model']}' broke off before it was finished (the text so far is kept).",
                    "Try again; if it keeps happening, look at the proxy's console.",
                    service=SERVICE,
                )
        if pending:
            for event in flush():
                yield event

    async def cancel(self, job: Job) -> None:
        """Close the stream at once; the proxy stops the upstream call when its client goes away."""
        self._cancelled.add(job.id)
        resp = self._responses.pop(job.id, None)
        if resp is not None:
            resp.close()

    def text_of(self, job: Job) -> str:
        """The full text received for `job` (also what `fetch_outputs` writes)."""
        parts = self._texts.get(job.id)
        return "".join(parts) if parts is not None else job.text

    async def fetch_outputs(self, job: Job, dest: Path) -> list[Path]:
        """Write `<task>.txt` (and `shotlist.json` for the shot list) so nothing lives only in memory."""
        from ...workflows.text import clean_prompt, parse_shotlist

        dest.mkdir(parents=True, exist_ok=True)
        text = redact(self.text_of(job))  # an answer that echoes the key never lands in a file
        self._texts.pop(job.id, None)
        self._requests.pop(job.id, None)
        self._cancelled.discard(job.id)
        txt = dest / f"{job.task}.txt"
        await asyncio.to_thread(txt.write_text, text, encoding="utf-8")
        written = [txt]
        output = text_output_kind(job)
        if output == "shotlist":
            try:
                shots = parse_shotlist(text)
            except GenBridgeError as exc:
                exc.message += f" The raw answer is in {txt}."
                raise
            path = dest / "shotlist.json"
            await asyncio.to_thread(path.write_text, shots.model_dump_json(indent=2), encoding="utf-8")
            written.append(path)
        elif output == "prompt":
            path = dest / "prompt_clean.txt"
            await asyncio.to_thread(path.write_text, clean_prompt(text), encoding="utf-8")
            written.append(path)
        return written

    async def complete(self, messages: list[dict[str, str]], model: str, **params: Any) -> str:
        """One non-streaming chat call, outside the job machinery (benchmarks, quick checks)."""
        job = Job(task="text", inputs={"messages": messages, "model": model, "stream": False, **params})
        await self.submit(job)
        async for _ in self.events(job):
            pass
        return "".join(self._texts.pop(job.id, []))

    async def close(self) -> None:
        """Close open streams and the session."""
        for resp in list(self._responses.values()):
            resp.close()
        self._responses.clear()
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _fallback_note(headers: Any, model: str) -> str:
    """What to tell the user when the proxy answered from a fallback model group (x-litellm-* headers)."""
    if headers.get("x-litellm-attempted-fallbacks", "0") in ("", "0"):
        return ""
    group = headers.get("x-litellm-model-group") or "another model"
    return f"The model '{model}' failed; the proxy answered with '{group}' instead."


def cap(text: str) -> str:
    """`text` with its first letter upper-cased (server names start sentences)."""
    return text[:1].upper() + text[1:]


def text_output_kind(job: Job) -> str:
    """'shotlist', 'prompt' or 'text': what the answer is parsed into."""
    text_task = job.inputs.get("text_task") or ("shotlist" if job.task == "shotlist" else None)
    if text_task == "shotlist":
        return "shotlist"
    if text_task in ("image_prompt", "video_prompt", "negative_prompt"):
        return "prompt"
    return "text"


def build_messages(job: Job, template_dirs: list[str] | tuple[str, ...] = ()) -> tuple[list[dict[str, str]], Any]:
    """(chat messages, the TextTask or None) from the job inputs; RejectedInput when they are unusable.

    Text tasks are looked up in `template_dirs` (the user's, from settings) before the bundled ones.
    """
    inputs = job.inputs
    text_task = inputs.get("text_task") or ("shotlist" if job.task == "shotlist" and "variables" in inputs else None)
    if text_task:
        from ...workflows.text import load_text_task

        task = load_text_task(str(text_task), template_dirs)
        variables = inputs.get("variables") or {}
        if not isinstance(variables, dict):
            raise RejectedInput("The text task's variables must be a mapping of names to text.", service=SERVICE)
        return task.messages(variables), task
    messages = inputs.get("messages")
    if messages is not None:
        ok = (
            isinstance(messages, list)
            and messages
            and all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages
            )
        )
        if not ok:
            raise RejectedInput("The messages must be a list of {role, content} entries.", service=SERVICE)
        return list(messages), None
    prompt = inputs.get("prompt")
    if isinstance(prompt, str) and prompt.strip():
        return [{"role": "user", "content": prompt}], None
    raise RejectedInput(
        "This text job has no prompt.", "Type a prompt (or pick a text task and fill in its fields).", service=SERVICE
    )
