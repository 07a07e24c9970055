"""Parameterised ComfyUI workflows and WanGP presets: templates, import checks and server pre-flight.

For the ComfyUI client (the contract):

1. `workflow = resolve_workflow(job.task, job.template, job.inputs)` gives an API-format workflow.
   - Template choice: `template` (a name, or a path to a workflow .json) if given, else `DEFAULT_TEMPLATES[task]`:
     "image"/"keyframe" -> sd15_txt2img (SD 1.5 is the default because it runs on the smallest GPUs and its
     checkpoint is the one most users already have), "img2img" -> sd15_img2img, "character_image" ->
     flux_kontext_character, "upscale" -> upscale_model, "video"/"final_video"/"quick_preview" -> wan21_t2v,
     or wan21_i2v when a start image is given.
   - Only keys the template declares are used; other job keys ("images", "target", "model" unless declared...)
     are ignored, because job inputs are shared by every backend. A few job-level names are mapped onto
     template parameters when the template declares the target and the caller did not give it directly:
     `start_image`/`reference_image`/`init_image`/first of `images` -> `image`, `negative` ->
     `negative_prompt`, `denoise` -> `strength`. `None` values count as "not given" (template default).
   - Bad values raise `TemplateParamError` (a RejectedInput) naming every bad parameter at once.
2. `image_uploads(workflow)` -> `{node_id: ImageUpload(input, local_path)}`: the local files to upload (the
   input holds the file's base name until then). Upload each, then
   `workflow = apply_uploaded_names(workflow, {node_id: server_name})`, which writes the server-returned
   names and removes GenBridge's `_meta` marker (so local paths never reach the server's history or PNGs).
   `Template.image_bindings(params)` gives the same mapping (`{node_id: local_path}`) before customising.
3. `preflight(workflow, object_info, models)` (pure) or `await preflight_live(workflow, base_url, session,
   cache)` lists every problem; `preflight_error(problems)` folds them into one IncompatibleServer (missing
   custom nodes/models, names them all) or RejectedInput. Keep one `PreflightCache` per client.

Seeds: -1 means random and is resolved by the job service before the client runs; templates declare their
seed as 0..2**63-1 (and still turn a stray -1 into a random seed when used outside the service).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

# The API lives in `api.py` and is loaded on first use: importing this package must stay cheap and must not pull
# in pydantic (Blender's main thread may reach it). No submodule is named like an API name
# (a test keeps it so), so a submodule file decides between the two without importing the API.


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    here = Path(__file__).parent
    if (here / f"{name}.py").is_file() or (here / name / "__init__.py").is_file():
        return importlib.import_module(f".{name}", __name__)  # `from ..workflows import text`
    api = importlib.import_module(".api", __name__)
    globals().update({n: getattr(api, n) for n in api.__all__})  # later lookups skip this function
    try:
        return getattr(api, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
