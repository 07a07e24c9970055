"""Pydantic models of the ComfyUI (0.3.64 to 0.38) responses the client depends on, validated once at the edge."""

from __future__ import annotations

import functools
import uuid
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

    @property
    def local_subfolder(self) -> str:
        """Where it goes in the job's folder: temp and output files may share names, so previews stay apart."""
        return f"temp/{self.subfolder}" if self.type == "temp" else self.subfolder


class HistoryStatus(_Loose):
    status_str: str = ""
    completed: bool = False
    messages: list[list[Any]] = Field(default_factory=list)


MODEL_3D_SUFFIXES = (".obj", ".fbx", ".gltf", ".glb", ".usdz", ".stl", ".ply")
NOT_FILES = frozenset({"animated", "text"})


def output_files(outputs: dict[str, Any]) -> list[OutputFile]:
    """Every downloadable file of every node's ui output, found by shape, not by a fixed list of keys.

    Any list of `{filename, type}` objects counts (`images`, `audio`, `3d`, `files`, `gifs`, `videos`...), except
    items of `type: "input"` (0.38's LoadVideo shows its input file: that is not a result). A `result` entry that
    is a bare 3D file name (optionally "name [output]") is a 3D model in the output folder.
    """
    found: list[OutputFile] = []
    for ui in outputs.values():
        if not isinstance(ui, dict):
            continue
        listed: list[OutputFile] = []
        models: list[OutputFile] = []
        for key, items in ui.items():
            if key in NOT_FILES or not isinstance(items, list):
                continue
            for item in items:
                if isinstance(item, dict):
                    name = item.get("filename")
                    if isinstance(name, str) and name and item.get("type", "output") != "input":
                        listed.append(OutputFile.model_validate(item))
                elif key == "result" and isinstance(item, str) and (model := _model_file(item)) is not None:
                    models.append(model)
        # The jobs API lists a 3D `result` string under `3d` too: the same file, taken once.
        have = {(f.subfolder, f.filename, f.type) for f in listed}
        found += listed + [m for m in models if (m.subfolder, m.filename, m.type) not in have]
    return found


def _model_file(text: str) -> OutputFile | None:
    name, _, kind = text.strip().partition(" [")
    kind = kind.rstrip("]") or "output"
    if not name.lower().endswith(MODEL_3D_SUFFIXES) or kind == "input":
        return None
    subfolder, _, base = name.replace("\\", "/").rpartition("/")
    return OutputFile(filename=base, subfolder=subfolder, type=kind)


def saved_output_nodes(outputs: dict[str, Any]) -> set[str]:
    """Nodes whose ui holds at least one saved file (`type: "output"`): the ones a cache hit is judged by."""
    return {nid for nid, ui in outputs.items() if any(f.type == "output" for f in output_files({nid: ui}))}


class HistoryEntry(_Loose):
    """One `/history/{id}` entry: written only when the prompt finished (success or error)."""

    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    status: HistoryStatus = Field(default_factory=HistoryStatus)

    def files(self) -> list[OutputFile]:
        return output_files(self.outputs)

    def message(self, kind: str) -> dict[str, Any] | None:
        for entry in self.status.messages:
            if len(entry) == 2 and entry[0] == kind and isinstance(entry[1], dict):
                return entry[1]
        return None


class JobRecord(_Loose):
    """`GET /api/jobs/{id}` (ComfyUI 0.36+): one job in any state; `outputs` only once it finished."""

    id: str = ""
    status: str = ""  # pending, in_progress, completed, failed, cancelled
    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    execution_error: dict[str, Any] | None = None
    execution_status: dict[str, Any] | None = None

    def cached_nodes(self) -> list[str]:
        for entry in (self.execution_status or {}).get("messages") or []:
            if isinstance(entry, list) and len(entry) == 2 and entry[0] == "execution_cached":
                return [str(n) for n in (entry[1] or {}).get("nodes") or []]
        return []


class QueueState(_Loose):
    queue_running: list[list[Any]] = Field(default_factory=list)
    queue_pending: list[list[Any]] = Field(default_factory=list)

    def running_ids(self) -> set[str]:
        return {str(item[1]) for item in self.queue_running if len(item) > 1}

    def pending_ids(self) -> set[str]:
        return {str(item[1]) for item in self.queue_pending if len(item) > 1}


DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"


def combo_options(spec: Any) -> list[Any] | None:
    """Options of a combo input in either node-schema generation: V1 `[[opts], {...}]` or V3 `["COMBO", {options}]`."""
    if not isinstance(spec, list) or not spec:
        return None
    if isinstance(spec[0], list):
        return spec[0]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return list(spec[1].get("options") or [])
    if spec[0] == DYNAMIC_COMBO and len(spec) > 1 and isinstance(spec[1], dict):  # 0.38: options {key, inputs}
        return [o.get("key") if isinstance(o, dict) else o for o in spec[1].get("options") or []]
    return None


def hidden_inputs(node_info: dict[str, Any]) -> dict[str, str]:
    """Hidden inputs in either generation: V1 `"PROMPT"` or V3 `["PROMPT"]`."""
    out = {}
    for name, spec in ((node_info.get("input") or {}).get("hidden") or {}).items():
        out[name] = spec[0] if isinstance(spec, list) and spec else str(spec)
    return out


_ID_NAMESPACE = uuid.UUID("5b7e4c1e-9f0a-4d8e-9c57-6a1f0c3d2b10")


@functools.lru_cache(maxsize=1024)  # asked several times per job
def prompt_id_for(job_id: str) -> str:
    """ComfyUI 0.38 takes only canonical UUID text as a prompt id: a job id that is not one maps to a stable UUID."""
    try:
        if str(uuid.UUID(job_id)) == job_id:
            return job_id
    except ValueError:
        pass
    return str(uuid.uuid5(_ID_NAMESPACE, job_id))


def version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)
