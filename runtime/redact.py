"""Keep secrets out of everything GenBridge shows, logs or journals. Stdlib only; safe on any thread.

A server that echoes our bearer key in an error message must not get it printed, logged or journaled. So:
- every configured key is registered here when settings are validated (`register_secrets`), and the
  `GENBRIDGE_<SERVICE>_KEY` environment variables are read at redaction time;
- `redact(text)` replaces every known secret, and the `user:password@` part of any URL, in a piece of text;
- `GenBridgeError` redacts its message, hint and detail when it is built, so an error is clean wherever it goes
  (job events, the journal, the command line, probe results); the job service redacts journal records and log
  notes with `redact_data`;
- `install_log_redaction()` puts a handler on the `genbridge` logger that rewrites each record (message,
  arguments and traceback text) before any other handler (root's included) formats it.

The registry is process-wide on purpose: the logging machinery is process-wide too, and a key once configured
stays a secret even after the settings change. It only ever grows, by the handful of keys a user configures.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import Any

from .services import SERVICES, key_env_var

MASK = "***"
# Shorter values are not treated as secrets: masking every "ab" in every message would garble it. So keys that short
# are refused where they are configured (runtime.endpoint_rows); this floor only guards anything that slips past.
MIN_SECRET_LENGTH = 4

# The key variables read at redaction time: one per service, plus the Comfy.org partner-node key (Comfy API v2).
ENV_KEYS = (*(key_env_var(s) for s in SERVICES), "GENBRIDGE_COMFY_ORG_KEY")

_lock = threading.Lock()
_registered: set[str] = set()

# scheme://user:password@host -> scheme://host ; also catches user-only forms (scheme://token@host).
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"<>]+@")


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember these values as secrets (keys from settings or preferences); blanks and tiny values are ignored."""
    fresh = {v.strip() for v in values if v and len(v.strip()) >= MIN_SECRET_LENGTH}
    if not fresh:
        return
    with _lock:
        _registered.update(fresh)


def known_secrets() -> list[str]:
    """Every registered key plus the key environment variables, longest first (so a key that contains another
    is masked whole)."""
    with _lock:
        found = set(_registered)
    for var in ENV_KEYS:
        value = os.environ.get(var, "").strip()
        if len(value) >= MIN_SECRET_LENGTH:
            found.add(value)
    return sorted(found, key=len, reverse=True)


def redact(text: str, secrets: list[str] | None = None) -> str:
    """`text` with every known secret (or the given `secrets`) and any URL user info replaced."""
    if not text:
        return text
    for secret in known_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if "@" in text and "://" in text:
        text = _URL_USERINFO.sub(r"\g<scheme>", text)
    return text


def redact_data(value: Any) -> Any:
    """A copy of plain data (dicts, lists, strings) with every string redacted; other values are kept as they are."""
    return _walk(value, known_secrets())  # the secrets are looked up once per record, not once per string


def _walk(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _walk(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_walk(v, secrets) for v in value)
    return value


class _RedactingHandler(logging.Handler):
    """Attached to the `genbridge` logger: rewrites each record in place before the handlers above it (root's,
    pytest's, Blender's console) format it. It writes nothing itself."""

    def handle(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() never calls it
        pass


class RedactingFilter(logging.Filter):
    """The same rewrite as a filter, for handlers and loggers outside the `genbridge` tree."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def redact_record(record: logging.LogRecord) -> None:
    """Rewrite a log record so that neither its message nor its traceback text carries a secret."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a record with bad arguments is logged as it stands, just redacted
        message = str(record.msg)
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install_log_redaction(logger_name: str | None = None) -> None:
    """Make every record of `logger_name` and its children redacted before any handler sees it. Idempotent.

    By default both the `genbridge` logger (explicitly named loggers) and the package's own top logger, which in
    Blender is `bl_ext.<repo>.genbridge` (modules that log under `__name__`).
    """
    package = __name__.rsplit(".runtime.redact", 1)[0]
    for name in [logger_name] if logger_name else sorted({"genbridge", package}):
        logger = logging.getLogger(name)
        if not any(isinstance(h, _RedactingHandler) for h in logger.handlers):
            # First in the list: handlers run in order, and this one only rewrites the record.
            logger.handlers.insert(0, _RedactingHandler())


class StreamRedactor:
    """Masks keys in text that arrives in pieces (a streamed answer), where a key may be split across pieces.

    `redact()` on each piece alone would let `sk-ab` + `cd...` through: each half is harmless, the screen shows
    the whole key. So each piece is joined to what was held back from the previous one, and only the
    *suspicious tail* is held back again: from the start of the longest suffix that is the beginning of some key
    (at most the longest key's length - 1 characters), or from the start of a whole key that reaches into that
    suffix (a key inside a longer one: "ab12" in "sk-ab123"). The rest is masked and shown. Ordinary text ends
    with no such suffix and goes out at once, so a stream's latency only changes at the few characters that could
    start a key: they wait for the next piece, which either completes the key (masked) or shows they were not
    one (shown unchanged). `flush()` releases what is held, masked, at the end of the stream, on cancel and on error.

    No text is dropped or reordered: joined, what is released is `redact(whole text)` (for keys that do not
    overlap one another). No configured key ever crosses the border between two released parts, so none appears
    in the joined text (unless a key contains the mask `***` itself). The keys are looked up at each piece, so a
    key configured mid-stream counts from its next piece. URL user info split across pieces is not rejoined (URLs
    with user info are refused at configuration). One instance per stream; not thread-safe.
    """

    __slots__ = ("_held", "_secrets")

    def __init__(self, secrets: list[str] | None = None) -> None:
        self._held = ""  # raw text, never shown as it is
        self._secrets = secrets  # fixed keys (tests, benches); None: the configured ones, looked up per piece

    def feed(self, piece: str) -> str:
        """The part of `held + piece` that can be shown now, keys masked; the suspicious tail is kept back."""
        secrets = known_secrets() if self._secrets is None else self._secrets
        text = self._held + piece
        cut = _safe_cut(text, secrets)
        self._held = text[cut:]
        return redact(text[:cut], secrets)

    def flush(self) -> str:
        """Whatever is still held, masked (a key's beginning that the stream never completed); the stream is over."""
        held, self._held = self._held, ""
        return redact(held, self._secrets)

    @property
    def held(self) -> str:
        return self._held


def _safe_cut(text: str, secrets: list[str]) -> int:
    """Where `text` may be cut: before its longest suffix that is a proper prefix of a key, and before any whole
    key that would otherwise be cut in two."""
    cut = len(text)
    for secret in secrets:
        # Candidates start where the key's first character occurs in the last len(key) - 1 characters (a suffix
        # as long as the key would be the key itself, masked when released); the leftmost match is the longest.
        # Searching for that character, not trying every length, keeps a chunk of prose at a few microseconds.
        at = text.find(secret[0], max(0, len(text) - len(secret) + 1))
        while -1 < at < cut:
            if secret.startswith(text[at:]):
                cut = at
                break
            at = text.find(secret[0], at + 1)
    moved = True
    while moved:  # moving the cut back can put it inside another key: repeat until no key straddles it
        moved = False
        for secret in secrets:
            start = text.find(secret, max(0, cut - len(secret) + 1))
            if -1 < start < cut < start + len(secret):
                cut, moved = start, True
    return cut
