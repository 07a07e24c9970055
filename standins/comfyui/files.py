"""File routes: `GET /view` (path checks, Range/ETag through FileResponse, an injectable mid-body cut) and
`POST /upload/image` (rename on a name clash with other bytes, 413 over the size limit). Captures `02`, `04`,
`11`, `15`, `17`. Runs on the server's loop.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web


class FilesMixin:
    """`/view` and `/upload/image` for `ComfyUIStandIn`."""

    v038: bool
    dirs: dict[str, Path]
    max_upload_size: int
    faults: Any

    async def h_view(self, request: web.Request) -> web.StreamResponse:
        filename = request.query.get("filename", "")
        kind = request.query.get("type", "output")
        m = re.match(r"^(.*) \[(output|input|temp)\]$", filename)
        if m:
            filename, kind = m.group(1), m.group(2)
        if not filename or ".." in filename or filename.startswith("/") or kind not in self.dirs:
            return web.Response(status=400)
        filename = os.path.basename(filename)
        base = self.dirs[kind].resolve()
        folder = (base / request.query.get("subfolder", "")).resolve()
        if os.path.commonpath([base, folder]) != str(base):
            return web.Response(status=403)
        path = folder / filename
        if not path.is_file():
            return web.Response(status=404)
        headers = {"Content-Disposition": f'filename="{filename}"'}
        if self.v038:
            headers["X-Content-Type-Options"] = "nosniff"
        if self.faults.cut_view_after is not None and request.method == "GET":
            return await self._cut_view(request, path, headers)
        return web.FileResponse(path, headers=headers)

    async def _cut_view(self, request: web.Request, path: Path, headers: dict[str, str]) -> web.StreamResponse:
        """Announce the whole body (or range), send `cut_view_after` bytes of it, then drop the connection."""
        data = path.read_bytes()
        start, status = 0, 200
        m = re.match(r"^bytes=(\d+)-$", request.headers.get("Range", ""))
        if m and int(m.group(1)) < len(data):
            start, status = int(m.group(1)), 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        resp = web.StreamResponse(status=status, headers={**headers, "Accept-Ranges": "bytes"})
        resp.content_length = len(body)
        resp.content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        await resp.prepare(request)
        cut = self.faults.cut_view_after
        self.faults.cut_view_times -= 1
        if self.faults.cut_view_times <= 0:
            self.faults.cut_view_after = None
        await resp.write(body[:cut])
        transport = request.transport
        if transport is not None:
            transport.abort()  # the client sees a short body: ContentLengthError / payload not completed
        return resp

    async def h_upload(self, request: web.Request) -> web.Response:
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text=f"Maximum request body size {self.max_upload_size} exceeded.")
        image = form.get("image")
        if image is None or not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        kind = str(form.get("type", "input"))
        if kind not in self.dirs:
            return web.Response(status=400)
        subfolder = str(form.get("subfolder", ""))
        name = image.filename
        if name.startswith("/") or ".." in name.split("/") or "/" in name:
            return web.Response(status=400)
        base = self.dirs[kind].resolve()
        folder = (base / subfolder).resolve()
        if os.path.isabs(subfolder) or os.path.commonpath([base, folder]) != str(base):
            return web.Response(status=400)
        folder.mkdir(parents=True, exist_ok=True)
        data = image.file.read()
        overwrite = str(form.get("overwrite", "")).lower() in ("true", "1")
        target = folder / name
        if target.exists() and not overwrite:
            stem, ext = os.path.splitext(name)
            n = 1
            while target.exists():
                if target.read_bytes() == data:
                    break
                target = folder / f"{stem} ({n}){ext}"
                n += 1
        target.write_bytes(data)
        reply: dict[str, Any] = {"name": target.name, "subfolder": subfolder, "type": kind}
        if self.v038:  # the assets system (on by default) describes the stored file
            reply["asset"] = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{subfolder}/{target.name}")),
                "name": target.name,
                "asset_hash": "blake3:" + hashlib.blake2b(data, digest_size=32).hexdigest(),  # shape only
                "size": len(data),
                "mime_type": mimetypes.guess_type(target.name)[0] or "application/octet-stream",
                "tags": [kind],
            }
        return web.json_response(reply)
