"""Why one configured endpoint cannot be used, in the user's words. Stdlib only: Blender's main thread (status
box, preferences) and the settings validation on the loop thread give the same message for the same row.

Two problems make a row unusable:
- a URL with `user:password@` (it would end up in tables, messages, logs and saved files; keys have their own
  field), and
- a key of 1 to 3 characters. GenBridge hides every configured key from every message, log line, journal record
  and streamed answer (`runtime.redact`), and hiding a value that short everywhere would garble ordinary text
  (every "ab" in every message), while not hiding it would show it. So such a key is refused where it is
  configured, with a message saying where, instead of being used unprotected. Real API keys and bearer tokens are
  far longer; a server protected by a 3-character password is not protected, so a longer one is the fix anyway.

In Blender's preferences a bad row only turns that row off (the other endpoints keep working and jobs route
around it); in `genbridge.toml`, the environment and `--url` the whole command stops with the message instead,
since nothing can show a per-row status there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ConfigError
from .netpolicy import host_of, redact_url
from .redact import MIN_SECRET_LENGTH
from .services import SERVICE_TITLES, key_env_var

# The Comfy.org API key partner nodes authenticate with (sent as extra_data.api_key_comfy_org, never journaled).
COMFY_ORG_KEY_ENV = "GENBRIDGE_COMFY_ORG_KEY"

SHORT_KEY_WHY = "it hides keys from every message, log and journal, and hiding a value that short would garble text"


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one endpoint row (`message`) and how to fix it (`hint`); never quotes a secret."""

    message: str
    hint: str

    def to_dict(self) -> dict[str, str]:
        return {"message": self.message, "hint": self.hint}


def short_key(value: str | None) -> int:
    """The length of `value` if it is a key too short to keep secret (1 to 3 characters after trimming), else 0."""
    size = len((value or "").strip())
    return size if 0 < size < MIN_SECRET_LENGTH else 0


def short_key_sentence(what: str, size: int) -> str:
    """'<what> is only N characters long; GenBridge needs at least 4 (why)', no final period."""
    plural = "s" if size != 1 else ""
    return (
        f"{what} is only {size} character{plural} long; GenBridge needs at least {MIN_SECRET_LENGTH} ({SHORT_KEY_WHY})"
    )


def row_problem(
    service: str, row: Mapping[str, object], number: int, env: Mapping[str, str] | None = None
) -> RowProblem | None:
    """The problem of preferences row `number` (1-based) of `service`, or None when it can be used."""
    env = os.environ if env is None else env
    url = str(row.get("url") or "").strip()
    title = SERVICE_TITLES.get(service, service)
    where = f"{title} endpoint {number} ({redact_url(url)})"
    try:
        host_of(url)
    except ConfigError as exc:
        if "user name or password" in exc.message:
            return RowProblem(
                f"The URL of {where} holds a user name or password; GenBridge does not use this endpoint until "
                "that is removed.",
                "In GenBridge's preferences, remove 'user:password@' from this endpoint's URL and put the password "
                "(or token) in its Key field. The other endpoints keep working meanwhile.",
            )
        return RowProblem(f"{where}: {exc.message}", exc.hint)
    env_var = key_env_var(service)
    size = short_key(env.get(env_var))
    if size:
        return RowProblem(
            f"{short_key_sentence(f'The key in {env_var}', size)}; {where} is not used until it is fixed.",
            f"Set {env_var} to the whole key, or unset it and use each endpoint's Key field.",
        )
    for field, label in (("key", "Key"), ("partner_key", "Comfy.org Key")):
        size = short_key(str(row.get(field) or ""))
        if size:
            return RowProblem(
                f"{short_key_sentence(f'The {label} of {where}', size)}; the endpoint is not used until it is fixed.",
                f"In GenBridge's preferences, enter the whole key in this endpoint's {label} field, or clear it.",
            )
    if service == "comfyui" and row.get("kind") == "api_v2":
        size = short_key(env.get(COMFY_ORG_KEY_ENV))
        if size:
            return RowProblem(
                f"{short_key_sentence(f'The key in {COMFY_ORG_KEY_ENV}', size)}; {where} is not used until it is "
                "fixed.",
                f"Set {COMFY_ORG_KEY_ENV} to the whole key, or unset it.",
            )
    return None
