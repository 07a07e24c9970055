"""The prompt worker: runs queued graphs one at a time and emits the captured websocket sequences.

Each node takes `node_delay`; nodes with a `steps` input report per-step progress with a binary preview (type 1,
or type 4 for clients that negotiated metadata: the orders differ as captured in `05`); SaveImageWebsocket sends
its images as preview frames and reports no outputs; output nodes write placeholder media (`outputs.py`).
Quirks kept: history is written after `execution_success` (`history_delay`), cached output nodes re-emit their old
ui, interrupts act at node/step boundaries. 0.38 adds `activity` while loaders run and `type:"input"`
intermediate outputs (replayed when cached). Runs as one task on the server's loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..placeholder import placeholder_png
from .outputs import as_int, find_upstream, write_outputs
from .schema import DYNAMIC_COMBO, INTERMEDIATE_OUTPUT, WIDGET_TYPES

IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


class UnidentifiedImageError(Exception):
    """Stands for PIL's error; reported with PIL's qualified name like the server does."""


UnidentifiedImageError.__qualname__ = UnidentifiedImageError.__name__


def with_asset_ids(ui: Any) -> None:
    """0.38 with its assets system on (the default) adds `id` and `preview_id` to saved file items."""
    for items in (ui or {}).values():
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("type") in ("output", "temp"):
                asset = str(uuid.uuid4())
                item.update(id=asset, preview_id=asset)


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


class ExecutorMixin:
    """The worker of `ComfyUIStandIn`."""

    v038: bool
    dirs: dict[str, Path]
    object_info: dict[str, Any]
    queue: list[list[Any]]
    running: list[Any] | None
    running_node: str | None
    history: dict[str, Any]
    cache: dict[str, Any]
    node_delay: float
    step_delay: float
    history_delay: float
    faults: Any
    _interrupt: str | None
    _wake: asyncio.Event

    if TYPE_CHECKING:

        async def _broadcast_status(self) -> None: ...  # provided by ws

        async def _send(
            self, kind: str, data: dict[str, Any], client_id: str | None, *, broadcast_if_none: bool
        ) -> None: ...  # provided by ws

        async def send_preview(
            self, image: bytes, client_id: str | None, node_id: str, prompt_id: str
        ) -> None: ...  # provided by ws

        async def send_text_frame(self, node_id: str, text: str) -> None: ...  # provided by ws

        def wants_metadata(self, client_id: str | None) -> bool: ...  # provided by ws

    async def _work(self) -> None:
        while True:
            while not self.queue:
                self._wake.clear()
                await self._wake.wait()
            self.queue.sort(key=lambda item: item[0])
            item = self.queue.pop(0)
            self.running = item
            self._interrupt = None
            await self._broadcast_status()
            try:
                await _Run(self, item).execute()
            finally:
                self.running = None
                self.running_node = None

    def _is_output(self, cls: str) -> bool:
        return bool(self.object_info.get(cls, {}).get("output_node"))

    def _order(self, graph: dict[str, Any], outputs: list[str]) -> list[str]:
        order: list[str] = []
        seen: set[str] = set()

        def visit(nid: str) -> None:
            if nid in seen:
                return
            seen.add(nid)
            for value in (graph[nid].get("inputs") or {}).values():
                if _is_link(value) and value[0] in graph:
                    visit(value[0])
            order.append(nid)

        for out in sorted(outputs, key=lambda o: (len(o), o)):
            visit(out)
        return order

    def _signature(self, graph: dict[str, Any], nid: str, memo: dict[str, str]) -> str:
        if nid in memo:
            return memo[nid]
        memo[nid] = "<loop>"  # validation rejects loops; this only keeps a bad graph from recursing forever
        node = graph[nid]
        parts = [node["class_type"]]
        for name, value in sorted((node.get("inputs") or {}).items()):
            if _is_link(value) and value[0] in graph:
                parts.append(f"{name}=<{self._signature(graph, value[0], memo)}:{value[1]}>")
            else:
                parts.append(f"{name}={json.dumps(value, sort_keys=True)}")
        if node["class_type"] == "PreviewImage":
            parts.append(nid)
        memo[nid] = hashlib.sha1("|".join(parts).encode()).hexdigest()
        return memo[nid]

    def check_image_file(self, name: str) -> None:
        """LoadImage opens the file with PIL at run time: bytes that are no image fail there (capture 07)."""
        m = re.match(r"^(.*) \[(output|input|temp)\]$", name)
        kind = m.group(2) if m else "input"
        name = m.group(1) if m else name
        path = self.dirs[kind] / name
        head = path.read_bytes()[:12] if path.is_file() else b""
        if not head.startswith(IMAGE_MAGIC) and head[8:12] != b"WEBP":
            raise UnidentifiedImageError(f"cannot identify image file '<comfyui-root>/{kind}/{name}'")

    def _literal_into_link(self, cls: str, inputs: dict[str, Any]) -> str | None:
        """An input that needs a link but got a literal: validation passes it, the node then crashes."""
        spec_in = self.object_info.get(cls, {}).get("input") or {}
        for category in ("required", "optional"):
            for name, spec in (spec_in.get(category) or {}).items():
                kind = spec[0] if isinstance(spec, list) and spec else spec
                if name in inputs and not isinstance(inputs[name], list) and isinstance(kind, str):
                    if kind not in WIDGET_TYPES and kind not in (DYNAMIC_COMBO, "*"):
                        return type(inputs[name]).__name__
        return None


class _Run:
    """One prompt's execution: its messages, node states and ui outputs."""

    def __init__(self, server: Any, item: list[Any]) -> None:
        self.s, self.item = server, item
        _, self.pid, self.graph, extra, self.outputs = item
        self.cid = extra.get("client_id")
        self.previews = not (server.v038 and extra.get("preview_method") == "none")
        self.messages: list[Any] = []
        self.ui_outputs: dict[str, Any] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.executed: list[str] = []

    async def msg(self, kind: str, data: dict[str, Any], broadcast: bool = False) -> None:
        await self.s._send(kind, data, self.cid, broadcast_if_none=broadcast)

    def stamp(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        data = {**data, "prompt_id": self.pid, "timestamp": int(time.time() * 1000)}
        self.messages.append([kind, data])
        return data

    async def progress_state(self) -> None:
        await self.msg("progress_state", {"prompt_id": self.pid, "nodes": dict(self.states)}, broadcast=True)

    def node_state(self, nid: str, value: float, mx: float, state: str, activity: str | None = None) -> None:
        """Set one node's entry of the cumulative `progress_state`."""
        self.states[nid] = {
            "value": value,
            "max": mx,
            "state": state,
            "node_id": nid,
            "prompt_id": self.pid,
            "display_node_id": nid,
            "parent_node_id": None,
            "real_node_id": nid,
        }
        if activity:
            self.states[nid]["activity"] = activity

    async def step(self, nid: str, value: int, mx: int, image: bytes | None) -> None:
        """One ProgressBar update; the order of its frames depends on the client's flags (capture 05)."""
        progress = {"value": value, "max": mx, "prompt_id": self.pid, "node": nid}
        self.node_state(nid, float(value), float(mx), "running")
        if image is not None and self.s.wants_metadata(self.cid):
            await self.progress_state()
            await self.s.send_preview(image, self.cid, nid, self.pid)
            await self.msg("progress", progress, broadcast=True)
            return
        if image is None:
            await self.progress_state()
            await self.msg("progress", progress, broadcast=True)
            return
        await self.msg("progress", progress, broadcast=True)
        await self.s.send_preview(image, self.cid, nid, self.pid)
        await self.progress_state()

    async def execute(self) -> None:
        s, graph, pid = self.s, self.graph, self.pid
        order = s._order(graph, self.outputs)
        memo: dict[str, str] = {}
        sigs = {nid: s._signature(graph, nid, memo) for nid in order}
        cached = [nid for nid in order if sigs[nid] in s.cache]
        replay: list[tuple[str, Any]] = []
        await self.msg("execution_start", self.stamp("execution_start", {}))
        await self.msg("execution_cached", self.stamp("execution_cached", {"nodes": cached}))
        error: dict[str, Any] | None = None
        for nid in order:
            cls = graph[nid]["class_type"]
            if nid in cached:
                # Captured (03): cached nodes send nothing, except an output node re-sending its old ui,
                # followed by a progress_state that lists it (int values) and no cached node before it.
                ui = s.cache[sigs[nid]]
                if ui is not None and cls in INTERMEDIATE_OUTPUT:
                    replay.append((nid, ui))  # 0.38 replays cached intermediate outputs just before success
                elif ui is not None:
                    self.ui_outputs[nid] = ui
                    await self.msg("executed", {"node": nid, "display_node": nid, "output": ui, "prompt_id": pid})
                    self.node_state(nid, 1, 1, "finished")
                    await self.progress_state()
                continue
            if s._interrupt == pid:
                data = {"node_id": nid, "node_type": cls, "executed": list(self.executed)}
                data = self.stamp("execution_interrupted", data)
                await self.msg("execution_interrupted", data, broadcast=True)
                error = data
                break
            error = await self.run_node(nid, cls, sigs[nid])
            if error is not None:
                break
        if error is None:
            for nid, ui in replay:
                self.ui_outputs[nid] = ui
                await self.msg("executed", {"node": nid, "display_node": nid, "output": ui, "prompt_id": pid})
            await self.msg("execution_success", self.stamp("execution_success", {}))
            await asyncio.sleep(s.history_delay)  # the real worker writes history after execution_success
        s.history[pid] = {
            "prompt": self.item,
            "outputs": self.ui_outputs,
            "status": {
                "status_str": "error" if error else "success",
                "completed": error is None,
                "messages": self.messages,
            },
            "meta": {
                nid: {"node_id": nid, "display_node": nid, "parent_node": None, "real_node_id": nid}
                for nid in self.ui_outputs
            },
        }
        s.running = None
        await s._broadcast_status()
        await self.msg("executing", {"node": None, "prompt_id": pid})

    async def run_node(self, nid: str, cls: str, sig: str) -> dict[str, Any] | None:
        """Run one node; returns the execution_error data if it failed."""
        s, graph, pid = self.s, self.graph, self.pid
        s.running_node = nid
        info = s.object_info.get(cls, {})
        loading = s.v038 and str(info.get("category", "")).split("/")[-1] == "loaders"
        self.node_state(nid, 0.0, 1.0, "running", "loading" if loading else None)
        await self.progress_state()
        await self.msg("executing", {"node": nid, "display_node": nid, "prompt_id": pid})
        inputs = graph[nid].get("inputs") or {}
        steps = inputs.get("steps")
        if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0:
            width = as_int(find_upstream(graph, nid, ("width",)), 64)
            height = as_int(find_upstream(graph, nid, ("height",)), 64)
            preview = placeholder_png(f"step preview {cls}", max(8, width // 8), max(8, height // 8))
            # Steps keep their own clock, as a GPU does: event-loop lateness (messages, other prompts' requests)
            # must not stretch the configured work.
            clock = asyncio.get_running_loop().time
            began = clock()
            for i in range(1, steps + 1):
                await asyncio.sleep(max(0.0, began + i * s.step_delay - clock()))
                await self.step(nid, i, steps, preview if self.previews else None)
                if s._interrupt == pid:  # the progress hook raises: interrupted inside this node
                    data = {"node_id": nid, "node_type": cls, "executed": list(self.executed)}
                    data = self.stamp("execution_interrupted", data)
                    await self.msg("execution_interrupted", data, broadcast=True)
                    return data
        if s.node_delay:
            await asyncio.sleep(s.node_delay)
        try:
            literal = s._literal_into_link(cls, inputs)
            if literal is not None:
                raise AttributeError(f"'{literal}' object has no attribute 'shape'")
            if cls in ("LoadImage", "LoadImageMask"):
                s.check_image_file(str(inputs.get("image", "")))
            if s.faults.fail_node_class == cls:
                raise RuntimeError(f"Stand-in failure injected into {cls}")
            if cls == "GetImageSize":
                await s.send_text_frame(nid, self.image_size_text(nid))
            if cls == "SaveImageWebsocket":
                await self.websocket_images(nid)
                ui = None
            elif s._is_output(cls) or (s.v038 and cls in INTERMEDIATE_OUTPUT):
                ui = await write_outputs(s.dirs, graph, nid, pid, s.v038)
                if s.v038:
                    with_asset_ids(ui)
            else:
                ui = None
        except Exception as exc:  # noqa: BLE001 - becomes execution_error, like the real worker
            data = {
                "node_id": nid,
                "node_type": cls,
                "executed": list(self.executed),
                "exception_message": f"{exc}\n",
                "exception_type": "PIL.UnidentifiedImageError"
                if isinstance(exc, UnidentifiedImageError)
                else type(exc).__name__,
                "traceback": [f'  File "<comfyui-root>/nodes.py", line 1, in {cls}\n'],
                "current_inputs": {},
                "current_outputs": list(self.executed),
            }
            data = self.stamp("execution_error", data)
            await self.msg("execution_error", data)
            return data
        s.cache[sig] = ui
        if ui is not None:
            self.ui_outputs[nid] = ui
            await self.msg("executed", {"node": nid, "display_node": nid, "output": ui, "prompt_id": pid})
        self.executed.append(nid)
        self.node_state(nid, 1.0, 1.0, "finished")
        await self.progress_state()
        return None

    def image_size_text(self, nid: str) -> str:
        """What GetImageSize shows on the node (capture 16)."""
        graph = self.graph
        width = as_int(find_upstream(graph, nid, ("width",)), 512)
        height = as_int(find_upstream(graph, nid, ("height",)), 512)
        batch = as_int(find_upstream(graph, nid, ("batch_size",)), 1)
        return f"width: {width}, height: {height}\n batch size: {batch}"

    async def websocket_images(self, nid: str) -> None:
        """SaveImageWebsocket: every image goes out as a preview frame (0..n-1 progress); nothing is saved."""
        graph = self.graph
        batch = max(1, as_int(find_upstream(graph, nid, ("batch_size",)), 1))
        width = as_int(find_upstream(graph, nid, ("width",)), 64)
        height = as_int(find_upstream(graph, nid, ("height",)), 64)
        for i in range(batch):
            image = placeholder_png(f"websocket image {i + 1}/{batch} ({self.pid[:8]})", width, height)
            await self.step(nid, i, batch, image)
