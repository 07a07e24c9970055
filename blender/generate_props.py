"""The generate settings as Blender properties, built from the one table `choices.GENERATE`.

Blender reads a class's properties from its annotations at register time, so `with_generate_properties` writes
them into the class before it is registered: the Scene settings and the Generate operator get the same fields.
Thread rule: main thread only (imports bpy; runs at import time of `ui.props` and `operators.generate`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from bpy.props import EnumProperty, IntProperty, StringProperty

from .choices import GENERATE, GenerateField

_PROPERTY: dict[str, Callable[..., Any]] = {"enum": EnumProperty, "int": IntProperty, "string": StringProperty}
_OPTIONS = ("default", "items", "min", "max", "step", "subtype")

T = TypeVar("T", bound=type)


def generate_property(field: GenerateField) -> Any:
    """One Blender property (deferred, as a class annotation) for `field`; unset options keep Blender's default."""
    options = {key: getattr(field, key) for key in _OPTIONS if getattr(field, key) is not None}
    return _PROPERTY[field.kind](name=field.label, description=field.description, **options)


def with_generate_properties(cls: T) -> T:
    """Class decorator: declare every generate field on `cls`, before the class's own properties (if any)."""
    own = inspect.get_annotations(cls)  # the class's own, not its base's
    cls.__annotations__ = {**{field.name: generate_property(field) for field in GENERATE}, **own}
    return cls
