"""The shot list: its JSON schema (asked for as structured output), and a parser for what models really answer.

Models, small ones above all, answer near misses: code fences, a sentence around the JSON, trailing commas, the
list under another key (`scripts`, `scenes`) or bare. The parser takes those, and when it fails it names the real
problem (not JSON at all, JSON with a syntax error at line/column, no list of shot-like objects, which field of
which shot is wrong). Pure computation, any thread.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ...runtime.errors import RejectedInput

DEFAULT_DURATION = 3.0


class UnparseableAnswer(RejectedInput):
    """The model answered, but not in the shape the task asked for; `raw` keeps its text."""

    code = "unparseable_answer"
    default_hint = "Generate again (perhaps at a lower temperature) or pick a stronger model; the raw answer is kept."

    def __init__(self, message: str, raw: str, hint: str | None = None) -> None:
        super().__init__(message, hint, service="litellm", detail=raw[:4000])
        self.raw = raw


class Shot(BaseModel):
    """One planned shot."""

    model_config = ConfigDict(extra="ignore")

    description: str = Field(min_length=1)
    duration: float = Field(DEFAULT_DURATION, gt=0, le=600)
    camera: str = ""
    characters: list[str] = Field(default_factory=list)

    @field_validator("description", "camera", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("duration", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        # Models write "3s", "3.5 seconds" or "3" as often as 3; a missing or zero length gets the default.
        if value is None or value == "" or value == 0:
            return DEFAULT_DURATION
        if isinstance(value, str):
            match = re.match(r"\s*(\d+(?:\.\d+)?)", value)
            if match:
                return float(match.group(1)) or DEFAULT_DURATION
        return value

    @field_validator("characters", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
        return value


class ShotList(BaseModel):
    """The parsed answer of the shot-list task."""

    shots: list[Shot] = Field(min_length=1)

    @property
    def total_duration(self) -> float:
        return sum(s.duration for s in self.shots)


def shotlist_schema(shots: int | None = None) -> dict[str, Any]:
    """The JSON schema sent as `response_format` (grammar-constrained servers then cannot answer off-shape).

    Lengths are bounded so a small model cannot ramble until max_tokens cuts the JSON in half.
    """
    items: dict[str, Any] = {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "properties": {
                "description": {"type": "string", "minLength": 10, "maxLength": 240},
                "duration": {"type": "integer", "minimum": 1, "maximum": 20},
                "camera": {"type": "string", "maxLength": 80},
                "characters": {"type": "array", "maxItems": 4, "items": {"type": "string", "maxLength": 40}},
            },
            "required": ["description", "duration", "camera", "characters"],
            "additionalProperties": False,
        },
    }
    if shots:
        items["minItems"] = items["maxItems"] = max(1, min(int(shots), 24))
    return {"type": "object", "properties": {"shots": items}, "required": ["shots"], "additionalProperties": False}


_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[\]}])")
_SHOT_KEYS = frozenset({"description", "shot", "action", "text", "scene"})


def _candidates(raw: str) -> list[str]:
    """Texts that may hold the JSON: inside code fences first, then the whole answer."""
    return [m.group(1) for m in _FENCE.finditer(raw)] + [raw]


def _decode_first(text: str) -> tuple[Any, str]:
    """The first JSON object (or list of objects) in `text`, trying it as written, without trailing commas, then
    cut back to its last complete element (an answer cut off by max_tokens); else (None, why the first failed).

    A list of plain strings inside broken JSON (say a shot's `characters`) is never taken for the shot list.
    """
    decoder = json.JSONDecoder()
    first_error = ""
    fallback: Any = None
    for variant in (text, _TRAILING_COMMA.sub(r"\1", text), _close_truncated(text)):
        for match in re.finditer(r"[\[{]", variant):
            try:
                value, _ = decoder.raw_decode(variant, match.start())
            except json.JSONDecodeError as exc:
                if not first_error:
                    first_error = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
                continue
            except RecursionError:
                return None, "it is nested too deeply"
            if isinstance(value, dict) and value:
                return value, ""
            if isinstance(value, list) and value:
                if all(isinstance(v, dict) for v in value):
                    return value, ""
                if fallback is None and match.start() == 0 and not first_error:
                    fallback = value  # the whole answer is a list, just not of objects: report what is wrong
    return fallback, first_error if fallback is None else ""


def _close_truncated(text: str) -> str:
    """`text` from its first `{` or `[` cut after the last complete element and closed: JSON cut off mid-way
    (finish_reason "length") keeps its finished shots. Returns "" when there is nothing to close."""
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return ""
    stack: list[str] = []
    best = ""
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}":
            if not stack:
                break
            stack.pop()
            if not stack:
                return ""  # complete JSON: nothing was cut
            best = text[start : i + 1] + "".join(reversed(stack))
    return best


def _is_shot_like(item: Any) -> bool:
    return isinstance(item, dict) and bool(_SHOT_KEYS & {str(k).lower() for k in item})


def _find_shots(data: Any) -> list[Any] | None:
    """The list of shots: the value itself, the `shots` key, or the one list of shot-like objects in a wrapper."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return None
    for key in ("shots", "shot_list", "storyboard"):
        if isinstance(data.get(key), list):
            return data[key]
    lists = [v for v in data.values() if isinstance(v, list) and v and all(_is_shot_like(i) for i in v)]
    if len(lists) == 1:
        return lists[0]
    nested = [v for v in data.values() if isinstance(v, dict)]
    if len(nested) == 1 and not lists:
        return _find_shots(nested[0])
    if _is_shot_like(data):
        return [data]  # a single shot, unwrapped
    return None


def parse_shotlist(raw: str) -> ShotList:
    """Parse a shot-list answer; UnparseableAnswer (keeping `raw`) naming the real problem when it is unusable."""
    data, why = None, ""
    for text in _candidates(raw):
        data, why = _decode_first(text)
        if data is not None:
            break
    if data is None:
        if not raw.strip():
            raise UnparseableAnswer("The model's shot list is empty.", raw)
        if why:
            raise UnparseableAnswer(f"The model's shot list is not valid JSON ({why}).", raw)
        raise UnparseableAnswer("The model's shot list is not JSON (it answered in prose).", raw)
    shots = _find_shots(data)
    if shots is None:
        keys = ", ".join(map(str, list(data)[:6])) if isinstance(data, dict) else type(data).__name__
        raise UnparseableAnswer(
            f'The model\'s answer has no list of shots (its JSON has: {keys}; expected {{"shots": [...]}}).', raw
        )
    if not shots:
        raise UnparseableAnswer("The model's shot list has no shots.", raw)
    try:
        return ShotList(shots=shots)
    except ValidationError as exc:
        raise UnparseableAnswer(f"The model's shot list is incomplete ({_where(exc)}).", raw) from None


def _where(exc: ValidationError) -> str:
    """'shot 2, description: Field required; ...' for the first three problems (shots numbered from 1)."""
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        loc = list(err["loc"])
        if loc and loc[0] == "shots":
            loc = loc[1:]
        shot = f"shot {loc[0] + 1}" if loc and isinstance(loc[0], int) else "the list"
        field = ".".join(str(p) for p in loc[1:])
        msg = err["msg"] if field else f"{err['msg']} (a shot must be an object with a description)"
        parts.append(f"{shot}{', ' + field if field else ''}: {msg}")
    return "; ".join(parts)
