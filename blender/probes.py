"""Probing one endpoint for the preferences' Test button.

Thread rule: `probe_one` runs on the loop thread (it is awaited inside `Runtime.run`); it never touches bpy and
returns plain data that the main thread receives in an "endpoint_test" event.
"""

from __future__ import annotations

from typing import Any


def endpoint_key(service: str, url: str) -> str:
    """The cache key of one endpoint's Test result: "service|url" without a trailing slash."""
    return f"{service}|{url.strip().rstrip('/')}"


async def probe_one(job_service: Any, service: str, row: dict[str, Any]) -> dict[str, Any]:
    """Probe one endpoint with a fresh client (so a just-edited key is used), as plain data."""
    from ..runtime.errors import GenBridgeError, error_from_exception
    from ..runtime.netpolicy import redact_url
    from ..runtime.settings import Endpoint

    try:
        endpoint = Endpoint.build(
            service,
            row["url"],
            key=row.get("key"),
            label=row.get("label", ""),
            kind=row.get("kind") or "native",
            partner_key=row.get("partner_key"),
        )
        client = job_service.client_factory(endpoint, job_service.settings)
        try:
            result = await client.probe()
        finally:
            await client.close()
        return dict(result.model_dump(mode="json"))
    except Exception as exc:  # noqa: BLE001 - a bad URL or refused host is an answer to show, not a crash
        err = exc if isinstance(exc, GenBridgeError) else error_from_exception(exc, service=service)
        return {"service": service, "url": redact_url(row["url"]), "reachable": False, "error": err.to_dict()}
