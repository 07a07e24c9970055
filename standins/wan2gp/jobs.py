"""Generations on the WanGP stand-in: submit (one at a time), poll, cancel, and the simulated run itself."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from .common import BUSY, HUB_ERROR, MEDIA_KEYS, OOM_ERROR, SimJob, ToolFailure


class JobTools:
    """`wangp_generate`, job polling and cancel, `wangp_session`, and the simulated generation (a mixin)."""

    def inject_failure(self, kind: str) -> None:
        """Make the next generation fail: "oom" (at the first step), "download" (weights), "runtime"."""
        self.failures.append(kind)

    def generate_calls(self) -> list[dict[str, Any]]:
        return [args for name, args in self.calls if name == "wangp_generate"]

    async def _tool_wangp_generate(self, args: dict[str, Any]) -> tuple[Any, bool]:
        if self.contract == "v2":
            settings, wait = args.get("settings"), args.get("wait", True)
            if not self.async_generate and wait is False:
                raise ToolFailure(
                    "wait=false is unavailable: asynchronous execution is disabled. Nothing was submitted."
                )
            if not isinstance(settings, dict) or not settings.get("prompt"):
                raise ToolFailure("settings is required and needs model_type and a non-empty prompt")
            if self._schema(str(settings.get("model_type"))) is None:
                raise ToolFailure(f"settings.model_type: Unknown model_type: {settings.get('model_type')}")
        else:
            settings, wait = args.get("source"), bool(args.get("wait", False))
            if not isinstance(settings, dict):
                raise ToolFailure("2 validation errors for wangp_generateArguments")
        for key in MEDIA_KEYS:
            value = settings.get(key)
            if isinstance(value, str) and value and value not in self.gallery:
                if "/" in value or "\\" in value:
                    raise ToolFailure(
                        f"Direct filesystem paths are disabled for this MCP server. Use a Gallery id "
                        f"for {key}, or restart with filesystem reads enabled."
                    )
                raise ToolFailure(f"'Unknown WanGP gallery_id: {value}'")
        if problem := self._image_problem(settings):
            # v2 names the setting's location; v1 would take the job and silently drop an end image the model has
            # no use for (flags outside its allowed ones are removed): refusing it is stricter, never kinder.
            raise ToolFailure(f"settings.{problem}" if self.contract == "v2" else problem)
        if self.external_busy > 0:
            self.external_busy -= 1
            raise ToolFailure(BUSY)
        if self.active is not None and not self.active.done:
            raise ToolFailure(BUSY)
        job = SimJob(uuid.uuid4().hex, dict(settings))
        self.jobs[job.job_id] = job
        self.active = job
        self._event(job, "started", {"tasks": 1})
        task = asyncio.get_running_loop().create_task(self._run_job(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if wait:
            timeout = args.get("timeout_s")
            try:
                await asyncio.wait_for(job.finished.wait(), timeout=float(timeout) if timeout else None)
            except TimeoutError:
                if self.contract != "v2":
                    raise ToolFailure("WanGP session job timed out") from None
                return {**job.snapshot(args.get("event_limit")), "status": "timeout", "waiting_timed_out": True}, False
        return job.snapshot(args.get("event_limit", 20 if self.contract != "v2" else 0)), False

    def _image_problem(self, settings: dict[str, Any]) -> str | None:
        """What is wrong with the start/end images of `settings` for its model (`image_prompt_type` S and E)."""
        model = str(settings.get("model_type"))
        roles = self._image_roles(model)
        flags = settings.get("image_prompt_type")
        for key, flag, role in (("image_start", "S", "start"), ("image_end", "E", "end")):
            value = settings.get(key)
            if value and role not in roles:
                return f"{key}: model {model} does not support a{'n' if role == 'end' else ''} {role} image"
            if value and isinstance(flags, str) and flag not in flags:
                return f"{key}: image_prompt_type {flags!r} has no {flag}, so {key} would be ignored"
            if not value and role == "end" and isinstance(flags, str) and flag in flags:
                # (a lone S is the default of image-to-video models, sent with no image by text-only jobs)
                return f"image_prompt_type: {flag} needs {key}"
        if settings.get("image_end") and not settings.get("image_start"):
            return "image_end: an end image needs image_start too"
        return None

    def _job(self, job_id: Any) -> SimJob:
        job = self.jobs.get(str(job_id))
        if job is None:
            raise ToolFailure(f"'Unknown WanGP job_id: {job_id}'")
        return job

    async def _tool_wangp_get_job(self, args: dict[str, Any]) -> tuple[Any, bool]:
        return self._job(args.get("job_id")).snapshot(args.get("event_limit")), False

    async def _tool_wangp_cancel_job(self, args: dict[str, Any]) -> tuple[Any, bool]:
        job = self._job(args.get("job_id"))
        if not job.done:
            job.cancel_requested = True
        return job.snapshot(args.get("event_limit")), False

    async def _tool_wangp_session(self, args: dict[str, Any]) -> tuple[Any, bool]:
        action, arguments = args.get("action"), dict(args.get("arguments") or {})
        if action == "list_queue":
            running = 1 if self.active is not None and not self.active.done else 0
            return {"total_count": running, "queued_count": 0, "running_count": running, "tasks": []}, False
        handlers = {
            "get_job": self._tool_wangp_get_job,
            "cancel_job": self._tool_wangp_cancel_job,
            "create_gallery_upload": self._tool_wangp_create_gallery_upload,
            "create_gallery_download": self._tool_wangp_create_gallery_download,
        }
        if action not in handlers:
            raise ToolFailure(f"Unknown action: {action}")
        return await handlers[action](arguments)

    def _event(self, job: SimJob, kind: str, data: Any) -> None:
        self._last_ts = max(time.time(), self._last_ts + 1e-6)  # strictly increasing, like a real clock mostly is
        job.events.append({"kind": kind, "timestamp": self._last_ts, "data": data})
        job.events = job.events[-500:]
        job.updated_at = self._last_ts

    def _progress(
        self,
        job: SimJob,
        phase: str,
        percent: int,
        step: int | None = None,
        total: int | None = None,
        kind: str = "progress",
    ) -> None:
        data = {
            "phase": phase,
            "status": phase.replace("_", " ").title(),
            "progress": percent,
            "current_step": step,
            "total_steps": total,
            "raw_phase": phase,
            "unit": "steps" if step else None,
        }
        if kind == "preview":
            data = {
                "has_image_preview": True,
                **{k: data[k] for k in ("phase", "status", "progress", "current_step", "total_steps")},
            }
        self._event(job, kind, data)

    def _finish(self, job: SimJob, *, files: list[Path] | None = None, error: dict[str, Any] | None = None) -> None:
        files = files or []
        errors = [error] if error else []
        cancelled = bool(error and error.get("cancelled"))
        items = [self._register(p, "video") for p in files]
        result = {
            "success": not errors,
            "cancelled": cancelled,
            "generated_files": [str(p) if self.share_paths else f"/wangp-remote/outputs/{p.name}" for p in files],
            "errors": errors,
            "total_tasks": 1,
            "successful_tasks": 0 if errors else 1,
            "failed_tasks": 1 if errors else 0,
            "artifacts": [{"path": str(p), "media_type": "video", "client_id": None} for p in files],
        }
        if error:
            self._event(job, "error", error)
        self._event(job, "completed", dict(result))
        job.result = {**result, "gallery_items": items}
        job.done = True
        job.finished.set()

    def _cancelled(self, job: SimJob) -> bool:
        if job.cancel_requested:
            self._progress(job, "cancelled", 0)
            self._finish(
                job,
                error={
                    "message": "Generation was cancelled",
                    "task_index": 1,
                    "task_id": 1,
                    "stage": "cancelled",
                    "cancelled": True,
                },
            )
        return job.cancel_requested

    async def _run_job(self, job: SimJob) -> None:
        settings = job.settings
        model = str(settings.get("model_type"))
        schema = self._schema(model)
        failure = self.failures.pop(0) if self.failures else None
        self._event(job, "stream", {"stream": "stderr", "text": "INFO     Processing request of type CallToolRequest"})
        if schema is None or failure == "runtime":  # v1 creates the job and fails at once (capture 40)
            self._finish(
                job,
                error={
                    "message": "'NoneType' object has no attribute 'get'",
                    "task_index": None,
                    "task_id": None,
                    "stage": "runtime",
                    "cancelled": False,
                },
            )
            return
        name = schema["metadata"].get("name", model)
        self._event(job, "status", f"Loading model {name}...")
        if failure == "download":
            await asyncio.sleep(self.step_delay)
            self._finish(
                job,
                error={"message": HUB_ERROR, "task_index": 1, "task_id": 1, "stage": "generation", "cancelled": False},
            )
            return
        if self.download_delay and model not in self._downloaded_models:
            self._event(job, "status", f"Downloading model {name} weights...")
            deadline = time.monotonic() + self.download_delay
            while time.monotonic() < deadline and not job.cancel_requested:
                self._event(job, "stream", {"stream": "stderr", "text": "Fetching 4 files: 25%"})
                await asyncio.sleep(min(0.05, self.download_delay))
            self._downloaded_models.add(model)
        self._progress(job, "loading_model", 10)
        await asyncio.sleep(self.load_delay)
        if self._cancelled(job):
            return
        self._event(job, "status", "Model loaded")
        self._progress(job, "encoding_text", 18)
        total = max(1, int(settings.get("num_inference_steps") or 30))
        for step in range(1, total + 1):
            await asyncio.sleep(self.step_delay)
            if self._cancelled(job):
                return
            if failure == "oom":
                self._finish(
                    job,
                    error={
                        "message": OOM_ERROR,
                        "task_index": 1,
                        "task_id": 1,
                        "stage": "generation",
                        "cancelled": False,
                    },
                )
                return
            self._progress(job, "inference", 20 + int(70 * step / total), step, total)
            self._event(job, "stream", {"stream": "stdout", "text": f"{step}/{total} denoising"})
            if step % 5 == 0:
                self._progress(job, "inference", 20 + int(70 * step / total), step, total, kind="preview")
        self._progress(job, "decoding", 90)
        files = [await self._write_video(job, schema["metadata"])]
        self._progress(job, "downloading_output", 95)
        self._finish(job, files=files)

    async def _write_video(self, job: SimJob, meta: dict[str, Any]) -> Path:
        from ..placeholder import write_placeholder_mp4

        settings = job.settings
        width, height = (int(v) for v in str(settings.get("resolution") or "832x480").lower().split("x"))
        scale = min(1.0, self.placeholder_max_side / max(width, height))
        frames = min(int(settings.get("video_length") or 81), self.placeholder_max_frames)
        seed = settings.get("seed", -1)
        path = self.output_dir / f"{time.strftime('%Y-%m-%d-%Hh%Mm%Ss')}_seed{seed}_{job.job_id[:8]}.mp4"
        text = f"WanGP stand-in {settings.get('model_type')}: {str(settings.get('prompt'))[:40]}"
        await asyncio.to_thread(
            write_placeholder_mp4,
            path,
            text,
            int(width * scale),
            int(height * scale),
            frames,
            int(meta.get("fps") or 16),
        )
        return path
