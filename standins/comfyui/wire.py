"""A bare wire-level ComfyUI client (aiohttp only) to check the stand-in, or a real server, frame by frame.

Used by the stand-in's own tests: post a prompt, collect every text and binary frame until `executing{node:null}`.
"""

from __future__ import annotations

import asyncio
import json
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class Frames:
    """What one socket received: text messages (type, data) and binary frames, in arrival order."""

    texts: list[tuple[str, Any]] = field(default_factory=list)
    binary: list[bytes] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # "text:<type>" or "binary:<event type>"

    def of(self, kind: str) -> list[Any]:
        return [data for t, data in self.texts if t == kind]


async def run_prompt(
    url: str,
    graph: dict[str, Any],
    *,
    flags: bool = False,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    timeout: float = 20.0,
) -> tuple[str, Frames]:
    """Open /ws (optionally negotiating preview metadata), POST the graph, read until `executing{node:null}`."""
    client_id = uuid.uuid4().hex
    frames = Frames()
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.ws_connect(f"{url}/ws?clientId={client_id}", max_msg_size=0) as ws:
            if flags:
                await ws.send_str(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
            body = {"prompt": graph, "client_id": client_id, **(extra or {})}
            async with http.post(f"{url}/prompt", json=body) as resp:
                reply = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"POST /prompt answered {resp.status}: {reply}")
            pid = reply["prompt_id"]

            async def read() -> None:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        frames.binary.append(msg.data)
                        frames.order.append(f"binary:{struct.unpack('>I', msg.data[:4])[0]}")
                        continue
                    data = json.loads(msg.data)
                    frames.texts.append((data["type"], data["data"]))
                    frames.order.append(f"text:{data['type']}")
                    if data["type"] == "executing" and data["data"].get("node") is None:
                        if data["data"].get("prompt_id") == pid:
                            return

            await asyncio.wait_for(read(), timeout)
    return pid, frames


def preview_metadata(frame: bytes) -> tuple[dict[str, Any], bytes]:
    """Split a type-4 frame into its JSON header and image bytes."""
    kind, size = struct.unpack(">II", frame[:8])
    if kind != 4:
        raise ValueError(f"not a type-4 preview frame (type {kind})")
    return json.loads(frame[8 : 8 + size]), frame[8 + size :]


def sampler_graph(ckpt_name: str = "m.safetensors", steps: int = 3) -> dict[str, Any]:
    """An SD1.5-shaped graph (checkpoint -> prompt -> KSampler -> decode -> SaveImage); needs `ckpt_name`."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt_name}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["1", 0],
                "positive": ["2", 0],
                "negative": ["2", 0],
                "latent_image": ["3", 0],
                "seed": 1,
                "steps": steps,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
            },
        },
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "sd"}},
    }
