"""Start the REAL LiteLLM proxy (not a stand-in) with mock models, for tests, benchmarks and the demo.

`start_litellm_proxy()` writes a config with mock-response models (no upstream is ever contacted for them), starts
`litellm --config ... --host 127.0.0.1 --port N` offline (`LITELLM_LOCAL_MODEL_COST_MAP=True`), waits for
`/health/readiness` and returns a handle (`.url`, `.master_key`, `.stop()`, also a context manager).
A tiny aiohttp "OpenAI" upstream on a loopback port covers what the proxy only does with an upstream: a 429 with
`retry-after` (forwarded as `llm_provider-retry-after`) and a stream that dies mid-answer.

CLI: `python -m genbridge.standins.litellm_proxy --port 4000` (runs until Ctrl+C).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .processes import free_port, stop_process, wait_ready

DEFAULT_MASTER_KEY = "sk-genbridge-test-master-key"
FALLBACK_BIN = str(Path(__file__).resolve().parents[1] / ".venvs" / "litellm" / "bin" / "litellm")  # ./dev setup
UNREACHABLE_API_BASE = "http://127.0.0.1:9/v1"  # mock_response short-circuits; nothing ever connects here

# The storyboard mock answers every request with this shot list, so the shot-list task parses in the demo.
MOCK_SHOTLIST = json.dumps(
    {
        "shots": [
            {
                "description": "Dawn over a fog-filled valley; a lone lighthouse blinks on the ridge.",
                "duration": 4,
                "camera": "wide establishing shot, slow push in",
                "characters": [],
            },
            {
                "description": "Mara climbs the spiral stairs, lantern swinging, breath visible in the cold.",
                "duration": 3.5,
                "camera": "low angle tracking shot",
                "characters": ["Mara"],
            },
            {
                "description": "At the top, Mara finds the keeper's log open on a page dated tomorrow.",
                "duration": 2.5,
                "camera": "close-up over the shoulder",
                "characters": ["Mara", "the keeper"],
            },
        ]
    },
    indent=2,
)
MOCK_TEXT = "Hello from mock llama3."
MOCK_LONG_TEXT = (
    "A slow dolly glides through the rain-soaked market at night, neon signs reflected in puddles, "
    "steam rising from food stalls while a cyclist in a yellow coat weaves between umbrellas. "
) * 3


def _mock(model_name: str, response: str, **extra: Any) -> dict[str, Any]:
    params = {"model": "openai/fake", "api_key": "fake-key", "api_base": UNREACHABLE_API_BASE}
    params.update(mock_response=response, **extra)
    return {"model_name": model_name, "litellm_params": params}


def _upstream(model_name: str, upstream_url: str, upstream_model: str) -> dict[str, Any]:
    params = {"model": f"openai/{upstream_model}", "api_key": "fake-key", "api_base": f"{upstream_url}/v1"}
    return {"model_name": model_name, "litellm_params": params}


LOCAL_TEXT_MODEL = "local-smollm2"  # the proxy's name for the real local model (standins/local_llm.py)


def build_config(master_key: str, upstream_url: str | None = None, local_llm_url: str | None = None) -> dict[str, Any]:
    """The proxy config: mock models, a fallback pair, error models, and optional real-upstream models."""
    models = [
        _mock("llama3", MOCK_TEXT),
        _mock("mistral", "Hello from mock mistral."),
        _mock("writer-mock", MOCK_LONG_TEXT),
        _mock("storyboard-mock", MOCK_SHOTLIST),
        _mock("broken", "litellm.InternalServerError"),
        _mock("broken-nofallback", "litellm.InternalServerError"),
        _mock("ratelimited", "litellm.RateLimitError"),
        _mock("midstream-error", "Exception: mock_streaming_error"),
        _mock("timeouty", "never returned", mock_timeout=True, timeout=1.0),
        _mock("slow", "Slow hello.", mock_delay=1.5),
    ]
    if upstream_url:
        models += [
            _upstream("upstream-ok", upstream_url, "ok"),
            _upstream("upstream-429", upstream_url, "rate-limit"),
            _upstream("upstream-429-once", upstream_url, "rate-limit-once"),
            _upstream("upstream-dies", upstream_url, "dies-mid-stream"),
            _upstream("upstream-trickle", upstream_url, "trickle"),
            _upstream("upstream-nostream", upstream_url, "ignores-stream"),
            # A model whose server is down: the proxy is fine, the model behind it is not.
            {
                "model_name": "upstream-down",
                "litellm_params": {"model": "openai/down", "api_key": "fake-key", "api_base": UNREACHABLE_API_BASE},
            },
        ]
    if local_llm_url:
        from .local_llm import MODEL_ALIAS

        local = _upstream(LOCAL_TEXT_MODEL, local_llm_url, MODEL_ALIAS)
        local["litellm_params"].update(timeout=600, stream_timeout=600)  # a small CPU model on a busy machine
        models.insert(0, local)
    return {
        "model_list": models,
        "router_settings": {
            "num_retries": 0,
            "timeout": 600 if local_llm_url else 30,
            "fallbacks": [{"broken": ["llama3"]}],
        },
        "litellm_settings": {"drop_params": True, "request_timeout": 30, "num_retries": 0, "telemetry": False},
        "general_settings": {"master_key": master_key},
    }


# -- the tiny OpenAI-compatible upstream ---------------------------------------------------------------------------
class FakeUpstream:
    """An aiohttp "OpenAI" server on its own thread; behaviour is chosen by the requested model name."""

    def __init__(self, retry_after: int = 7) -> None:
        self.retry_after = retry_after
        self.url = ""
        self.calls: dict[str, int] = {}
        self.disconnects = 0  # streams whose client went away before the end
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None

    def start(self) -> FakeUpstream:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="fake-openai-upstream", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake upstream did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        from aiohttp import web

        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    async def _chat(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.json()
        model = str(body.get("model", ""))
        count = self.calls[model] = self.calls.get(model, 0) + 1
        if model == "rate-limit" or (model == "rate-limit-once" and count % 2 == 1):
            return web.json_response(
                {"error": {"message": "Rate limit reached for requests (fake upstream)", "type": "requests"}},
                status=429,
                headers={"retry-after": str(self.retry_after if model == "rate-limit" else 1)},
            )
        words = ["Hello ", "from ", "the ", "fake ", "upstream."]
        if not body.get("stream") or model == "ignores-stream":
            return web.json_response(_completion(model, "".join(words)))
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        if model == "trickle":
            words = [f"word{i} " for i in range(400)]
        try:
            for i, word in enumerate(words):
                if model == "dies-mid-stream" and i == 2:
                    # Drop the connection mid-answer, like a crashed model server.
                    request.transport.close()
                    return resp
                await resp.write(_sse(_chunk(model, word)))
                await asyncio.sleep(0.05 if model == "trickle" else 0.005)
            await resp.write(_sse(_chunk(model, "", finish="stop")))
            await resp.write(b"data: [DONE]\n\n")
        except (ConnectionResetError, RuntimeError):
            self.disconnects += 1
        return resp


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }


def _chunk(model: str, text: str, finish: str | None = None) -> dict[str, Any]:
    delta = {"role": "assistant", "content": text} if text else {}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


# -- the proxy process -----------------------------------------------------------------------------------------------
def litellm_binary() -> str:
    """$GENBRIDGE_LITELLM_BIN, else `litellm` on PATH, else the dev machine's venv."""
    return os.environ.get("GENBRIDGE_LITELLM_BIN") or shutil.which("litellm") or FALLBACK_BIN


def offline_env() -> dict[str, str]:
    """The proxy's environment: no cost-map download, no telemetry, no colour codes in the log."""
    env = dict(os.environ)
    env.update(
        {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False",
            "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
            "LITELLM_LOG": "ERROR",
            "NO_COLOR": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class LiteLLMProxy:
    """A running proxy process (and its fake upstream); stop it with `.stop()` or a `with` block."""

    def __init__(
        self, url: str, master_key: str, process: subprocess.Popen[bytes], workdir: Path, upstream: FakeUpstream | None
    ) -> None:
        self.url = url
        self.master_key = master_key
        self.process = process
        self.workdir = workdir
        self.upstream = upstream

    @property
    def log_path(self) -> Path:
        return self.workdir / "proxy.log"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the proxy (by its pid), then the upstream; bounded waits."""
        stop_process(self.process)
        if self.upstream is not None:
            self.upstream.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LiteLLMProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_litellm_proxy(
    port: int | None = None,
    master_key: str = DEFAULT_MASTER_KEY,
    *,
    with_upstream: bool = True,
    retry_after: int = 7,
    ready_timeout: float = 120.0,
    local_llm_url: str | None = None,
) -> LiteLLMProxy:
    """Start the proxy on 127.0.0.1 and wait (bounded) until `/health/readiness` answers 200."""
    upstream = FakeUpstream(retry_after=retry_after).start() if with_upstream else None
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="genbridge-litellm-"))
    config = workdir / "config.yaml"
    # JSON is valid YAML, so no yaml dependency is needed to write the config.
    config.write_text(json.dumps(build_config(master_key, upstream.url if upstream else None, local_llm_url), indent=2))
    log = (workdir / "proxy.log").open("wb")
    cmd = [litellm_binary(), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    try:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=offline_env(), cwd=workdir)
    except OSError as exc:
        if upstream is not None:
            upstream.stop()
        raise RuntimeError(f"could not start {cmd[0]}: {exc}; set GENBRIDGE_LITELLM_BIN") from exc
    finally:
        log.close()
    proxy = LiteLLMProxy(f"http://127.0.0.1:{port}", master_key, process, workdir, upstream)
    try:
        wait_ready(
            process, f"{proxy.url}/health/readiness", what="litellm", timeout_s=ready_timeout, log_tail=proxy.log_tail
        )
    except RuntimeError:
        proxy.stop()
        raise
    return proxy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the real LiteLLM proxy with GenBridge's mock models.")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--master-key", default=DEFAULT_MASTER_KEY)
    parser.add_argument("--no-upstream", action="store_true", help="skip the fake OpenAI upstream models")
    args = parser.parse_args(argv)
    with start_litellm_proxy(args.port, args.master_key, with_upstream=not args.no_upstream) as proxy:
        print(f"LiteLLM proxy ready at {proxy.url} (master key {proxy.master_key}); Ctrl+C stops it.", flush=True)
        try:
            while proxy.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
