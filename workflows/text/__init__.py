"""Film text tasks as data: each task is a TOML file here (prompt text + its variables), loaded on demand.

`load_text_task(name)` reads and validates one; `TextTask.messages(variables)` renders the chat messages; the
answers are parsed into typed results (`parse_shotlist`, `clean_prompt`). An answer that does not parse raises
`UnparseableAnswer` (a RejectedInput) that keeps the model's raw text.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...runtime.errors import ConfigError, RejectedInput
from .shotlist import Shot, ShotList, UnparseableAnswer, parse_shotlist, shotlist_schema

TASKS_DIR = Path(__file__).resolve().parent
TEXT_TASKS = ("shotlist", "image_prompt", "video_prompt", "negative_prompt")


class Variable(BaseModel):
    """One placeholder of a task's prompt."""

    model_config = ConfigDict(frozen=True)

    required: bool = True
    default: str = ""
    description: str = ""


class PromptText(BaseModel):
    model_config = ConfigDict(frozen=True)

    system: str = ""
    user: str


class TextTask(BaseModel):
    """A text task template: prompt text with `${variable}` placeholders and suggested sampling settings."""

    model_config = ConfigDict(frozen=True)

    name: str
    title: str = ""
    output: Literal["shotlist", "prompt", "text"] = "text"
    temperature: float | None = None
    max_tokens: int | None = None
    variables: dict[str, Variable] = Field(default_factory=dict)
    prompt: PromptText

    def missing(self, variables: Mapping[str, Any]) -> list[str]:
        """Required variables that are absent or blank."""
        return [k for k, v in self.variables.items() if v.required and not str(variables.get(k, "")).strip()]

    def messages(self, variables: Mapping[str, Any]) -> list[dict[str, str]]:
        """The chat messages for these variables; RejectedInput names any missing one."""
        missing = self.missing(variables)
        if missing:
            raise RejectedInput(
                f"The '{self.title or self.name}' task needs: {', '.join(missing)}.",
                "Fill in " + "; ".join(f"{k} ({self.variables[k].description})" for k in missing),
            )
        values = {k: str(variables.get(k) or v.default) for k, v in self.variables.items()}
        values.update({k: str(v) for k, v in variables.items() if k not in values})
        system = string.Template(self.prompt.system).safe_substitute(values).strip()
        user = string.Template(self.prompt.user).safe_substitute(values).strip()
        return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def load_text_task(name: str, extra_dirs: Iterable[str | Path] = ()) -> TextTask:
    """Find `<name>.toml` (user template dirs first, then the built-in ones) and validate it."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise RejectedInput(f"'{name}' is not a text task name.", f"Use one of: {', '.join(TEXT_TASKS)}.")
    for folder in [*map(Path, extra_dirs), TASKS_DIR]:
        path = folder / f"{name}.toml"
        if path.is_file():
            try:
                return TextTask.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
            except (tomllib.TOMLDecodeError, ValidationError) as exc:
                raise ConfigError(f"The text task file {path} is invalid: {exc}".split("\n")[0] + ".") from None
    raise RejectedInput(f"There is no text task '{name}'.", f"Use one of: {', '.join(TEXT_TASKS)}.")


# -- typed results ------------------------------------------------------------------------------------------------
__all__ = [
    "TEXT_TASKS",
    "Shot",
    "ShotList",
    "TextTask",
    "UnparseableAnswer",
    "clean_prompt",
    "load_text_task",
    "parse_shotlist",
    "shotlist_schema",
]


def clean_prompt(raw: str) -> str:
    """A prompt answer without the wrapping models add: code fences, quotes, a 'Prompt:' label."""
    text = raw.strip()
    text = re.sub(r"^```[a-zA-Z]*\s*|\s*```$", "", text).strip()
    text = re.sub(r"^(negative\s+)?prompt\s*:\s*", "", text, flags=re.IGNORECASE).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    if not text:
        raise UnparseableAnswer("The model returned an empty prompt.", raw)
    return text
