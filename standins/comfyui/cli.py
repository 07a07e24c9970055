"""Command line for the stand-in: `python -m genbridge.standins.comfyui --port 8188 [--version 0.38]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json


def bundled_models() -> dict[str, list[str]]:
    """The model files the bundled templates name, as a server with them installed would list them."""
    from ...workflows import get_template, list_templates
    from .schema import models_for

    return models_for([get_template(i.name).workflow for i in list_templates() if i.source == "bundled"])


def main(argv: list[str] | None = None) -> int:
    from .server import ComfyUIStandIn

    parser = argparse.ArgumentParser(prog="python -m genbridge.standins.comfyui", description="ComfyUI stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--node-delay", type=float, default=0.2, help="seconds each node takes")
    parser.add_argument("--step-delay", type=float, default=0.05, help="seconds per sampler step")
    parser.add_argument("--root", help="folder for input/, output/, temp/ (default: a temporary folder)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--vram-total-gb", type=float, default=24.0)
    parser.add_argument("--vram-free-gb", type=float, default=20.0)
    parser.add_argument("--version", default="0.3.64", choices=["0.3.64", "0.38"], help="server version to act")
    parser.add_argument("--models", help="JSON {folder: [files]} of model files to pretend are installed")
    parser.add_argument("--bundled-models", action="store_true", help="pretend the bundled templates' models exist")
    parser.add_argument("--token", help="require this bearer token on HTTP and the websocket")
    args = parser.parse_args(argv)
    models = json.loads(args.models) if args.models else {}
    if args.bundled_models:
        for folder, files in bundled_models().items():
            models.setdefault(folder, []).extend(f for f in files if f not in models.get(folder, []))
    server = ComfyUIStandIn(
        node_delay=args.node_delay,
        step_delay=args.step_delay,
        root=args.root,
        device=args.device,
        vram_total_gb=args.vram_total_gb,
        vram_free_gb=args.vram_free_gb,
        host=args.host,
        port=args.port,
        version=args.version,
        models=models,
        token=args.token,
    )

    async def serve() -> None:
        async with server:
            print(f"ComfyUI stand-in {server.version} on {server.url} (files in {server.root})", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0
