"""Models on the WanGP stand-in: v1 listing, schemas and defaults from the captures, late-v1 `wangp_models`, and
v2 `wangp_models` paged and filtered as WanGP's pager does (see `paging.py`)."""

from __future__ import annotations

from typing import Any

from .common import SCHEMA_FIXTURES, ToolFailure, structured
from .paging import search_v2


class CatalogTools:
    """Model discovery tools (a mixin of the stand-in server)."""

    def _schema(self, model_type: str) -> dict[str, Any] | None:
        if model_type in SCHEMA_FIXTURES:
            return structured(f"07_model_schema_{model_type}.json")
        record = self._catalog.get(model_type)
        if record is None:
            return None
        keys = (
            "model_type",
            "name",
            "family",
            "base_model_type",
            "finetune",
            "inputs",
            "outputs",
            "capabilities",
            "fps",
            "frames_minimum",
            "frames_steps",
            "frames_maximum",
            "sliding_window",
        )
        meta = {k: record[k] for k in keys if k in record}
        raw = self._raw_catalog.get(model_type) or {}
        # The compact records carry each model's media roles (start, end, ...); capture 50 only lists input kinds.
        meta["media_inputs"] = raw.get("media_inputs") or {"image": {"start": "image" in record.get("inputs", [])}}
        return {"metadata": meta}

    def _image_roles(self, model_type: str) -> set[str]:
        """The image roles ("start", "end", ...) the model takes, from its schema (empty when unknown)."""
        schema = self._schema(model_type) or {}
        image = (schema.get("metadata") or {}).get("media_inputs", {}).get("image")
        if isinstance(image, dict):
            return {role for role, on in image.items() if on}
        return set(image or ())

    def _defaults(self, model_type: str) -> dict[str, Any]:
        if model_type in SCHEMA_FIXTURES:
            return dict(structured(f"08_default_settings_{model_type}.json"))
        record = self._catalog.get(model_type)
        if record is None:
            raise ToolFailure(f"Unknown model_type: {model_type}")
        return {
            "prompt": "",
            "resolution": record["default_resolution"],
            "video_length": record["default_video_length"],
            "num_inference_steps": record["default_num_inference_steps"],
            "seed": -1,
            "model_type": model_type,
        }

    def _compact(self, record: dict[str, Any]) -> dict[str, Any]:
        return {k: record[k] for k in ("model_type", "name", "family", "base_model_type", "inputs", "capabilities")}

    async def _tool_wangp_list_models(self, args: dict[str, Any]) -> tuple[Any, bool]:
        limit, offset = min(int(args.get("limit") or 10), 10), int(args.get("offset") or 0)
        records = list(self._catalog.values())[offset : offset + limit]
        return [self._compact(r) for r in records], True

    async def _tool_wangp_get_model_schema(self, args: dict[str, Any]) -> tuple[Any, bool]:
        return self._schema(str(args.get("model_type"))), True

    async def _tool_wangp_get_default_settings(self, args: dict[str, Any]) -> tuple[Any, bool]:
        return self._defaults(str(args.get("model_type"))), False

    async def _tool_wangp_get_model_availability(self, args: dict[str, Any]) -> tuple[Any, bool]:
        model = str(args.get("model_type"))
        ok = model in self._downloaded_models or not self.download_delay
        return {
            "model_type": model,
            "status": "available" if ok else "missing",
            "status_code": 2 if ok else 0,
            "indicator": "green" if ok else "black_square",
            "available": ok,
        }, False

    async def _tool_wangp_models(self, args: dict[str, Any]) -> tuple[Any, bool]:
        if self.contract == "v2":
            return search_v2(self._pages, list(self._raw_catalog.values()), args), False
        limit, offset = min(int(args.get("limit") or 10), 50), int(args.get("offset") or 0)
        records = list(self._catalog.values())
        page = records[offset : offset + limit]
        return {
            "models": [self._compact(r) for r in page],
            "total": len(records),
            "returned": len(page),
            "offset": offset,
            "has_more": offset + limit < len(records),
        }, False

    async def _tool_wangp_model(self, args: dict[str, Any]) -> tuple[Any, bool]:
        model = str(args.get("model_type"))
        view = args.get("action") if self.contract == "v2" else args.get("view", "schema")
        if view in ("schema", "capabilities"):
            schema = self._schema(model)
            if schema is None:
                raise ToolFailure(f"Unknown model_type: {model}")
            return schema, False
        if view == "defaults":
            return self._defaults(model), False
        raise ToolFailure(f"unsupported view {view!r} in the stand-in")
