"""Where the recorded protocol captures live: `../shared/fixtures` beside the repository (as in CI).

`GENBRIDGE_SHARED` overrides the shared folder for other layouts.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    override = os.environ.get("GENBRIDGE_SHARED")
    return Path(override) if override else REPO_ROOT.parent / "shared"


def fixtures_dir(service: str) -> Path:
    path = shared_dir() / "fixtures" / service
    if not path.is_dir():
        raise FileNotFoundError(f"protocol captures not found at {path}; set GENBRIDGE_SHARED to the shared folder")
    return path


@cache
def load_fixture(service: str, name: str) -> Any:
    """A parsed capture, e.g. load_fixture("comfyui", "02_basic_success.json")."""
    return json.loads((fixtures_dir(service) / name).read_text(encoding="utf-8"))
