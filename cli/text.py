"""`python -m genbridge text "..."`: stream a LiteLLM answer to stdout; `--task shotlist --logline ...` prints shots."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._headless import load_settings, run_jobs, with_url

TASKS = ("text", "shotlist", "image_prompt", "video_prompt", "negative_prompt")
# The variable a bare positional argument fills for each film task.
MAIN_VARIABLE = {"shotlist": "logline", "image_prompt": "shot", "video_prompt": "shot", "negative_prompt": "prompt"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("text", help="generate text with LiteLLM (or any OpenAI-compatible server)")
    p.add_argument("prompt", nargs="?", default="", help="the prompt (plain text task)")
    p.add_argument("--task", choices=TASKS, default="text", help="a film text task instead of a plain prompt")
    p.add_argument("--logline", help="logline for --task shotlist")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="a task variable (repeatable)")
    p.add_argument("--model", help="model name (default: settings text_model, else the server's first model)")
    p.add_argument("--url", help="LiteLLM proxy or OpenAI-compatible base URL (with or without /v1)")
    p.add_argument("--temperature", type=float)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--no-stream", action="store_true", help="ask for the whole answer at once")
    p.add_argument("--json", action="store_true", help="print the parsed shot list as JSON")
    p.add_argument(
        "--timeout", type=float, help="seconds the whole answer may take (default: settings [timeouts] text, 600)"
    )


def build_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The job spec (plain data) for these arguments."""
    inputs: dict[str, Any] = {"stream": not args.no_stream}
    if args.task == "text":
        if not args.prompt:
            raise SystemExit('error: give a prompt, e.g. python -m genbridge text "Write a haiku about fog"')
        inputs["prompt"] = args.prompt
    else:
        variables = dict(v.split("=", 1) for v in args.var if "=" in v)
        if args.logline:
            variables["logline"] = args.logline
        if args.prompt:
            variables.setdefault(MAIN_VARIABLE[args.task], args.prompt)
        inputs.update(text_task=args.task, variables=variables)
    for name in ("model", "temperature", "max_tokens"):
        if getattr(args, name) is not None:
            inputs[name] = getattr(args, name)
    task = {"text": "text", "shotlist": "shotlist"}.get(args.task, "prompt")
    return {"task": task, "service": "litellm", "inputs": inputs}


def print_shots(shots: list[dict[str, Any]]) -> None:
    for number, shot in enumerate(shots, 1):
        who = ", ".join(shot.get("characters") or []) or "-"
        print(f"{number:>2}. [{shot['duration']:g} s] {shot['description']}")
        print(f"    camera: {shot.get('camera') or '-'}   characters: {who}")


def run(args: argparse.Namespace) -> int:
    settings = with_url(load_settings(args), "litellm", args.url)
    if args.timeout is not None:
        if args.timeout <= 0:
            raise SystemExit("error: --timeout must be a positive number of seconds")
        timeouts = settings.timeouts.model_copy(update={"text": args.timeout})
        settings = settings.model_copy(update={"timeouts": timeouts})
    spec = build_spec(args)
    show_text = args.task != "shotlist"
    printed: list[str] = []

    def on_event(event: Any) -> None:
        if event.kind == "text" and show_text and event.text:
            sys.stdout.write(event.text)
            sys.stdout.flush()
            printed.append(event.text[-1:])
        elif event.kind == "log" and event.text:
            print(f"note: {event.text}", file=sys.stderr)

    [final] = run_jobs([spec], settings, on_event)
    if printed and printed[-1] != "\n":
        print()  # end the streamed answer's last line (no empty line when nothing was streamed)
    if final.get("state") != "done":
        error = final.get("error") or {}
        if not show_text and final.get("text"):
            print(f"The model's raw answer:\n{final['text']}")
        hint = error.get("hint", "")
        print(f"error: {error.get('message', final.get('phase'))}" + (f"\n  {hint}" if hint else ""), file=sys.stderr)
        return 2
    if args.task == "shotlist":
        shot_file = next((Path(p) for p in final.get("outputs", []) if p.endswith("shotlist.json")), None)
        if shot_file is None:
            print("error: the shot list was not written", file=sys.stderr)
            return 2
        data = json.loads(shot_file.read_text(encoding="utf-8"))
        if args.json:
            print(json.dumps(data, indent=2))
        else:
            print_shots(data["shots"])
        print(f"(saved to {shot_file})", file=sys.stderr)
    return 0
