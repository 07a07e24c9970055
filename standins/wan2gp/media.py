"""Media on the WanGP stand-in: gallery records, one-use upload/download tickets and their HTTP routes.

Uploads are checked like WanGP does: an image that does not decode is refused with 400 and WanGP's reason.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from .common import ToolFailure

IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF", b"GIF8")


class MediaTools:
    """Gallery, upload and download tickets (mixed into the stand-in server)."""

    async def _upload(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "invalid_token"}, status=401)
        filename = self._uploads.pop(request.match_info["token"], None)
        if filename is None:
            return web.json_response({"error": "Upload expired or not found."}, status=404)
        target = self.output_dir / "mcp_uploads" / uuid.uuid4().hex / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        with target.open("wb") as out:
            async for chunk in request.content.iter_chunked(1 << 20):
                size += len(chunk)
                out.write(chunk)
        media_type = "image" if target.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp") else "video"
        if media_type == "image" and not target.read_bytes()[:16].startswith(IMAGE_SIGNATURES):
            # WanGP opens uploaded images with PIL: a broken one is refused with PIL's own words (issue 17.4).
            target.unlink(missing_ok=True)
            return web.json_response({"error": f"cannot identify image file '{target}'"}, status=400)
        record = self._register(target, media_type)
        return web.json_response({"status": "uploaded", "size": size, **record})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"error": "invalid_token"}, status=401)
        path = self._downloads.pop(request.match_info["token"], None)
        if path is None:
            return web.json_response({"error": "Download expired or not found."}, status=404)
        return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{path.name}"'})

    async def _tool_wangp_create_gallery_upload(self, args: dict[str, Any]) -> tuple[Any, bool]:
        filename = Path(str(args.get("filename", ""))).name
        if Path(filename).suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".mp4", ".mov", ".wav", ".mp3"):
            raise ToolFailure("filename must have a supported image, video, or audio extension")
        token = uuid.uuid4().hex
        self._uploads[token] = filename
        return {
            "upload_url": f"/wangp_api/gallery/upload/{token}",
            "method": "PUT",
            "filename": filename,
            "expires_in_seconds": 600,
            "max_bytes": 8589934592,
        }, False

    async def _tool_wangp_create_gallery_download(self, args: dict[str, Any]) -> tuple[Any, bool]:
        key = "gallery_id" if self.contract == "v1" else "media_id"
        media_id = str(args.get(key))
        record = self.gallery.get(media_id)
        if record is None:
            raise ToolFailure(f"'Unknown WanGP {key}: {media_id}'")
        path = Path(record["_path"])
        token = uuid.uuid4().hex
        self._downloads[token] = path
        return {
            key: media_id,
            "download_url": f"/wangp_api/gallery/download/{token}",
            "filename": path.name,
            "media_type": record["media_type"],
            "size": path.stat().st_size,
            "expires_in_seconds": 600,
        }, False

    def _register(self, path: Path, media_type: str) -> dict[str, Any]:
        media_id = "visual:" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
        record = {
            "gallery_id": media_id,
            "gallery": "visual",
            "index": len(self.gallery),
            "path": str(path),
            "media_type": media_type,
            "selected": True,
            "in_gallery": True,
            "settings": {},
        }
        self.gallery[media_id] = {**record, "_path": str(path)}
        return self._item(record)

    def _item(self, record: dict[str, Any]) -> dict[str, Any]:
        record = {k: v for k, v in record.items() if not k.startswith("_")}
        if self.contract == "v1":
            if not self.share_paths:
                record["path"] = f"/wangp-remote/outputs/{Path(record['path']).name}"
            return record
        return {
            "media_id": record["gallery_id"],
            "gallery": record["gallery"],
            "media_type": record["media_type"],
            "filename": Path(record["path"]).name,
            "description": "",
            "source": "generation",
            "selected": True,
            "in_gallery": True,
        }
