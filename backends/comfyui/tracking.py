"""What the client knows about one job, and how each websocket message changes it into a BackendEvent.

Loop thread only. Images a `SaveImageWebsocket` node sends over the socket are outputs, not previews: they are
streamed to a staging folder as they arrive and moved into the job's output folder by `fetch_outputs`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...runtime.errors import GenBridgeError
from ...runtime.events import BackendEvent, BackendPreview, BackendProgress
from . import errors
from .models import output_files, saved_output_nodes
from .progress import ProgressTracker

WS_OUTPUT_CLASSES = frozenset({"SaveImageWebsocket"})


@dataclass
class Track:
    """One job on the server: its graph (may be empty after a restart), progress, outputs and cache state."""

    prompt_id: str
    graph: dict[str, Any]
    progress: ProgressTracker
    outputs: dict[str, Any] = field(default_factory=dict)
    cached: set[str] = field(default_factory=set)
    logs: list[str] = field(default_factory=list)
    ws_files: list[Path] = field(default_factory=list)  # SaveImageWebsocket images, staged
    activity: str = ""
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    # Re-attached after a restart: ComfyUI sends its messages to the old socket's client id, so poll instead.
    polled: bool = False
    # Every message from execution_start to execution_success arrived on the socket, none lost to a reconnect:
    # the `executed` outputs are complete and the server's record need not be fetched again.
    succeeded: bool = False
    resynced: bool = False

    @classmethod
    def new(cls, prompt_id: str, graph: dict[str, Any], *, polled: bool = False) -> Track:
        return cls(prompt_id=prompt_id, graph=graph, progress=ProgressTracker(graph), polled=polled)

    @property
    def fully_cached(self) -> bool:
        """ComfyUI ran nothing: every node (or, graph unknown, every saving node) came from its cache."""
        if self.graph:
            return set(self.graph) <= self.cached
        saved = saved_output_nodes(self.outputs)
        return bool(saved) and saved <= self.cached

    @property
    def has_outputs(self) -> bool:
        return bool(self.ws_files) or bool(output_files(self.outputs))

    def finish(self, outputs: dict[str, Any], cached: list[str], error: GenBridgeError | None) -> None:
        """What the server's record of the finished prompt says (outputs, cached nodes); raises how it ended."""
        self.cached.update(cached)
        self.outputs.update(outputs)
        if error is not None:
            raise error

    def class_of(self, node: str | None) -> str:
        return str((self.graph.get(node or "") or {}).get("class_type", ""))

    def phase(self, node: str | None) -> str:
        if not node:
            return "Running in ComfyUI"
        n = self.graph.get(node) or {}
        title = (n.get("_meta") or {}).get("title") or n.get("class_type") or f"node {node}"
        return f"Running {title}" + (f" ({self.activity})" if self.activity else "")


def apply_message(track: Track, kind: str, data: Any, *, endpoint: str, data_path: Path) -> BackendEvent | None:
    """One socket message -> an event for the job service (or None); raises the job's error or interrupt."""
    p = track.progress
    if kind == "progress_state":
        nodes = data.get("nodes") or {}
        p.node_state(nodes)
        running = nodes.get(p.current) if p.current else None
        track.activity = str(running.get("activity") or "") if isinstance(running, dict) else ""
        return BackendProgress(fraction=p.fraction, phase=track.phase(p.current))
    if kind == "progress":
        node = str(data.get("node"))
        p.step(node, float(data.get("value") or 0), float(data.get("max") or 0))
        return BackendProgress(
            fraction=p.fraction, phase=f"{track.phase(node)}: step {data.get('value')}/{data.get('max')}"
        )
    if kind == "executing" and data.get("node") is not None:
        p.current = str(data["node"])
        track.activity = ""
        return BackendProgress(fraction=p.fraction, phase=track.phase(p.current))
    if kind == "executed":
        track.outputs[str(data.get("node"))] = data.get("output") or {}
        return None
    if kind == "preview":
        return _image_frame(track, data, data_path)
    if kind in ("execution_start", "execution_cached"):
        if kind == "execution_cached":
            track.cached.update(str(n) for n in data.get("nodes") or [])
            p.cached(list(track.cached))
        return BackendProgress(fraction=p.fraction, phase="Started in ComfyUI")
    if kind == "execution_error":
        raise errors.execution_error(data, track.graph, endpoint=endpoint, prompt_id=track.prompt_id)
    if kind == "execution_interrupted":
        raise errors.interrupted(endpoint=endpoint, prompt_id=track.prompt_id)
    if kind == "execution_success":
        track.succeeded = True
    return None  # unknown types (0.38 asset events...): nothing to show


def _image_frame(track: Track, data: Any, data_path: Path) -> BackendEvent | None:
    fmt, image, node = data
    output = track.class_of(node) in WS_OUTPUT_CLASSES
    folder = data_path / "ws-outputs" / track.prompt_id if output else data_path / "previews"
    name = f"websocket_{node}_{len(track.ws_files) + 1:05d}.{fmt}" if output else f"{track.prompt_id}.{fmt}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(image)
    except OSError as exc:
        if output:  # an output that cannot be kept fails the job; a lost preview is only a lost preview
            raise errors.local_write(folder / name, exc) from None
        return None
    if output:
        track.ws_files.append(folder / name)
    return BackendPreview(path=str(folder / name))
