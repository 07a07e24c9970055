"""One error hierarchy for everything GenBridge does.

Every error carries a message (what went wrong, in words a Blender user knows) and a hint (what to do next).
`fallback_ok` tells the router whether another backend could succeed where this one failed: true for
infrastructure problems (unreachable, out of memory, incompatible), never for the user's own input.
This module is stdlib-only so the Blender main thread can import it for free.
"""

from __future__ import annotations

from collections.abc import Callable

from .redact import redact


class GenBridgeError(Exception):
    """Base class: `message` says what happened, `hint` what the user can do about it."""

    code = "error"
    fallback_ok = False
    default_hint = "See the GenBridge job list for details."
    # Where it happened, set by the backend that raised it (redacted endpoint URL, the server's id for the job).
    endpoint = ""
    remote_id = ""

    def __init__(self, message: str, hint: str | None = None, *, service: str = "", detail: str = "") -> None:
        # Redacted once, here: an error may quote a server that echoed our key, and it goes everywhere from here on.
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.hint = redact(hint or self.default_hint)
        self.service = service
        self.detail = redact(detail)  # raw server text, kept for the log, never shown alone

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()

    def to_dict(self) -> dict[str, str]:
        """Plain data for events, the journal and the UI."""
        return {"code": self.code, "message": self.message, "hint": self.hint, "service": self.service}


class Unreachable(GenBridgeError):
    """The server did not accept a connection or dropped it."""

    code = "unreachable"
    fallback_ok = True
    default_hint = "Check that the service is running and that its URL in GenBridge preferences is right."


class ServiceTimeout(GenBridgeError):
    """The server accepted the request but did not answer in time."""

    code = "timeout"
    fallback_ok = True
    default_hint = "The service may be overloaded; try again, or raise the timeout in GenBridge preferences."


class RejectedInput(GenBridgeError):
    """The request itself is wrong: a bad prompt, size, model name or workflow. Another backend would not help."""

    code = "rejected_input"
    default_hint = "Fix the highlighted setting and generate again."


class OutOfMemory(GenBridgeError):
    """The server ran out of (video) memory."""

    code = "out_of_memory"
    fallback_ok = True
    default_hint = "Lower the resolution, frames or steps, close other GPU programs, or use a lighter model."


class IncompatibleServer(GenBridgeError):
    """The server speaks a protocol version or lacks nodes/models we need."""

    code = "incompatible"
    fallback_ok = True
    default_hint = "Update the service, or install the missing nodes or models it names."


class AuthError(GenBridgeError):
    """The server refused our credentials."""

    code = "auth"
    default_hint = "Set the right API key in GenBridge preferences (or its environment variable)."


class RateLimited(GenBridgeError):
    """The server asks us to slow down; `retry_after` is in seconds when the server said."""

    code = "rate_limited"
    fallback_ok = True
    default_hint = "Wait a moment and try again."

    def __init__(self, message: str, hint: str | None = None, *, retry_after: float | None = None, **kw: str) -> None:
        super().__init__(message, hint, **kw)
        self.retry_after = retry_after


class ServerError(GenBridgeError):
    """The server failed while doing the work (a 5xx, a node exception)."""

    code = "server_error"
    fallback_ok = True
    default_hint = "Look at the service's console for the cause, then try again."


class Cancelled(GenBridgeError):
    """The job was cancelled by the user (or by shutdown)."""

    code = "cancelled"
    default_hint = "Generate again when you are ready."


class OnlineAccessRefused(GenBridgeError):
    """A non-loopback URL while Blender's Allow Online Access (or the headless equivalent) is off."""

    code = "online_access"
    default_hint = (
        "Turn on Edit > Preferences > System > Network > Allow Online Access in Blender "
        "(headless: set allow_online = true in genbridge.toml or GENBRIDGE_ALLOW_ONLINE=1)."
    )


class ConfigError(GenBridgeError):
    """A setting (preferences, TOML, environment) is invalid."""

    code = "config"
    default_hint = "Fix the setting named above in GenBridge preferences or genbridge.toml."


class UnsafePath(GenBridgeError):
    """A server-given file name would escape the output folder."""

    code = "unsafe_path"
    default_hint = "The server sent a suspicious file name; nothing was written. Check the server's workflow."


class DownloadTooLarge(GenBridgeError):
    """A download exceeded the configured size cap."""

    code = "too_large"
    default_hint = "Raise the download size limit in GenBridge preferences if this output is expected."


class ReplyTooLarge(GenBridgeError):
    """A server's reply (JSON body, stream line or streamed text) passed its size cap: a broken or hostile server."""

    code = "reply_too_large"
    fallback_ok = True
    default_hint = (
        "The service sent far more than expected; check it is the right service. If the reply is legitimate, "
        "raise the reply size limit (reply_limit_mb in genbridge.toml or the add-on preferences)."
    )


class LocalProblem(GenBridgeError):
    """Something on this computer is wrong (output folder is a file, disk full, a name too long): never a fallback."""

    code = "local"
    default_hint = "Fix the path or folder named above (GenBridge preferences > Output folder), then generate again."


class MissingDependency(GenBridgeError):
    """A bundled library (aiohttp, websockets, pydantic) is missing or broken in this Blender."""

    code = "missing_dependency"
    default_hint = "Reinstall the GenBridge zip for your platform (Edit > Preferences > Get Extensions)."


# OS error numbers that mean "this computer" (its disk, its file names, its permissions), never the network.
_LOCAL_ERRNOS = {
    "ENOSPC": "there is no space left on the disk",
    "EDQUOT": "the disk quota is used up",
    "ENAMETOOLONG": "the file name is too long for this computer",
    "EACCES": "permission was denied",
    "EPERM": "the operation is not permitted",
    "EROFS": "the disk is read-only",
    "EISDIR": "a folder is where a file should be",
    "ENOTDIR": "a file is where a folder should be",
    "EEXIST": "a file is in the way",
    "EMFILE": "too many files are open",
    "ENFILE": "too many files are open",
    "EINVAL": "the name is not valid on this computer",
    "ENOENT": "it does not exist",
}


LOCAL_FILE_HINT = "Fix the file or folder named above (free disk space, a shorter path, permissions), then try again."


def local_problem(exc: OSError, hint: str | None = None) -> LocalProblem | None:
    """A LocalProblem for an OSError about a local file (disk full, name too long, output folder is a file...),
    or None when the error is not about a local file (a refused connection, for one)."""
    import errno as errno_mod

    name = errno_mod.errorcode.get(exc.errno or 0, "")
    if exc.filename is None and name not in _LOCAL_ERRNOS:
        return None
    if exc.filename is None and name in ("EACCES", "EPERM", "EINVAL"):
        return None  # without a file name these also come from sockets
    reason = _LOCAL_ERRNOS.get(name) or (exc.strerror or str(exc)).lower()
    # The default hint is about the output folder; most local problems are, but not all (a settings or policy
    # file), so callers that know say which, and everyone else gets the neutral one.
    hint = hint or LOCAL_FILE_HINT
    if exc.filename is None:
        return LocalProblem(f"A file operation on this computer failed: {reason}.", hint, detail=repr(exc))
    return LocalProblem(f"GenBridge could not use {_short_path(exc.filename)}: {reason}.", hint, detail=repr(exc))


def _short_path(path: object, limit: int = 160) -> str:
    """A path as a message shows it: whole when reasonable, else its start and end around an ellipsis."""
    text = str(path)
    return text if len(text) <= limit else f"{text[: limit // 2]}...{text[-limit // 2 :]} ({len(text)} characters)"


def should_fall_back(exc: BaseException, has_next: bool) -> bool:
    """The one fallback rule: try the next plan step only for infrastructure trouble another backend can fix.

    The user's own input errors (RejectedInput), auth problems, local problems and cancellations end the job where
    it is: another server would reject the same input, and trying it would only hide the message the user needs.
    """
    return has_next and isinstance(exc, GenBridgeError) and exc.fallback_ok


# How exceptions of libraries the core never imports (aiohttp) become GenBridge errors: the module that brings the
# library registers its mapper when it is loaded (backends/http.py), so this module imports none of the backends.
_LIBRARY_MAPPERS: dict[str, Callable[[BaseException, str], GenBridgeError]] = {}


def register_library_errors(module: str, mapper: Callable[[BaseException, str], GenBridgeError]) -> None:
    """Map exceptions raised from `module` (e.g. "aiohttp") with `mapper(exc, service)` in `error_from_exception`."""
    _LIBRARY_MAPPERS[module] = mapper


def error_from_exception(exc: BaseException, *, service: str = "") -> GenBridgeError:
    """Wrap anything unexpected so a job never ends without a user-facing message."""
    if isinstance(exc, GenBridgeError):
        return exc
    import asyncio

    if isinstance(exc, asyncio.CancelledError):
        return Cancelled("The job was cancelled.", service=service)
    mapper = _LIBRARY_MAPPERS.get(type(exc).__module__.partition(".")[0])
    if mapper is not None:
        return mapper(exc, service)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return ServiceTimeout(f"{service or 'The service'} did not answer in time.", service=service)
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
        local = local_problem(exc)
        if local is not None:
            return local
    if isinstance(exc, (ConnectionError, OSError)):
        return Unreachable(f"Could not reach {service or 'the service'}: {exc}", service=service, detail=repr(exc))
    if isinstance(exc, RecursionError):
        return RejectedInput(
            "The data is nested too deeply to read (a JSON or TOML file, or a server reply, with thousands of "
            "levels of brackets).",
            "Check the file or the service for damage; GenBridge reads only reasonably nested data.",
            service=service,
        )
    if isinstance(exc, UnicodeDecodeError):
        return RejectedInput(
            f"Some text is not valid UTF-8 (byte {exc.start}).", "Save the file as UTF-8.", service=service
        )
    if type(exc).__name__ == "ValidationError" and hasattr(exc, "errors"):
        # Data that did not fit its model: a server reply of an unexpected shape (most often) or a bad value.
        # The rejected values are never quoted: they may hold a key.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )[:600]
        where = f"{service} sent or was given" if service else "GenBridge got"
        return IncompatibleServer(
            f"{where} data of an unexpected shape ({problems}).",
            "Check that the URL points at the right service and that it is a supported version.",
            service=service,
        )
    return GenBridgeError(
        f"Unexpected error: {type(exc).__name__}: {exc}",
        "This is a GenBridge bug; please report it with the job id.",
        service=service,
        detail=repr(exc),
    )
