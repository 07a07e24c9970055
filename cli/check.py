"""`python -m genbridge check`: probe every configured endpoint and print a table (or --json)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from ..runtime.backend import ProbeResult
from ..runtime.settings import SERVICE_TITLES, Settings
from ._headless import load_settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser("check", help="probe every configured service endpoint")
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.add_argument("--all", action="store_true", help="include disabled endpoints")


async def probe_endpoints(settings: Settings, *, include_disabled: bool = False) -> list[ProbeResult]:
    """Probe concurrently with the real clients; an endpoint whose client fails to load is reported, not fatal.

    Latency is measured afterwards, one endpoint at a time, on each client's warm session: timed during the
    concurrent probes it would include session setup and the other probes' work on the same loop (5-20x too high,
    and the router uses it).
    """
    from ..backends import make_client
    from ..runtime.errors import error_from_exception
    from ..runtime.jobs import JobErrorInfo

    clients: dict[int, Any] = {}

    async def one(index: int, endpoint: Any) -> ProbeResult:
        try:
            client = clients[index] = make_client(endpoint, settings)
            if endpoint.service == "litellm":
                # Only here (an explicit check) does the proxy call the text model once: a dead model server
                # behind a healthy proxy is found.
                return await client.probe(deep=True)  # type: ignore[call-arg]
            return await client.probe()
        except Exception as exc:  # noqa: BLE001 - a broken client is one failing row, not a crash
            err = error_from_exception(exc, service=endpoint.service)
            return ProbeResult(
                service=endpoint.service,
                url=endpoint.url,
                label=endpoint.name,
                reachable=False,
                error=JobErrorInfo(**err.to_dict()),
            )

    endpoints = settings.all_endpoints(enabled_only=not include_disabled)
    try:
        results = list(await asyncio.gather(*(one(i, ep) for i, ep in enumerate(endpoints))))
        for i, result in enumerate(results):
            results[i] = await _measured_alone(clients.get(i), result)
        return results
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)


async def _measured_alone(client: Any, result: ProbeResult) -> ProbeResult:
    measure = getattr(client, "measure_latency", None)
    if measure is None or not result.reachable:
        return result
    from ..runtime.errors import GenBridgeError

    try:
        return result.model_copy(update={"latency_ms": await measure()})
    except GenBridgeError:
        return result


def _gb(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def status_of(r: ProbeResult) -> str:
    """'ok', 'NO' (unreachable) or 'FAILED' (reachable, but it refused the key, has a dead model...)."""
    if not r.reachable:
        return "NO"
    return "FAILED" if r.error is not None else "ok"


def _models(r: ProbeResult, limit: int = 3) -> str:
    names = [m for group in r.models.values() for m in group]
    if not names:
        return "-"
    return ", ".join(names[:limit]) + (f" +{len(names) - limit}" if len(names) > limit else "")


def format_table(results: list[ProbeResult]) -> str:
    rows = [("SERVICE", "URL", "STATUS", "VERSION", "VRAM FREE/TOTAL GB", "LATENCY", "MODELS")]
    for r in results:
        vram = "-" if r.vram_total_gb is None else f"{_gb(r.vram_free_gb)}/{_gb(r.vram_total_gb)}"
        if r.device == "cpu" and r.vram_total_gb is not None:
            vram += " (cpu RAM)"
        latency = "-" if r.latency_ms is None else f"{r.latency_ms:.0f} ms"
        rows.append(
            (
                SERVICE_TITLES.get(r.service, r.service),
                r.url,
                status_of(r),
                r.version or "-",
                vram,
                latency,
                _models(r),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for r in results:
        if r.error is not None:
            lines.append(f"  {SERVICE_TITLES.get(r.service, r.service)} {r.url}: {r.error.message} {r.error.hint}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    results = asyncio.run(probe_endpoints(settings, include_disabled=args.all))
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
    else:
        print(format_table(results) if results else "No endpoints are configured.")
    enabled = [r for r in results if any(e.url == r.url and e.enabled for e in settings.all_endpoints())]
    # Every failure counts: unreachable, and reachable-but-failing (a wrong key, a dead model behind the proxy).
    return 0 if results and all(status_of(r) == "ok" for r in enabled) else 1
