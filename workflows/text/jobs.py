"""Text jobs on a LiteLLM (or any OpenAI-compatible) server: the job-service side of the film text tasks.

This is the `BackendClient` the job service uses for the text service: it prepares the request (chat messages from
a prompt, a message list or a film text task; structured output for the shot list), drives the transport client
(`backends.litellm.LiteLLMClient`) and reads the answer (shot list parsed, prompt cleaned, files written).

Job inputs (tasks "text", "shotlist", "prompt"): {"prompt": str} | {"messages": [...]} |
{"text_task": name, "variables": {...}}; optional "model", "temperature", "max_tokens", "stream" (default true).

Structured output: the shot list is asked for with `response_format` = the shot-list JSON schema; a server that
refuses it is asked with `json_object`, then in prose, and the job log says which one was used. A shot list that
still does not parse is asked for again, at most `SHOTLIST_ATTEMPTS` times in all (small local models are flaky).

Thread rule: loop thread only.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ...backends.litellm.client import ChatReply, LiteLLMClient
from ...runtime.backend import ProbeResult, Problem
from ...runtime.errors import Cancelled, GenBridgeError, RejectedInput
from ...runtime.events import BackendEvent, BackendLog, BackendProgress, BackendText
from ...runtime.jobs import Job
from ...runtime.redact import redact
from ...runtime.settings import Endpoint, Settings
from . import TextTask, clean_prompt, load_text_task, shotlist_schema
from .shotlist import ShotList, UnparseableAnswer, parse_shotlist

SERVICE = "litellm"
TEXT_JOB_TASKS = ("text", "shotlist", "prompt")
FORMATS = ("json_schema", "json_object", "prose")
SHOTLIST_ATTEMPTS = 3
_REFUSED_FORMAT = re.compile(r"response_format|json_schema|json_object|schema|grammar|structured", re.IGNORECASE)


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


def response_format(kind: str, shots: int | None) -> dict[str, Any] | None:
    """The `response_format` of a structured-output level ('prose' asks for none)."""
    if kind == "json_schema":
        schema = shotlist_schema(shots)
        return {"type": "json_schema", "json_schema": {"name": "shot_list", "schema": schema, "strict": True}}
    if kind == "json_object":
        # `schema` beside json_object is llama-cpp-python's way to constrain the answer (it refuses json_schema);
        # other servers ignore the extra field.
        return {"type": "json_object", "schema": shotlist_schema(shots)}
    return None


def asked_shots(job: Job) -> int | None:
    """How many shots the job asked for (the task's `shots` variable), if it is a number."""
    value = (job.inputs.get("variables") or {}).get("shots")
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def refused_format(exc: GenBridgeError) -> bool:
    """Whether a server's error is about the structured-output request (then a plainer one may work)."""
    return exc.code in ("rejected_input", "incompatible", "server_error") and bool(
        _REFUSED_FORMAT.search(f"{exc.message} {exc.detail}")
    )


class TextJobClient:
    """Runs text jobs on one endpoint through a `LiteLLMClient` (transport), shared by every text job on it."""

    service = SERVICE

    def __init__(self, endpoint: Endpoint, settings: Settings, *, transport: LiteLLMClient | None = None) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.llm = transport or LiteLLMClient(endpoint, settings)
        self._requests: dict[str, dict[str, Any]] = {}
        self._replies: dict[str, ChatReply] = {}
        self._texts: dict[str, list[str]] = {}
        self._parsed: dict[str, ShotList] = {}
        self._tries: dict[str, int] = {}  # shot lists that still did not parse after this many tries
        self._cancelled: set[str] = set()
        self._format_levels: list[str] = list(FORMATS)  # narrowed once a server refused a level

    async def probe(self, *, deep: bool = False) -> ProbeResult:
        """The endpoint's health; `deep` (the `check` command) also has the proxy call the text model once."""
        return await self.llm.probe(check_model=(self.settings.text_model or "") if deep else None)

    async def list_models(self, *, refresh: bool = False) -> list[str]:
        return await self.llm.list_models(refresh=refresh)

    async def complete(self, messages: list[dict[str, str]], model: str, **params: Any) -> str:
        """One non-streaming chat call outside the job machinery (benchmarks, quick checks)."""
        return await self.llm.complete(messages, model, **params)

    # -- preparing --------------------------------------------------------------------------------------------------
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
        messages, task = build_messages(job, self.settings.template_dirs)
        model = job.inputs.get("model") or self.settings.text_model
        if not model:
            models = await self.llm.list_models()
            if not models:
                raise self.llm.tag(
                    RejectedInput(
                        f"{self.llm.server.capitalize()} offers no models.", "Add a model to the proxy's config."
                    )
                )
            model = models[0]
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": bool(job.inputs.get("stream", True))}
        _sampling(body, job, task)
        self._requests[job.id] = body
        self._texts[job.id] = []
        self._cancelled.discard(job.id)
        return job.id  # chat completions have no server-side job

    async def reattach(self, job: Job) -> None:
        """A chat completion streams into the connection that asked for it: after a restart nothing is left to
        follow. Decision: fail rather than resend, because the text block already holds the half-written answer
        (a new one would not continue it) and a paid upstream would bill the tokens twice."""
        raise GenBridgeError(
            "Blender closed while this text was being written; generate again.",
            "Press Retry in the job list to write it again; the partial text stays in its text block.",
            service=SERVICE,
        )

    # -- running ----------------------------------------------------------------------------------------------------
    async def events(self, job: Job) -> AsyncIterator[BackendEvent]:
        """Text in batches of ~30 ms plus "Writing (N tokens)" progress; ends after the last token."""
        body = self._requests.get(job.id)
        if body is None:
            raise RejectedInput("This text job was never submitted to LiteLLM.", service=SERVICE)
        try:
            async for event in self._run(job, body):
                yield event
        except GenBridgeError:
            if job.id in self._cancelled:
                raise Cancelled("The text job was cancelled.", service=SERVICE) from None
            raise
        finally:
            reply = self._replies.pop(job.id, None)
            if reply is not None:
                reply.finish()

    async def _run(self, job: Job, body: dict[str, Any]) -> AsyncIterator[BackendEvent]:
        yield BackendProgress(fraction=0.02, phase=f"Waiting for {body['model']}", running=True)
        if text_output_kind(job) != "shotlist":
            async for event in self._answer(job, body):
                yield event
            return
        shots = asked_shots(job)
        for attempt in range(1, SHOTLIST_ATTEMPTS + 1):
            async for event in self._structured(job, body, shots):
                yield event
            text = "".join(self._texts[job.id])
            try:
                parsed = parse_shotlist(text)
            except UnparseableAnswer as exc:
                if attempt == SHOTLIST_ATTEMPTS or job.id in self._cancelled:
                    # `fetch_outputs` writes the raw answer to disk first, then raises this.
                    self._tries[job.id] = attempt
                    return
                yield BackendLog(message=f"{exc.message} Asking again (try {attempt + 1} of {SHOTLIST_ATTEMPTS}).")
                yield BackendText(text=f"\n\n[GenBridge: that answer did not parse; try {attempt + 1}]\n\n")
                self._texts[job.id] = []
                continue
            self._parsed[job.id] = parsed
            if shots and len(parsed.shots) < shots:
                planned = len(parsed.shots)
                noun = "shot" if planned == 1 else "shots"
                yield BackendLog(message=f"The model planned {planned} {noun}; {shots} were asked.")
            return

    async def _structured(self, job: Job, body: dict[str, Any], shots: int | None) -> AsyncIterator[BackendEvent]:
        """One shot-list answer, asking for the most structured output the server accepts."""
        for level in list(self._format_levels):
            fmt = response_format(level, shots)
            request = {**body, "response_format": fmt} if fmt else body
            try:
                async for event in self._answer(job, request):
                    yield event
            except GenBridgeError as exc:
                if level == "prose" or not refused_format(exc) or self._texts[job.id]:
                    raise
                self._format_levels.remove(level)
                yield BackendLog(message=f"The server refused {level} output ({exc.message}); asking more plainly.")
                continue
            yield BackendLog(message=f"Shot list asked for with {_LEVEL_WORDS[level]}.")
            return

    async def _answer(self, job: Job, body: dict[str, Any]) -> AsyncIterator[BackendEvent]:
        """One chat call, streamed or whole, its text recorded in `self._texts`."""
        deadline = self.llm.deadline()
        reply = self._replies[job.id] = await self.llm.open_chat(
            body, deadline=deadline, cancelled=lambda: job.id in self._cancelled
        )
        if reply.note:
            yield BackendLog(message=reply.note)
        texts = self._texts[job.id]
        max_tokens = body.get("max_tokens")
        finish = None
        if body["stream"]:
            async for batch in self.llm.stream(reply, deadline=deadline):
                finish = batch.finish_reason or finish
                if batch.text:
                    texts.append(batch.text)
                    yield BackendText(text=batch.text)
                    n = batch.tokens
                    fraction = min(0.95, n / max_tokens if max_tokens else n / (n + 200))
                    yield BackendProgress(fraction=fraction, phase=f"Writing ({n} tokens)")
            if not texts and job.id not in self._cancelled:
                # Some upstreams ignore `stream` and the proxy then sends one empty, finished chunk: ask once more,
                # whole, and say so.
                yield BackendLog(message="The server streamed no text; asking again without streaming.")
                async for event in self._answer(job, {**body, "stream": False}):
                    yield event
                return
        else:
            text, finish = await self.llm.whole(reply, deadline=deadline)
            texts.append(text)
            if text:
                yield BackendText(text=text)
            yield BackendProgress(fraction=0.95, phase=f"Written ({len(text)} characters)")
        if finish == "length":
            yield BackendLog(message=f"The answer reached its length limit (max_tokens {max_tokens}) and may be cut.")

    async def cancel(self, job: Job) -> None:
        """Close the stream at once; the proxy stops the upstream call when its client goes away."""
        self._cancelled.add(job.id)
        reply = self._replies.pop(job.id, None)
        if reply is not None:
            reply.finish()

    def text_of(self, job: Job) -> str:
        """The full text received for `job` (also what `fetch_outputs` writes)."""
        parts = self._texts.get(job.id)
        return "".join(parts) if parts is not None else job.text

    async def fetch_outputs(self, job: Job, dest: Path) -> list[Path]:
        """Write `<task>.txt` (and `shotlist.json` for the shot list) so nothing lives only in memory."""
        dest.mkdir(parents=True, exist_ok=True)
        text = redact(self.text_of(job))  # an answer that echoes the key never lands in a file
        parsed = self._parsed.pop(job.id, None)
        self._texts.pop(job.id, None)
        self._requests.pop(job.id, None)
        self._cancelled.discard(job.id)
        txt = dest / f"{job.task}.txt"
        await asyncio.to_thread(txt.write_text, text, encoding="utf-8")
        written = [txt]
        output = text_output_kind(job)
        if output == "shotlist":
            tries = self._tries.pop(job.id, 1)
            try:
                shots = parsed or parse_shotlist(text)
            except GenBridgeError as exc:
                after = f" after {tries} tries" if tries > 1 else ""
                exc.message = f"{exc.message.rstrip('.')}{after}. The raw answer is in {txt}."
                raise
            path = dest / "shotlist.json"
            await asyncio.to_thread(path.write_text, shots.model_dump_json(indent=2), encoding="utf-8")
            written.append(path)
        elif output == "prompt":
            path = dest / "prompt_clean.txt"
            await asyncio.to_thread(path.write_text, clean_prompt(text), encoding="utf-8")
            written.append(path)
        return written

    async def close(self) -> None:
        for reply in list(self._replies.values()):
            reply.finish()
        self._replies.clear()
        await self.llm.close()


_LEVEL_WORDS = {
    "json_schema": "structured output (the shot-list JSON schema)",
    "json_object": "JSON mode (the server refused the JSON schema)",
    "prose": "a prose request (the server refused structured output)",
}


def _sampling(body: dict[str, Any], job: Job, task: TextTask | None) -> None:
    temperature = job.inputs.get("temperature", task.temperature if task else None)
    max_tokens = job.inputs.get("max_tokens", task.max_tokens if task else None)
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if job.inputs.get("seed") is not None:
        body["seed"] = job.inputs["seed"]
