"""Routing: choose the service and endpoint for each job. See `router.py`; the policy is `default_policy.toml`."""

from __future__ import annotations

from ..runtime.errors import should_fall_back
from .router import Router

__all__ = ["Router", "should_fall_back"]
