"""A recording fake of Blender's UILayout, so draw code runs without Blender (Panel.draw never runs in bpy)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

CONTAINERS = ("row", "column", "box", "split", "grid_flow", "column_flow")


class FakeLayout:
    """Records every call as (method, args, kwargs) in one shared log; containers return child layouts."""

    def __init__(self, log: list[tuple[str, tuple[Any, ...], dict[str, Any]]] | None = None) -> None:
        self.__dict__["log"] = [] if log is None else log

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.log.append((name, args, kwargs))
            if name in CONTAINERS:
                return FakeLayout(self.log)
            if name == "operator":
                props = SimpleNamespace()
                self.log[-1][2]["props"] = props
                return props
            return None

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        self.log.append(("set:" + name, (value,), {}))

    # -- queries for assertions -------------------------------------------------------------------------------
    def calls(self, method: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(args, kwargs) for name, args, kwargs in self.log if name == method]

    def labels(self) -> list[str]:
        return [kwargs.get("text", "") for _args, kwargs in self.calls("label")]

    def text(self) -> str:
        """Every label's text joined with spaces: what a user reads, however the lines were wrapped."""
        return " ".join(self.labels())

    def operators(self) -> list[str]:
        return [args[0] for args, _kwargs in self.calls("operator")]

    def operator_props(self, idname: str) -> list[SimpleNamespace]:
        return [kwargs["props"] for args, kwargs in self.calls("operator") if args[0] == idname]

    def props(self) -> list[str]:
        return [args[1] for args, _kwargs in self.calls("prop")]


@pytest.fixture
def layout() -> FakeLayout:
    return FakeLayout()
