"""Typed views of the WanGP MCP replies we depend on, plus the model rules (frames, resolution) checked before submit.

Shapes follow the captures of WanGP 12.60 (v1) and the static v2 contract; unknown fields are ignored so newer
servers that add fields keep working.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from ...workflows.wan2gp_rules import (
    RESOLUTION_MULTIPLE,
    FrameRule,
    ModelLimits,
    nearest_resolution,
    parse_resolution,
    resolution_multiple_for,
)


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class JobEventRecord(_Loose):
    """One entry of a job's event ring: `kind` plus kind-specific `data` (a dict or a plain string)."""

    kind: str
    timestamp: float = 0.0
    data: Any = None


class JobErrorRecord(_Loose):
    """A task error with the stage it happened in (validation, generation, cancelled, runtime)."""

    message: str = ""
    task_index: int | None = None
    task_id: int | None = None
    stage: str = ""
    cancelled: bool = False


class JobResultRecord(_Loose):
    """What a finished job produced: files on the server's disk and gallery ids to download them by."""

    success: bool = False
    cancelled: bool = False
    generated_files: list[str] = Field(default_factory=list)
    errors: list[JobErrorRecord] = Field(default_factory=list)
    gallery_items: list[dict[str, Any]] = Field(default_factory=list)
    total_tasks: int = 0
    successful_tasks: int = 0
    failed_tasks: int = 0


class JobSnapshot(_Loose):
    """The job state object every generate / get_job / cancel_job reply carries (no status enum: derive it)."""

    job_id: str
    done: bool = False
    cancel_requested: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0
    events: list[JobEventRecord] = Field(default_factory=list)
    result: JobResultRecord | None = None
    status: str | None = None  # v2 "timeout" when a wait=true call returned before the job ended
    waiting_timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        return self.done and self.result is not None and self.result.success

    @property
    def cancelled(self) -> bool:
        """Cancelled, or cancel requested and not a success (the cancel of a failing download reports failure)."""
        if not self.done:
            return False
        if self.result is not None and self.result.cancelled:
            return True
        return self.cancel_requested and not self.succeeded


class UploadTicket(_Loose):
    """A one-use upload URL (relative to the server origin)."""

    upload_url: str
    method: str = "PUT"
    filename: str = ""
    expires_in_seconds: int = 600
    max_bytes: int | None = None


class UploadReceipt(_Loose):
    """The PUT reply: the media id to pass in settings (12.x `gallery_id`, later `media_id`)."""

    status: str = ""
    size: int = 0
    gallery_id: str | None = None
    media_id: str | None = None
    path: str = ""  # where the server stored it: `<output dir>/mcp_uploads/<id>/<name>` (declares its output dir)

    @property
    def id(self) -> str | None:
        return self.media_id or self.gallery_id


class DownloadTicket(_Loose):
    """A one-use download URL and what it will deliver."""

    download_url: str
    filename: str = ""
    media_type: str = ""
    size: int | None = None
    expires_in_seconds: int = 600


class ModelSchema(_Loose):
    """The per-model limits we check jobs against (schema `metadata`, or v2 `capabilities.metadata`)."""

    model_type: str
    name: str = ""
    family: str = ""
    fps: float | None = None
    frames_minimum: int | None = None
    frames_steps: int | None = None
    frames_maximum: int | None = None
    sliding_window: bool = False
    inputs: list[str] = Field(default_factory=list)
    media_inputs: dict[str, Any] = Field(default_factory=dict)
    # Not in the 12.60 schema; read when a server gives them (names as WanGP's settings use them).
    resolutions: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("resolutions", "resolution_choices")
    )
    steps_minimum: int | None = Field(None, validation_alias=AliasChoices("steps_minimum", "num_inference_steps_min"))
    steps_maximum: int | None = Field(None, validation_alias=AliasChoices("steps_maximum", "num_inference_steps_max"))

    @property
    def accepts_start_image(self) -> bool:
        image = self.media_inputs.get("image")
        if isinstance(image, dict):  # v1: {"start": bool, ...}
            return bool(image.get("start"))
        if isinstance(image, list):  # v2: list of roles
            return "start" in image
        return "image" in self.inputs

    # v1 model definitions (`wangp_get_model`) name the allowed `image_prompt_type` flags instead.
    image_prompt_types_allowed: str | None = None
    vae_block_size: int | None = None  # the size grid WanGP floors to (model definitions; not in the 12.60 schema)

    @property
    def accepts_end_image(self) -> bool:
        """An end image (first-last-frame): the schema's image role "end", else "E" among the allowed flags.

        Unknown is no: WanGP drops an end image a model does not take without a word, so GenBridge refuses it.
        """
        image = self.media_inputs.get("image")
        if isinstance(image, dict):
            return bool(image.get("end"))
        if isinstance(image, list):
            return "end" in image
        return "E" in (self.image_prompt_types_allowed or "")

    def limits(self) -> ModelLimits:
        """The plain limits the WanGP model rules (`workflows.wan2gp_rules`) check a job against."""
        return ModelLimits(
            model_type=self.model_type,
            name=self.name,
            family=self.family,
            frames_minimum=self.frames_minimum,
            frames_steps=self.frames_steps,
            frames_maximum=self.frames_maximum,
            sliding_window=self.sliding_window,
            resolutions=tuple(str(r) for r in self.resolutions),
            steps_minimum=self.steps_minimum,
            steps_maximum=self.steps_maximum,
            accepts_start_image=self.accepts_start_image,
            accepts_end_image=self.accepts_end_image,
            resolution_multiple=resolution_multiple_for(self.family, self.model_type, self.vae_block_size),
        )

    def frame_rule(self) -> FrameRule:
        return self.limits().frame_rule()


__all__ = [
    "RESOLUTION_MULTIPLE",
    "DownloadTicket",
    "FrameRule",
    "JobErrorRecord",
    "JobEventRecord",
    "JobResultRecord",
    "JobSnapshot",
    "ModelSchema",
    "UploadReceipt",
    "UploadTicket",
    "nearest_resolution",
    "parse_resolution",
]
