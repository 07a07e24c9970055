"""GenBridge's Blender side: the session (runtime + caches), landing results, notifications, redraws.

Importing this package is free (no bpy, no pydantic): `ui` and `operators` import it for the shared names
(`current()`, the job-list helpers, the choices). The session module, which needs bpy, is imported by `start()`.
Nothing here imports `preferences`, `ui` or `operators`: preferences are read through the functions passed to
`start()`, so the imports run one way (preferences/ui/operators -> blender -> runtime).

Thread rule: every function here runs on Blender's main thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .session import PreferenceReaders, Session

_SESSION: list[Session] = []  # the one session while enabled (a list, so no `global` juggling)


def current() -> Session | None:
    """The running session, or None when GenBridge is not enabled. Panels and polls use this."""
    return _SESSION[0] if _SESSION else None


def running() -> Session:
    """The running session (operators that already passed their poll)."""
    if not _SESSION:
        raise RuntimeError("GenBridge is not enabled")
    return _SESSION[0]


def start(package: str, readers: PreferenceReaders, *, client_factory: Any = None) -> Session:
    """Create and start the session (idempotent). Cheap: the loop thread starts on first use."""
    if not _SESSION:
        from .session import Session

        created = Session(package, readers, client_factory=client_factory)
        _SESSION.append(created)
        created.start()
    return _SESSION[0]


def stop() -> bool:
    """Stop the session: in-flight jobs are journaled as interrupted, the loop thread joined; True if it ended."""
    if not _SESSION:
        return True
    from .notify import release_sound

    running = _SESSION.pop()
    release_sound()
    return running.stop()


def preferences_changed() -> None:
    """An endpoint or setting changed in the preferences: the next request and check use it."""
    running = current()
    if running is not None:
        running.preferences_changed()
