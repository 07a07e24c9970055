"""When to try the next step of a plan: only for failures another backend can fix, never for input errors."""

from __future__ import annotations

from ..runtime.errors import GenBridgeError


def should_fall_back(exc: BaseException, has_next: bool) -> bool:
    """True when `exc` is infrastructure trouble (unreachable, out of memory, incompatible...) and a next step exists.

    The user's own input errors (RejectedInput), auth problems and cancellations end the job where it is: another
    server would reject the same input, and trying it would only hide the message the user needs.
    """
    return has_next and isinstance(exc, GenBridgeError) and exc.fallback_ok
