"""Every WanGP failure mapped to GenBridge's error hierarchy in one place. Stdlib + runtime.errors only.

Each error names the endpoint (its label or host:port, never user info) and, once the server gave one, the WanGP job
id (`remote_id` attribute and in the detail), and tells the user what to do next.
"""

from __future__ import annotations

import json
from typing import Any

from ...runtime.errors import (
    AuthError,
    Cancelled,
    DownloadTooLarge,
    GenBridgeError,
    IncompatibleServer,
    OutOfMemory,
    RejectedInput,
    ReplyTooLarge,
    ServerError,
    ServiceTimeout,
    Unreachable,
)
from ...runtime.netpolicy import redact_url
from ...runtime.settings import Endpoint
from .models import JobErrorRecord, JobResultRecord, JobSnapshot

SERVICE = "WanGP"
START_HINT = (
    "Start WanGP's MCP server, e.g. `python wgp.py --mcp --mcp-transport streamable-http --mcp-host 127.0.0.1 "
    "--mcp-port 7866` (13.x: add `--mcp-api-version 2 --mcp-async`), and set its URL (ending in /mcp) in GenBridge."
)
BUSY_TEXT = "already has a generation in progress"
UNKNOWN_JOB_TEXT = "unknown wangp job_id"


def tag(error: GenBridgeError, endpoint: Endpoint | None = None, remote_id: str | None = None) -> GenBridgeError:
    """Attach where the error happened: `endpoint` (its display name) and `remote_id` (the WanGP job id)."""
    if endpoint is not None and not getattr(error, "endpoint", None):
        error.endpoint = endpoint.name  # type: ignore[attr-defined]
    if remote_id and not getattr(error, "remote_id", None):
        error.remote_id = remote_id  # type: ignore[attr-defined]
        error.detail = f"{error.detail} [WanGP job {remote_id}]".strip()
    return error


class ToolError(ServerError):
    """A tool answered `isError: true`; `tool` names it and `text` is the server's message without the prefix."""

    def __init__(self, tool: str, text: str) -> None:
        prefix = f"Error executing tool {tool}: "
        self.tool = tool
        self.text = text[len(prefix) :] if text.startswith(prefix) else text
        super().__init__(f"WanGP refused {tool}: {self.text}", service="wan2gp", detail=text)

    @property
    def unknown_job(self) -> bool:
        return UNKNOWN_JOB_TEXT in self.text.lower()

    @property
    def busy(self) -> bool:
        return BUSY_TEXT in self.text


# -- transport -----------------------------------------------------------------------------------------------------
def http_error(endpoint: Endpoint, url: str, status: int, method: str, text: str) -> GenBridgeError:
    """An HTTP status other than 2xx on an MCP request."""
    where = f"WanGP at {endpoint.name}"
    if status in (401, 403):
        error: GenBridgeError = AuthError(
            f"{where} refused the request ({status}).",
            "Set the WanGP MCP token (--mcp-auth) as the endpoint's key in GenBridge preferences.",
            service="wan2gp",
        )
    elif status == 404:
        error = IncompatibleServer(f"No MCP server answers at {redact_url(url)}.", START_HINT, service="wan2gp")
    elif status == 406:
        error = IncompatibleServer(
            f"{where} refused our request format (406).", START_HINT, service="wan2gp", detail=text[:500]
        )
    elif status >= 500:
        error = ServerError(f"{where} failed ({status}).", service="wan2gp", detail=text[:500])
    else:
        error = IncompatibleServer(
            f"{where} answered {status} to {method}: {_reason(text)}", START_HINT, service="wan2gp", detail=text[:500]
        )
    return tag(error, endpoint)


def _reason(text: str) -> str:
    """The server's own words from a JSON error body (`{"error": ...}` or a JSON-RPC error), else the text."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:200] or "no reason given"
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        err = err.get("message", err)
    return str(err if err is not None else body)[:200]


def rpc_error(endpoint: Endpoint, method: str, err: Any) -> GenBridgeError:
    message = err.get("message", err) if isinstance(err, dict) else err
    return tag(
        ServerError(f"WanGP rejected {method}: {message}.", service="wan2gp", detail=json.dumps(err)[:500]), endpoint
    )


def not_json(endpoint: Endpoint, url: str, method: str, content_type: str, raw: bytes) -> GenBridgeError:
    kind = f" ({content_type})" if content_type else ""
    return tag(
        IncompatibleServer(
            f"{redact_url(url)} answered {method} with something that is not a JSON-RPC reply{kind}: "
            "is it WanGP's MCP server?",
            START_HINT,
            service="wan2gp",
            detail=raw[:500].decode("utf-8", "replace"),
        ),
        endpoint,
    )


def stream_without_answer(endpoint: Endpoint, url: str, method: str) -> GenBridgeError:
    return tag(
        ServerError(
            f"WanGP at {endpoint.name}: the reply stream to {method} ended without an answer.",
            "The MCP server closed the stream early; try again, and check its console.",
            service="wan2gp",
        ),
        endpoint,
    )


def session_refused(endpoint: Endpoint, url: str) -> GenBridgeError:
    return tag(
        IncompatibleServer(
            f"The MCP server at {redact_url(url)} requires a session and refused ours, even a new one.",
            "Restart the MCP server; if it sits behind a gateway, check that the gateway keeps MCP sessions.",
            service="wan2gp",
        ),
        endpoint,
    )


def session_missing(endpoint: Endpoint, url: str, text: str) -> GenBridgeError:
    return tag(
        IncompatibleServer(
            f"The MCP server at {redact_url(url)} requires a session but gave none when GenBridge initialized.",
            "Check that the URL points at the MCP server itself (not a proxy that drops the Mcp-Session-Id header).",
            service="wan2gp",
            detail=text[:300],
        ),
        endpoint,
    )


def reply_too_large(what: str, limit: int) -> ReplyTooLarge:
    return ReplyTooLarge(
        f"WanGP sent an {what} larger than the {limit // (1024 * 1024)} MB limit; GenBridge stopped reading.",
        service="wan2gp",
    )


# -- tools and jobs --------------------------------------------------------------------------------------------------
def from_tool(exc: ToolError, endpoint: Endpoint | None = None, remote_id: str | None = None) -> GenBridgeError:
    """What a refused tool call means for the job."""
    text = exc.text
    lowered = text.lower()
    if "wait=false is unavailable" in lowered:
        error: GenBridgeError = IncompatibleServer(
            "This WanGP server only runs jobs synchronously.",
            "Restart WanGP with --mcp-async.",
            service="wan2gp",
            detail=text,
        )
    elif "unknown model" in lowered or "validation error" in lowered or "direct filesystem paths" in lowered:
        error = RejectedInput(f"WanGP rejected the job: {text}", service="wan2gp", detail=text)
    elif UNKNOWN_JOB_TEXT in lowered:
        error = ServerError("WanGP forgot this job (was it restarted?).", "Generate again.", service="wan2gp")
    else:
        error = exc
    return tag(error, endpoint, remote_id)


def from_job_record(
    message: str, stage: str, endpoint: Endpoint | None = None, remote_id: str | None = None
) -> GenBridgeError:
    """A failed job's first error (`result.errors[0]`), by what it says."""
    message, stage = message.strip(), stage or "runtime"
    lowered = message.lower()
    if "out of memory" in lowered or "outofmemory" in lowered:
        error: GenBridgeError = OutOfMemory(
            f"WanGP ran out of GPU memory during {stage}.", service="wan2gp", detail=message
        )
    elif "on the hub" in lowered or "huggingface" in lowered:
        error = ServerError(
            f"WanGP could not download the model weights: {message}",
            "The first run of a model downloads many GB; check the WanGP machine's internet "
            "connection or copy the weights into its ckpts folder.",
            service="wan2gp",
            detail=message,
        )
    elif stage == "validation":
        error = RejectedInput(f"WanGP rejected the job: {message}", service="wan2gp", detail=message)
    else:
        error = ServerError(f"WanGP failed during {stage}: {message}", service="wan2gp", detail=message)
    return tag(error, endpoint, remote_id)


def from_snapshot(snapshot: JobSnapshot, endpoint: Endpoint | None = None) -> GenBridgeError:
    """A finished job that did not succeed: its cancel, or its first error that is not a cancel."""
    if snapshot.cancelled:
        return cancelled(endpoint, snapshot.job_id)
    result = snapshot.result or JobResultRecord()
    failed = [e for e in result.errors if not e.cancelled] or result.errors
    first = failed[0] if failed else JobErrorRecord(message="the job ended without a result", stage="runtime")
    return from_job_record(first.message, first.stage, endpoint, snapshot.job_id)


def cancelled(endpoint: Endpoint | None = None, remote_id: str | None = None) -> GenBridgeError:
    return tag(Cancelled("The WanGP job was cancelled.", service="wan2gp"), endpoint, remote_id)


def upload_refused(name: str, status: int, body: Any) -> GenBridgeError:
    """A refused PUT: the server's own reason belongs in the message (e.g. "cannot identify image file")."""
    reason = body.get("error") if isinstance(body, dict) else body
    reason_text = str(reason or "").strip()[:300]
    kind = RejectedInput if status in (400, 413, 415) else ServerError  # the file itself, or the server
    return kind(
        f"WanGP refused the upload of {name} ({status})" + (f": {reason_text}" if reason_text else "."),
        "Check that the file is a valid image or video WanGP can read.",
        service="wan2gp",
        detail=str(body)[:300],
    )


# -- media transfers -------------------------------------------------------------------------------------------------
def transfer_lost(action: str, name: str, exc: BaseException, endpoint: Endpoint) -> GenBridgeError:
    return tag(Unreachable(f"Lost WanGP while {action} {name}.", service="wan2gp", detail=repr(exc)), endpoint)


def transfer_timeout(what: str, name: str, endpoint: Endpoint) -> GenBridgeError:
    return tag(ServiceTimeout(f"WanGP did not finish the {what} of {name} in time.", service="wan2gp"), endpoint)


def upload_too_large(name: str, max_bytes: int, endpoint: Endpoint) -> GenBridgeError:
    return tag(RejectedInput(f"{name} is larger than WanGP accepts ({max_bytes} bytes).", service="wan2gp"), endpoint)


def upload_without_id(endpoint: Endpoint) -> GenBridgeError:
    return tag(IncompatibleServer("WanGP accepted an upload but returned no media id.", service="wan2gp"), endpoint)


def output_too_large(name: str, size: int, limit: int) -> GenBridgeError:
    return DownloadTooLarge(
        f"The WanGP output {name} is {size / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB limit.", service="wan2gp"
    )


def download_refused(name: str, status: int, text: str, endpoint: Endpoint) -> GenBridgeError:
    reason = _reason(text)
    return tag(
        ServerError(f"WanGP refused the download of {name} ({status}): {reason}", service="wan2gp", detail=text[:300]),
        endpoint,
    )


def download_short(name: str, written: int, size: int, endpoint: Endpoint) -> GenBridgeError:
    return tag(
        ServerError(f"The download of {name} stopped early ({written} of {size} bytes).", service="wan2gp"), endpoint
    )


def bad_transfer_url(url: str) -> GenBridgeError:
    return IncompatibleServer(f"WanGP gave an unexpected transfer URL '{url[:200]}'.", service="wan2gp")
