"""`python -m genbridge templates list|show|check <name> [--server URL]`: browse and check workflow templates."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from ..workflows import get_template, list_templates, preflight_error, structural_problems
from ._headless import load_settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser("templates", help="list, show or check workflow templates")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("list", help="every bundled and user template (broken ones with their error)")
    ls.add_argument("--json", action="store_true", help="print JSON for machines")
    show = actions.add_parser("show", help="a template's parameters and nodes")
    show.add_argument("name", help="template name or path to a workflow .json")
    show.add_argument("--json", action="store_true", help="print JSON for machines")
    check = actions.add_parser("check", help="check a template (and, with --server, that a ComfyUI can run it)")
    check.add_argument("name", help="template name or path to a workflow .json")
    check.add_argument("--server", help="ComfyUI URL to pre-flight against, e.g. http://127.0.0.1:8188")
    check.add_argument("--set", action="append", default=[], metavar="K=V", help="parameter value (repeatable)")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    if args.action == "list":
        return _list(settings, as_json=args.json)
    if args.action == "show":
        tpl = get_template(args.name, settings)
        if args.json:
            print(json.dumps(tpl.describe(), indent=1))
            return 0
        print(f"{tpl.name} ({tpl.kind}): {tpl.description}")
        for name, spec in tpl.params.items():
            info = spec.describe()
            extra = ", ".join(f"{k}={info[k]!r}" for k in ("default", "min", "max") if k in info)
            req = " (required)" if spec.required else ""
            print(f"  {name}: {spec.type}{req} {extra}  -> {', '.join(info['binds'])}")
            if spec.description:
                print(f"      {spec.description}")
        return 0
    return _check(args, settings)


def _list(settings: Any, *, as_json: bool) -> int:
    infos = list_templates(settings)
    if as_json:
        print(json.dumps([i.to_dict() for i in infos], indent=1))
        return 0
    for info in infos:
        status = f"BROKEN: {info.error}" if info.error else info.description
        print(f"{info.name:26} {info.kind:16} {info.source:8} {status}")
    return 1 if any(i.error for i in infos) else 0


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects K=V, got {pair!r}")
        out[key.strip()] = value
    return out


def _check(args: argparse.Namespace, settings: Any) -> int:
    tpl = get_template(args.name, settings)
    params = _parse_sets(args.set)
    for name, spec in tpl.params.items():  # fill required ones so the check covers the rest of the graph
        if spec.required and name not in params and spec.type in ("string", "model"):
            params[name] = "check"
    for name, spec in tpl.params.items():
        if spec.type == "image" and name not in params:
            params[name] = __file__  # any existing file: upload inputs are not checked against server files
    workflow = tpl.customize(**params)
    problems = structural_problems(workflow)
    if args.server:
        problems = asyncio.run(_live(workflow, args.server, settings))
    error = preflight_error(problems, server=args.server or "any server")
    if error is not None:
        print(f"{tpl.name}: {error.message}\n  {error.hint}")
        return 1
    where = f"on {args.server}" if args.server else "(structure and parameters; add --server to check a ComfyUI)"
    print(f"{tpl.name}: OK {where}")
    return 0


async def _live(workflow: dict[str, Any], url: str, settings: Any) -> list[Any]:
    import aiohttp

    from ..workflows import preflight_live

    timeout = aiohttp.ClientTimeout(total=settings.timeouts.request, connect=settings.timeouts.connect)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            return await preflight_live(workflow, url, session, allow_online=settings.allow_online)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            from ..backends.http import map_transport_error

            raise map_transport_error(exc, service="comfyui", url=url) from None
