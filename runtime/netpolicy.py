"""Loopback first: decide whether GenBridge may talk to a URL. Stdlib only."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .errors import ConfigError, OnlineAccessRefused
from .redact import redact

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


CREDENTIALS_HINT = (
    "Remove the 'user:password@' part and put the key in the endpoint's Key field (key = \"...\" under the "
    "endpoint in genbridge.toml) or in the GENBRIDGE_<SERVICE>_KEY environment variable."
)


def host_of(url: str) -> str:
    """The host part of an http(s) URL, or raise ConfigError naming the URL (never its user info)."""
    shown = redact(url.strip())
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"'{shown}' is not a service URL.",
            "Use a full URL such as http://127.0.0.1:8188 (http or https, host and port).",
        )
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in tables, messages, logs and saved files; keys have their own field.
        raise ConfigError(
            f"The URL '{shown}' holds a user name or password, which GenBridge refuses.", CREDENTIALS_HINT
        )
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(
            f"The URL '{shown}' has an invalid port: it must be a number from 1 to 65535.",
            "Fix the port, e.g. http://127.0.0.1:8188.",
        )
    return parts.hostname


def is_loopback(url: str) -> bool:
    host = host_of(url).lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ensure_allowed(url: str, online_access: bool, *, service: str = "") -> None:
    """Raise OnlineAccessRefused for a non-loopback URL while online access is off."""
    if online_access or is_loopback(url):
        return
    raise OnlineAccessRefused(
        f"{service or 'GenBridge'} is set to {url}, which is not on this computer, and online access is off.",
        service=service,
    )


# Redirects: clients never let aiohttp follow them on its own (it would connect to any host a server names).
# Each hop is checked here with the same rule as the configured URL, and the error names the refused hop.
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def follow_redirect(current_url: str, location: str | None, online_access: bool, *, service: str = "") -> str:
    """The absolute URL of the next hop of a redirect from `current_url`, or raise naming the refused hop.

    A hop to another computer needs online access exactly as a configured URL does; a hop that carries
    user info (`user:pw@`) or a non-http scheme is refused outright.
    """
    from urllib.parse import urljoin

    name = service or "The service"
    if not location:
        raise OnlineAccessRefused(
            f"{name} at {redact_url(current_url)} answered with a redirect but named no target.",
            "Check the service URL in GenBridge preferences: it should point at the service itself.",
            service=service,
        )
    target = urljoin(current_url, location.strip())
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise OnlineAccessRefused(
            f"{name} at {redact_url(current_url)} redirected to {redact_url(target)}; GenBridge refused to follow it.",
            "Point GenBridge at the final address of the service instead.",
            service=service,
        )
    if not (online_access or is_loopback(target)):
        raise OnlineAccessRefused(
            f"{name} at {redact_url(current_url)} redirected to {redact_url(target)}, which is not on this "
            "computer, and online access is off; the redirect was not followed.",
            service=service,
        )
    return target


def redact_url(url: str) -> str:
    """The URL without any `user:password@` part, for messages, logs, the journal and saved data."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    if not (parts.username or parts.password):
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return parts._replace(netloc=netloc).geturl()
