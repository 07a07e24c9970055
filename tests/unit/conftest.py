"""Fixtures shared across test folders: the real LiteLLM proxy (started only when a test asks for it)."""

from __future__ import annotations

from typing import Any

import pytest
from genbridge.standins.litellm_proxy import start_litellm_proxy


@pytest.fixture(scope="session")
def litellm_proxy() -> Any:
    """Start `litellm --config ...` once per session (mock models + a tiny fake upstream); stopped by pid."""
    proxy = start_litellm_proxy(ready_timeout=120)
    try:
        yield proxy
    finally:
        proxy.stop()
