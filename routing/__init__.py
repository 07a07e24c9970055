"""Routing: choose the service and instance for each job. See `router.py`."""

from __future__ import annotations

from .router import Router

__all__ = ["Router"]
