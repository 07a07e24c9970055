"""Pydantic models of the ComfyUI 0.3.64 responses the client depends on, validated once at the edge."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SystemInfo(_Loose):
    comfyui_version: str = ""
    pytorch_version: str = ""
    ram_total: int = 0
    ram_free: int = 0


class Device(_Loose):
    name: str = ""
    type: str = ""
    index: int | None = None
    vram_total: int = 0
    vram_free: int = 0


class SystemStats(_Loose):
    system: SystemInfo = Field(default_factory=SystemInfo)
    devices: list[Device] = Field(default_factory=list)


class PromptAccepted(_Loose):
    """200 reply of POST /prompt; `node_errors` may be non-empty (partial accept)."""

    prompt_id: str
    number: float = 0
    node_errors: dict[str, Any] = Field(default_factory=dict)


class NodeInputError(_Loose):
    type: str = ""
    message: str = ""
    details: str = ""
    extra_info: dict[str, Any] = Field(default_factory=dict)


class NodeError(_Loose):
    errors: list[NodeInputError] = Field(default_factory=list)
    dependent_outputs: list[str] = Field(default_factory=list)
    class_type: str = ""


class PromptRejected(_Loose):
    """400 reply of POST /prompt."""

    error: NodeInputError = Field(default_factory=NodeInputError)
    node_errors: dict[str, NodeError] = Field(default_factory=dict)


class OutputFile(_Loose):
    filename: str
    subfolder: str = ""
    type: str = "output"


class HistoryStatus(_Loose):
    status_str: str = ""
    completed: bool = False
    messages: list[list[Any]] = Field(default_factory=list)


class HistoryEntry(_Loose):
    """One `/history/{id}` entry: written only when the prompt finished (success or error)."""

    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    status: HistoryStatus = Field(default_factory=HistoryStatus)

    def files(self) -> list[OutputFile]:
        """Every downloadable file of every output node (images, animated images and videos)."""
        found: list[OutputFile] = []
        for ui in self.outputs.values():
            for key in ("images", "gifs", "videos", "audio"):
                for item in ui.get(key) or []:
                    if isinstance(item, dict) and item.get("filename"):
                        found.append(OutputFile.model_validate(item))
        return found

    def message(self, kind: str) -> dict[str, Any] | None:
        for entry in self.status.messages:
            if len(entry) == 2 and entry[0] == kind and isinstance(entry[1], dict):
                return entry[1]
        return None


class QueueState(_Loose):
    queue_running: list[list[Any]] = Field(default_factory=list)
    queue_pending: list[list[Any]] = Field(default_factory=list)

    def running_ids(self) -> set[str]:
        return {str(item[1]) for item in self.queue_running if len(item) > 1}

    def pending_ids(self) -> set[str]:
        return {str(item[1]) for item in self.queue_pending if len(item) > 1}


def combo_options(spec: Any) -> list[Any] | None:
    """Options of a combo input in either node-schema generation: V1 `[[opts], {...}]` or V3 `["COMBO", {options}]`."""
    if not isinstance(spec, list) or not spec:
        return None
    if isinstance(spec[0], list):
        return spec[0]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return list(spec[1].get("options") or [])
    return None


def hidden_inputs(node_info: dict[str, Any]) -> dict[str, str]:
    """Hidden inputs in either generation: V1 `"PROMPT"` or V3 `["PROMPT"]`."""
    out = {}
    for name, spec in ((node_info.get("input") or {}).get("hidden") or {}).items():
        out[name] = spec[0] if isinstance(spec, list) and spec else str(spec)
    return out
