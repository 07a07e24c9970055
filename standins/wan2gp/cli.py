"""The stand-in's command line: serve it until Ctrl-C (`python -m genbridge.standins.wan2gp --port 7866`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .server import Wan2GPStandIn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m genbridge.standins.wan2gp",
        description="A stand-in WanGP MCP server built from real captures.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7866)
    parser.add_argument("--contract", choices=("v1", "v1-late", "v2"), default="v1")
    parser.add_argument("--sync", action="store_true", help="v2 without --mcp-async (wait=false refused)")
    parser.add_argument("--step-delay", type=float, default=0.2, help="seconds per sampling step")
    parser.add_argument("--download-delay", type=float, default=0.0, help="simulate a first-use weight download")
    parser.add_argument("--output-dir", default=None)
    parser.add_argument("--token", default=None, help="require this bearer token (like 13.x --mcp-auth)")
    parser.add_argument("--hide-paths", action="store_true", help="report server paths this machine cannot read")
    args = parser.parse_args(argv)
    server = Wan2GPStandIn(
        contract=args.contract,
        async_generate=not args.sync,
        output_dir=args.output_dir,
        step_delay=args.step_delay,
        download_delay=args.download_delay,
        share_paths=not args.hide_paths,
        token=args.token,
    )

    async def serve() -> None:
        url = await server.start(args.host, args.port)
        print(f"WanGP stand-in ({args.contract}) at {url}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
