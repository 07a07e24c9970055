"""Every Comfy API v2 failure mapped to a GenBridgeError in one place, each carrying the endpoint and the job id.

Loop thread only (pure functions, no I/O). The v2 error envelope is `{"error": {"code", "message", "details"}}`;
the codes handled here are the ones `comfy-api-proxy` 0.1.6 sends (and the contract names): `unauthorized` (401),
`not_found` (404), `invalid_workflow` / `workflow_format_ui` / `missing_asset` / `invalid_request` (4xx),
`too_many_streams` (429 with Retry-After), `payload_too_large` (413), `hash_mismatch` (409),
`upstream_unreachable` (503), `upstream_error` (5xx), `output_unavailable` (404 on content).
"""

from __future__ import annotations

from typing import Any

from ...runtime.errors import (
    AuthError,
    Cancelled,
    GenBridgeError,
    OutOfMemory,
    RateLimited,
    RejectedInput,
    ServerError,
    Unreachable,
)
from ...runtime.netpolicy import redact_url

# The v2 client stamps errors as ComfyUI's do: same service, same first-stamp-wins `locate`.
from ..comfyui.errors import SERVICE, locate, no_answer_or_refused

TITLE = "Comfy API v2"
KEY_HINT = (
    'Set the endpoint\'s key (GenBridge preferences > ComfyUI endpoint > Key, key = "..." in genbridge.toml, or '
    "GENBRIDGE_COMFYUI_KEY) to the server's bearer token."
)
PREFLIGHT_UNAVAILABLE = (
    "Pre-flight is not available on this endpoint: the Comfy API v2 offers no node or model information, so a "
    "missing node or model shows only when the server runs the workflow."
)


def envelope(body: Any) -> tuple[str, str, Any]:
    """(code, message, details) of a v2 error body; blanks when the body is not one."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return "", "", None
    return str(err.get("code") or ""), str(err.get("message") or "")[:500], err.get("details")


def transport_error(exc: BaseException, *, endpoint: str, path: str, timeout_s: float) -> GenBridgeError:
    """A connection that failed, dropped or timed out."""
    err = no_answer_or_refused(exc, title=TITLE, endpoint=endpoint, path=path, timeout_s=timeout_s)
    if err is None:
        err = Unreachable(
            f"{TITLE} at {redact_url(endpoint)} dropped the connection ({type(exc).__name__}).", service=SERVICE
        )
    return locate(err, endpoint)


def status_error(
    status: int, body: Any, *, endpoint: str, path: str, job_id: str = "", retry_after: float | None = None
) -> GenBridgeError:
    """The error a non-2xx reply means, from its status and (when there is one) its v2 error envelope."""
    where = redact_url(endpoint)
    code, message, details = envelope(body)
    said = f": {message}" if message else ""
    err: GenBridgeError
    if status == 401 or code == "unauthorized":
        err = AuthError(f"{TITLE} at {where} refused the request ({message or 'HTTP 401'}).", KEY_HINT, service=SERVICE)
    elif status == 403:
        err = AuthError(
            f"{TITLE} at {where} forbade {path} (HTTP 403{said}).",
            "Check the key, and that this account may use the endpoint.",
            service=SERVICE,
        )
    elif status == 429:
        err = RateLimited(
            f"{TITLE} at {where} asks GenBridge to slow down ({code or 'HTTP 429'}{said}).",
            service=SERVICE,
            retry_after=retry_after,
        )
    elif code in ("invalid_workflow", "workflow_format_ui", "missing_asset", "invalid_request") or status == 422:
        err = RejectedInput(
            f"{TITLE} at {where} rejected the workflow{said}{_node_errors(details)}",
            "Fix the workflow (API format, installed nodes and models), then try again.",
            service=SERVICE,
        )
    elif status == 413 or code == "payload_too_large":
        err = RejectedInput(
            f"{TITLE} at {where} refused a file as too large{said}",
            "Use a smaller input file, or raise the server's upload limit (comfy-api-proxy --max-upload-mb).",
            service=SERVICE,
        )
    elif status == 404:
        err = ServerError(f"{TITLE} at {where} does not know {path}{said}", service=SERVICE)
    elif status == 503 or code == "upstream_unreachable":
        err = Unreachable(
            f"{TITLE} at {where} cannot reach its ComfyUI{said}",
            "Start the ComfyUI behind the proxy (or check the proxy's --comfyui address), then try again.",
            service=SERVICE,
        )
    else:
        err = ServerError(f"{TITLE} at {where} answered HTTP {status} to {path}{said}", service=SERVICE)
    return locate(err, endpoint, job_id)


def _node_errors(details: Any) -> str:
    nodes = details.get("node_errors") if isinstance(details, dict) else None
    if not isinstance(nodes, dict) or not nodes:
        return "."
    parts = []
    for node_id, info in list(nodes.items())[:5]:
        errs = info.get("errors") if isinstance(info, dict) else None
        first = errs[0] if isinstance(errs, list) and errs and isinstance(errs[0], dict) else {}
        text = first.get("details") or first.get("message") or "invalid"
        cls = info.get("class_type", "?") if isinstance(info, dict) else "?"
        parts.append(f"node {node_id} ({cls}): {str(text)[:200]}")
    return " (" + "; ".join(parts) + ")."


def job_failed(error: Any, graph: dict[str, Any], *, endpoint: str, job_id: str) -> GenBridgeError:
    """A job whose status is `failed`: its `error` object names the node and the exception."""
    err = error if isinstance(error, dict) else {}
    node = str(err.get("node_id") or "?")
    cls = str(err.get("class_type") or "?")
    title = ((graph.get(node) or {}).get("_meta") or {}).get("title") or cls
    text = str(err.get("message") or "execution failed").strip()[:500]
    message = f"ComfyUI (through {TITLE}) failed in node {node} '{title}' ({cls}): {text}"
    if "out of memory" in text.lower() or "OutOfMemory" in text:
        return locate(OutOfMemory(message, service=SERVICE), endpoint, job_id)
    return locate(ServerError(message, service=SERVICE, detail=str(err.get("code") or "")), endpoint, job_id)


def canceled(*, endpoint: str, job_id: str) -> GenBridgeError:
    return locate(Cancelled(f"{TITLE} at {redact_url(endpoint)} cancelled the job.", service=SERVICE), endpoint, job_id)


def lost(*, endpoint: str, job_id: str, reattaching: bool = False) -> GenBridgeError:
    """The server no longer knows the job (expired, or a proxy restarted without --state-dir)."""
    where = redact_url(endpoint)
    hint = (
        "Press Retry in the job list to send it again with the same inputs and seed."
        if reattaching
        else "Generate again."
    )
    err = ServerError(f"{TITLE} at {where} no longer knows this job (expired or restarted).", hint, service=SERVICE)
    return locate(err, endpoint, job_id)


def output_gone(name: str, *, endpoint: str, job_id: str) -> GenBridgeError:
    return locate(
        ServerError(
            f"{TITLE} at {redact_url(endpoint)} no longer has the output '{name}'.",
            "Outputs expire (24 h on the v2 surface); generate again.",
            service=SERVICE,
        ),
        endpoint,
        job_id,
    )
