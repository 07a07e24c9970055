"""Loopback first: decide whether GenBridge may talk to a URL. Stdlib only."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .errors import ConfigError, OnlineAccessRefused

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def host_of(url: str) -> str:
    """The host part of an http(s) URL, or raise ConfigError naming the URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"'{url}' is not a service URL.",
            "Use a full URL such as http://127.0.0.1:8188 (scheme, host and port).",
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
