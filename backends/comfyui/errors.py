"""Every ComfyUI failure mapped to a GenBridgeError in one place, each carrying the endpoint and the prompt id.

Loop thread only (pure functions, no I/O). Messages say what went wrong in the user's words and what to do next;
the raw server text goes into `detail` (for the log), never shown alone.
"""

from __future__ import annotations

import re
from typing import Any

from ...runtime.errors import (
    AuthError,
    Cancelled,
    DownloadTooLarge,
    GenBridgeError,
    IncompatibleServer,
    LocalProblem,
    OutOfMemory,
    RejectedInput,
    ServerError,
    ServiceTimeout,
    Unreachable,
)
from ...runtime.netpolicy import redact_url
from .models import PromptRejected

SERVICE = "comfyui"
INSTALL_HINT = (
    "Install the custom node pack that provides it (ComfyUI Manager > Install Missing Custom Nodes), "
    "restart ComfyUI, then try again."
)
CACHE_HINT = (
    "For a fresh run change an input (for example a new seed, -1), or free ComfyUI's cache first "
    "(Free memory in GenBridge, or POST /free)."
)
_MISSING_OLD = re.compile(r"node (?P<cls>\S+) does not exist", re.IGNORECASE)


def locate(err: GenBridgeError, endpoint: str, remote_id: str = "") -> GenBridgeError:
    """Stamp where `err` happened (first stamp wins: the innermost caller knows best)."""
    if not err.endpoint:
        err.endpoint = redact_url(endpoint)
    if remote_id and not err.remote_id:
        err.remote_id = remote_id
    if not err.service:
        err.service = SERVICE
    return err


def no_answer_or_refused(
    exc: BaseException, *, title: str, endpoint: str, path: str, timeout_s: float
) -> GenBridgeError | None:
    """The two transport failures the ComfyUI and Comfy API v2 clients word alike: no answer within the deadline,
    and a connection refused; None for any other failure (each client words those itself)."""
    import aiohttp

    where = redact_url(endpoint)
    if isinstance(exc, TimeoutError):
        return ServiceTimeout(
            f"{title} at {where} accepted the connection but did not answer {path} within {timeout_s:g} s.",
            service=SERVICE,
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Unreachable(f"Could not connect to {title} at {where}.", service=SERVICE)
    return None


def transport_error(exc: BaseException, *, endpoint: str, path: str, timeout_s: float) -> GenBridgeError:
    """A connection that failed, dropped or timed out."""
    err = no_answer_or_refused(exc, title="ComfyUI", endpoint=endpoint, path=path, timeout_s=timeout_s)
    if err is None:
        from ..http import map_transport_error  # not HTTP at all, cut off midway, closed at once: each its message

        err = map_transport_error(exc, service=SERVICE, url=redact_url(endpoint))
    return locate(err, endpoint)


def status_error(status: int, ctype: str, text: str, *, endpoint: str, path: str) -> GenBridgeError | None:
    """The error an HTTP status means on any ComfyUI route, or None when the caller should read the body."""
    where = redact_url(endpoint)
    err: GenBridgeError | None = None
    if status in (502, 503, 504):
        what = "A proxy in front of ComfyUI" if "html" in ctype else "ComfyUI"
        err = Unreachable(
            f"{what} answered HTTP {status} at {where}: ComfyUI is not responding.",
            "Start ComfyUI (or check the proxy's upstream address), then try again.",
            service=SERVICE,
            detail=text[:300],
        )
    elif status == 401:
        err = AuthError(f"ComfyUI at {where} asked for credentials (HTTP 401 on {path}).", service=SERVICE)
    elif status == 403:
        err = ServerError(
            f"ComfyUI at {where} refused the request (HTTP 403 on {path}).",
            "Check the API key in GenBridge preferences; if ComfyUI runs behind a proxy, make sure the proxy does "
            "not add a mismatched Origin header.",
            service=SERVICE,
        )
    elif status >= 500:
        err = ServerError(f"ComfyUI failed on {path} (HTTP {status}): {text.strip()[:200]}", service=SERVICE)
    return locate(err, endpoint) if err is not None else None


def not_comfyui(*, endpoint: str, path: str, what: str, detail: str = "") -> GenBridgeError:
    return locate(
        IncompatibleServer(
            f"{redact_url(endpoint)}{path} did not answer like ComfyUI ({what}).",
            "Check that the URL points at ComfyUI.",
            service=SERVICE,
            detail=detail[:300],
        ),
        endpoint,
    )


def socket_refused(status: int, *, endpoint: str) -> GenBridgeError:
    """The websocket handshake was refused: never retried, since a retry gets the same answer."""
    where = redact_url(endpoint)
    if status == 401:
        err: GenBridgeError = AuthError(
            f"ComfyUI at {where} refused the websocket: it asks for credentials (HTTP 401).", service=SERVICE
        )
    else:
        err = ServerError(
            f"ComfyUI at {where} refused the websocket (HTTP {status}).",
            "Check the API key in GenBridge preferences; behind a proxy, make sure it forwards websockets and adds "
            "no mismatched Origin header.",
            service=SERVICE,
        )
    return locate(err, endpoint)


def node_messages(rejected: PromptRejected, graph: dict[str, Any]) -> list[str]:
    """One line per rejected node: its id, title, class and every input problem."""
    out = []
    for nid, err in rejected.node_errors.items():
        node = graph.get(nid) or {}
        title = (node.get("_meta") or {}).get("title") or err.class_type or node.get("class_type", "")
        reasons = ", ".join(
            f"{e.extra_info.get('input_name') or e.details or 'input'}: {e.message}"
            + (f" ({e.details})" if e.details and e.details != e.extra_info.get("input_name") else "")
            for e in err.errors
        )
        out.append(f"node {nid} '{title}' ({err.class_type or node.get('class_type', '?')}): {reasons}")
    return out


def rejection(reply: Any, graph: dict[str, Any], *, endpoint: str, prompt_id: str) -> GenBridgeError:
    """A 400 from POST /prompt, classified by `error.type` (0.3.64 and 0.38 vocabularies)."""
    rejected = PromptRejected.model_validate(reply if isinstance(reply, dict) else {})
    err = rejected.error
    kind = err.type
    old_missing = _MISSING_OLD.search(err.message) if kind == "invalid_prompt" else None
    if kind == "missing_node_type" or old_missing:
        cls = str(err.extra_info.get("class_type") or (old_missing.group("cls") if old_missing else "") or "?")
        node = err.extra_info.get("node_id") or _node_from_details(err.details)
        title = err.extra_info.get("node_title") or ((graph.get(str(node)) or {}).get("_meta") or {}).get("title")
        where = f" (node {node}{f' {title!r}' if title else ''})" if node else ""
        out: GenBridgeError = IncompatibleServer(
            f"ComfyUI at {redact_url(endpoint)} lacks the node class '{cls}' the workflow uses{where}.",
            INSTALL_HINT,
            service=SERVICE,
            detail=err.message,
        )
    elif kind == "invalid_prompt_id":
        out = GenBridgeError(
            f"ComfyUI refused GenBridge's job id {prompt_id!r}: {err.message}.",
            "This is a GenBridge bug; please report it with the job id.",
            service=SERVICE,
        )
    elif kind == "dependency_cycle":
        lines = node_messages(rejected, graph) or [err.details or err.message]
        out = RejectedInput(
            "The workflow has a loop: " + "; ".join(lines) + ".",
            "Remove the link that feeds a node's output back into itself.",
            service=SERVICE,
        )
    elif kind == "prompt_no_outputs":
        out = RejectedInput(
            "The workflow has no output node, so ComfyUI would do nothing.",
            "Add a Save Image (or Save Video) node to the workflow.",
            service=SERVICE,
        )
    else:
        lines = node_messages(rejected, graph)
        if not lines:
            lines = [f"{err.message}{' (' + err.details + ')' if err.details else ''}"]
        out = RejectedInput(
            "ComfyUI rejected the workflow: " + "; ".join(lines) + ".",
            "Fix the named node inputs and generate again.",
            service=SERVICE,
        )
    return locate(out, endpoint, prompt_id)


def _node_from_details(details: str) -> str:
    m = re.search(r"#(\w+)", details or "")
    return m.group(1) if m else ""


def execution_error(data: dict[str, Any], graph: dict[str, Any], *, endpoint: str, prompt_id: str) -> GenBridgeError:
    """`execution_error` (ws, history status, or the jobs API's `execution_error`)."""
    node = str(data.get("node_id", "?"))
    title = ((graph.get(node) or {}).get("_meta") or {}).get("title") or data.get("node_type", "")
    text = str(data.get("exception_message", "")).strip()
    kind = str(data.get("exception_type", ""))
    message = f"ComfyUI failed in node {node} '{title}' ({data.get('node_type', '?')}): {text}"
    if "OutOfMemory" in kind or "out of memory" in text.lower():
        return locate(OutOfMemory(message, service=SERVICE, detail=kind), endpoint, prompt_id)
    return locate(ServerError(message, service=SERVICE, detail=kind), endpoint, prompt_id)


def interrupted(*, endpoint: str, prompt_id: str) -> GenBridgeError:
    return locate(Cancelled("ComfyUI stopped the job (interrupted).", service=SERVICE), endpoint, prompt_id)


def lost(*, endpoint: str, prompt_id: str, reattaching: bool = False) -> GenBridgeError:
    """ComfyUI no longer knows the job: it was restarted (queue and history live in memory only)."""
    if reattaching:
        err = ServerError(
            "ComfyUI was restarted and lost this job; generate again.",
            "Press Retry in the job list to send it again with the same inputs and seed.",
            service=SERVICE,
        )
    else:
        err = ServerError(
            f"ComfyUI at {redact_url(endpoint)} no longer knows this job; it was probably restarted.",
            "Generate again. Outputs it already wrote stay in ComfyUI's output folder.",
            service=SERVICE,
        )
    return locate(err, endpoint, prompt_id)


def cache_hit_without_outputs(*, endpoint: str, prompt_id: str) -> GenBridgeError:
    return locate(
        RejectedInput(
            "ComfyUI reused cached results and produced no files: nothing changed since the last run.",
            CACHE_HINT,
            service=SERVICE,
        ),
        endpoint,
        prompt_id,
    )


def lost_contact(reason: str, *, endpoint: str, prompt_id: str) -> GenBridgeError:
    return locate(
        Unreachable(
            f"Lost contact with ComfyUI at {redact_url(endpoint)} while it was running this job ({reason})",
            "Start ComfyUI again; outputs it already wrote stay in its output folder.",
            service=SERVICE,
        ),
        endpoint,
        prompt_id,
    )


# ---- files: uploads and /view downloads -----------------------------------------------------------------------


def image_missing(path: object) -> GenBridgeError:
    return RejectedInput(f"The input image {path} does not exist.", "Pick an existing image file.", service=SERVICE)


def image_too_large(name: str, size: int, limit: int | None) -> GenBridgeError:
    if limit:
        return RejectedInput(
            f"{name} is {size / 2**20:.0f} MB; ComfyUI accepts uploads up to {limit / 2**20:.0f} MB.",
            "Use a smaller image, or start ComfyUI with a larger --max-upload-size.",
            service=SERVICE,
        )
    return RejectedInput(
        f"ComfyUI refused {name}: it is larger than its upload limit.",
        "Use a smaller image, or raise ComfyUI's --max-upload-size.",
        service=SERVICE,
    )


def upload_refused(name: str, status: int | None = None) -> GenBridgeError:
    if status is None:
        return ServerError(f"ComfyUI did not say where it stored {name}.", service=SERVICE)
    return ServerError(f"ComfyUI refused the upload of {name} (HTTP {status}).", service=SERVICE)


def file_refused(name: object, status: int) -> GenBridgeError:
    if status == 404:
        return ServerError(
            f"ComfyUI no longer has the output file '{name}'.",
            "Temporary outputs are deleted when ComfyUI restarts; generate again.",
            service=SERVICE,
        )
    return ServerError(f"ComfyUI refused to send '{name}' (HTTP {status}).", service=SERVICE)


def file_too_large(name: object, size: int, limit: int) -> DownloadTooLarge:
    return DownloadTooLarge(
        f"'{name}' is larger than the download limit ({size / 2**20:.0f} MB > {limit / 2**20:.0f} MB).",
        service=SERVICE,
    )


def download_deadline(name: object, deadline_s: float) -> GenBridgeError:
    return ServiceTimeout(
        f"Downloading '{name}' from ComfyUI did not finish within {deadline_s:g} s; the part already received is kept.",
        "Raise the download timeout in GenBridge preferences for very large outputs.",
        service=SERVICE,
    )


def download_broke(name: object, last: BaseException | None) -> GenBridgeError:
    return Unreachable(
        f"The download of '{name}' kept breaking ({type(last).__name__}); the part already received is kept.",
        service=SERVICE,
    )


def local_write(path: object, exc: OSError) -> GenBridgeError:
    """Disk full, a folder that is a file, a name the file system refuses: never worth a fallback."""
    return LocalProblem(f"Could not write {path}: {exc.strerror or exc}.", service=SERVICE)


# ---- server and socket ------------------------------------------------------------------------------------------


def too_old(version: str, *, endpoint: str) -> GenBridgeError:
    return locate(
        IncompatibleServer(
            f"ComfyUI {version} at {redact_url(endpoint)} is too old: GenBridge needs 0.3.45 or newer "
            "(client-assigned prompt ids).",
            "Update ComfyUI (git pull, or the ComfyUI Manager's 'Update ComfyUI').",
            service=SERVICE,
        ),
        endpoint,
    )


def unexpected_status(code: int, what: str, *, endpoint: str) -> GenBridgeError:
    return locate(ServerError(f"ComfyUI answered HTTP {code} to {what}.", service=SERVICE), endpoint)


def socket_unreachable(ws_url: str) -> GenBridgeError:
    return locate(Unreachable(f"Could not open ComfyUI's websocket at {redact_url(ws_url)}.", service=SERVICE), ws_url)
