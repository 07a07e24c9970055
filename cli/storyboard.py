"""`python -m genbridge storyboard --logline "..."`: the main job, headless, through real Blender.

Services with an endpoint configured (GENBRIDGE_<SERVICE>_URL(S) or the settings TOML) are used as they are; for
every other one a loopback stand-in is started here: the ComfyUI and WanGP stand-ins (placeholder media that says
so) and the real LiteLLM proxy in front of a real local model (SmolLM2-135M-Instruct on llama-cpp-python's
server, built by ./dev setup), or, only when that cannot be set up, a mock model (and it says so). Then the bpy
interpreter ($GENBRIDGE_BPY_PYTHON) runs `demo/storyboard_in_blender.py`, which installs the add-on zip, runs
"Storyboard from Logline" and saves the .blend and a contact sheet. This command prints the plan (which service
did what, and why) and the timings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..runtime.services import SERVICE_TITLES, SERVICES, key_env_var

REPO = Path(__file__).resolve().parents[1]
DEMO_SCRIPT = REPO / "demo" / "storyboard_in_blender.py"
DEFAULT_BPY_PYTHON = REPO / ".venvs" / "bpy-4.5.15" / "bin" / "python"
DEFAULT_LITELLM_BIN = REPO / ".venvs" / "litellm" / "bin" / "litellm"
MOCK_TEXT_MODEL = "storyboard-mock"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "storyboard",
        help="logline -> shot list -> keyframes and clips in Blender's Sequencer (stand-ins when nothing is set up)",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("--logline", required=True, help="one or two sentences: who wants what, what's in the way")
    parser.add_argument("--out", default="out/storyboard", help="output folder (.blend, contact sheet, media)")
    parser.add_argument("--shots", type=int, default=3, help="how many shots to plan (default 3)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds Blender may take for all jobs")
    parser.add_argument(
        "--cast",
        metavar="CAST.toml",
        help="the cast: [[characters]] with name, description, references (image paths) and an optional seed; "
        "keyframes of shots with these characters keep them from their references",
    )
    parser.add_argument(
        "--allow-text-fallback",
        action="store_true",
        help="when ComfyUI lacks the reference model, make cast keyframes from text alone instead of failing",
    )
    parser.add_argument(
        "--model",
        help="text model for the shot list (default: GENBRIDGE_TEXT_MODEL / text_model, else the local model)",
    )


def configured_services(config: str | None, env: Mapping[str, str] | None = None) -> set[str]:
    """Services the user pointed at real servers: a URL variable in the environment or a table in the TOML."""
    env = os.environ if env is None else env
    found = {s for s in SERVICES if env.get(f"GENBRIDGE_{s.upper()}_URLS") or env.get(f"GENBRIDGE_{s.upper()}_URL")}
    path = Path(config) if config else Path(env["GENBRIDGE_CONFIG"]) if env.get("GENBRIDGE_CONFIG") else None
    if path is None and Path("genbridge.toml").is_file():
        path = Path("genbridge.toml")
    if path is not None and path.is_file():
        from ..runtime.settings import read_toml  # its errors name the file and the fix

        data = read_toml(path)
        found |= {s for s in SERVICES if data.get(s)}
    return found


def bpy_python() -> Path:
    return Path(os.environ.get("GENBRIDGE_BPY_PYTHON") or DEFAULT_BPY_PYTHON)


@contextlib.contextmanager
def stand_ins(needed: set[str]) -> Iterator[dict[str, dict[str, str]]]:
    """Start a loopback stand-in for each service in `needed`; yields {service: {url, key?, what}}."""
    started: dict[str, dict[str, str]] = {}
    with contextlib.ExitStack() as stack:
        if "comfyui" in needed:
            from ..standins.comfyui import ComfyUIStandIn, bundled_models

            # A server with the bundled templates' model files: it validates like ComfyUI, models included.
            standin = ComfyUIStandIn(node_delay=0.02, step_delay=0.005, models=bundled_models())
            comfy = stack.enter_context(standin.running_in_thread())
            started["comfyui"] = {"url": comfy.url, "what": "ComfyUI stand-in (placeholder images)"}
        if "wan2gp" in needed:
            from ..standins.wan2gp import Wan2GPStandIn

            url = stack.enter_context(Wan2GPStandIn(step_delay=0.02).run_in_thread())
            started["wan2gp"] = {"url": url, "what": "WanGP stand-in (placeholder clips)"}
        if "litellm" in needed:
            started["litellm"] = stack.enter_context(text_stand_in())
        yield started


@contextlib.contextmanager
def text_stand_in() -> Iterator[dict[str, str]]:
    """The real LiteLLM proxy in front of the real local model; the mock model only if that cannot start."""
    from ..standins.litellm_proxy import LOCAL_TEXT_MODEL, start_litellm_proxy
    from ..standins.local_llm import start_local_llm

    if not os.environ.get("GENBRIDGE_LITELLM_BIN") and DEFAULT_LITELLM_BIN.is_file():
        os.environ["GENBRIDGE_LITELLM_BIN"] = str(DEFAULT_LITELLM_BIN)
    with contextlib.ExitStack() as stack:
        try:
            local = stack.enter_context(start_local_llm())
        except (RuntimeError, OSError) as exc:
            print(
                f"note: the local model could not start ({str(exc).splitlines()[0]}); using the mock model, whose "
                "shot list is the same whatever the logline.",
                file=sys.stderr,
            )
            local = None
        proxy = stack.enter_context(start_litellm_proxy(with_upstream=False, local_llm_url=local and local.url))
        if local is not None:
            what = f"real LiteLLM proxy in front of the local model {local.alias} (llama.cpp, CPU)"
            yield {"url": proxy.url, "key": proxy.master_key, "model": LOCAL_TEXT_MODEL, "what": what, "kind": "local"}
        else:
            what = f"real LiteLLM proxy with the mock model '{MOCK_TEXT_MODEL}'"
            yield {"url": proxy.url, "key": proxy.master_key, "model": MOCK_TEXT_MODEL, "what": what, "kind": "mock"}


def text_model_for(args: argparse.Namespace, started: Mapping[str, Mapping[str, str]], configured: str) -> str:
    """--model, else the started stand-in's model, else the configured text_model ("" = the server's first)."""
    if getattr(args, "model", None):
        return str(args.model)
    if "litellm" in started:
        return started["litellm"]["model"]
    return configured


def run(args: argparse.Namespace) -> int:
    from ..runtime.settings import Settings

    cast_data: list[dict[str, Any]] = []
    if getattr(args, "cast", None):
        from ..storyboard.cast import CastError, read_cast_file

        try:
            cast_data = read_cast_file(args.cast).to_data()
        except CastError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    python = bpy_python()
    if not python.is_file():
        print(
            f"error: no bpy interpreter at {python}; set GENBRIDGE_BPY_PYTHON to a Python with bpy 4.2+",
            file=sys.stderr,
        )
        return 2
    settings = Settings.load(getattr(args, "config", None))
    real = configured_services(getattr(args, "config", None))
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    print(f"Storyboard: {args.logline!r}, {args.shots} shots -> {out}", flush=True)
    for member in cast_data:
        refs = ", ".join(Path(r["path"]).name for r in member["references"]) or "no reference (text to image)"
        print(f"  Cast     {member['name']}: {refs}; seed {member['seed']}")
    with stand_ins(set(SERVICES) - real) as started:
        startup = time.monotonic() - t0
        endpoints, labels, env = {}, {}, dict(os.environ)
        for service in SERVICES:
            if service in started:
                endpoints[service] = started[service]["url"]
                labels[service] = "stand-in"
                if started[service].get("key"):
                    env[key_env_var(service)] = started[service]["key"]
                print(f"  {SERVICE_TITLES[service]:8} {started[service]['what']} at {endpoints[service]}")
            else:
                endpoint = settings.endpoints(service)[0]
                endpoints[service], labels[service] = endpoint.url, endpoint.label
                if endpoint.key is not None and not env.get(key_env_var(service)):
                    env[key_env_var(service)] = endpoint.key.get_secret_value()
                print(f"  {SERVICE_TITLES[service]:8} your server at {endpoint.url}")
        config = {
            "logline": args.logline,
            "shots": args.shots,
            "out": str(out),
            "endpoints": endpoints,
            "labels": labels,
            "text_model": text_model_for(args, started, settings.text_model),
            "timeout": args.timeout,
            "cast": cast_data,
            "allow_text_fallback": bool(getattr(args, "allow_text_fallback", False)),
        }
        config_path = out / "storyboard_config.json"
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        log_path = out / "blender.log"
        print(f"Running the storyboard in Blender ({python}); log: {log_path}", flush=True)
        t1 = time.monotonic()
        with log_path.open("w", encoding="utf-8") as log:
            try:
                done = subprocess.run(
                    [str(python), str(DEMO_SCRIPT), str(config_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    timeout=args.timeout + 240,
                )
                code = done.returncode
            except subprocess.TimeoutExpired:
                code = 124
        blender_s = time.monotonic() - t1
    summary_path = out / "summary.json"
    if not summary_path.is_file():
        print(f"Blender ended with code {code} and wrote no summary. Last lines of {log_path}:", file=sys.stderr)
        print(log_path.read_text(encoding="utf-8", errors="replace")[-3000:], file=sys.stderr)
        return 1
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    outer = {"stand-ins start": startup, "Blender run": blender_s, "total": time.monotonic() - t0}
    print_report(summary, started, outer, args.shots)
    if code != 0 or not summary.get("ok"):
        print(
            f"FAILED: Blender exit code {code}, storyboard status {summary.get('status')!r}; see {log_path}",
            file=sys.stderr,
        )
        return 1
    return 0


def print_report(
    summary: dict[str, Any], started: Mapping[str, Any], outer: Mapping[str, float], asked_shots: int | None = None
) -> None:
    """The plan (every job: service, why, how long, what it waited for), the strips, and the timings."""
    text_kind = started["litellm"].get("kind", "mock") if "litellm" in started else ""
    short = {
        j["id"]: f"{j['role']}#{(j['shot'] or 0) + 1}" if j["shot"] is not None else j["role"] for j in summary["jobs"]
    }
    print("\nPlan (which service did what, and why):")
    for job in summary["jobs"]:
        where = SERVICE_TITLES.get(job["service"], job["service"] or "-")
        if job["service"] in started:
            # The LiteLLM proxy is the real one (with the local or the mock model); ComfyUI and WanGP are stand-ins.
            where += f" ({text_kind} model)" if job["service"] == "litellm" else " (stand-in)"
        waits = ", ".join(short.get(d, d[:8]) for d in job["depends_on"])
        ran = job["seconds"] is not None and (job["state"] == "done" or job["seconds"] >= 0.05)
        seconds = f"{job['seconds']:.1f} s" if ran else "-"  # a job that failed at once has no meaningful time
        line = f"  {short[job['id']]:12} {job['task']:15} -> {where:20} {job['state']:9} {seconds:>7}"
        line += f"  why: {job['reason'] or '-'}" + (f"; waited for {waits}" if waits else "")
        if job["error"]:
            line += f"; error: {job['error']}"
        print(line)
        if job.get("references"):
            print(f"  {'':12} references: {'; '.join(job['references'])}")
        if job.get("cast_why"):
            print(f"  {'':12} cast: {job['cast_why']}")
    print("\nSequencer (channel 1 keyframes, channel 2 clips; other takes muted above):")
    for strip in summary["strips"]:
        last = strip["frame_start"] + strip["frames"] - 1
        muted = "  (muted)" if strip["mute"] else ""
        print(
            f"  ch{strip['channel']} {strip['type']:5} frames {strip['frame_start']:4}-{last:<4} {strip['name']}{muted}"
        )
    stand = [SERVICE_TITLES[s] for s in started if s != "litellm"]
    print(
        f"\nStand-ins used: {', '.join(stand) if stand else 'none'}"
        + ("; their media are placeholders that say so." if stand else "")
        + (
            " LiteLLM: the real proxy with a mock model (no LLM; the same shot list whatever the logline)."
            if text_kind == "mock"
            else " LiteLLM: the real proxy in front of a small local model (SmolLM2-135M on CPU)."
            if text_kind == "local"
            else ""
        )
    )
    print(f"Saved: {summary['blend']}" + (f" and {summary['contact_sheet']}" if summary.get("contact_sheet") else ""))
    timings = {**{k.replace("_s", "").replace("_", " "): v for k, v in summary["timings"].items()}, **outer}
    print("Timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    fewer = (
        f"; {asked_shots} were asked, the model planned fewer" if asked_shots and summary["shots"] < asked_shots else ""
    )
    print(f"Storyboard: {summary['status']} ({summary['shots']} shots{fewer})")
