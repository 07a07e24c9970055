"""Pre-flight of reference jobs (the storyboard cast's keyframes) and their text-to-image fallback. Loop thread.

A job whose inputs carry `REFERENCE_FALLBACK_KEY` (`{"allowed", "task", "template", "drop"}`, written by
`storyboard.plan.keyframe_spec`) needs a reference model (Flux Kontext) the server may not have. Before it is sent,
its graph is pre-flighted against the server's node classes and model lists: missing nodes or models are reported
with the fix (which file goes into which ComfyUI/models folder), or, when the user allowed it, the job is sent as
plain text to image instead, and the job says so (an adjustment and a log line).
"""

from __future__ import annotations

from typing import Any

from ...runtime.errors import IncompatibleServer
from ...workflows.comfyui_graph import prepare_graph
from ...workflows.preflight_checks import MISSING_MODEL, MISSING_NODE, model_references, preflight, preflight_error

REFERENCE_FALLBACK_KEY = "reference_fallback"  # the same key as storyboard.cast.REFERENCE_FALLBACK_KEY
FALLBACK_HINT = (
    " Or allow the storyboard's text-to-image fallback (Storyboard panel: Text-to-Image Fallback; headless: "
    "--allow-text-fallback) to make these keyframes from text alone, without the references."
)


async def server_models(http: Any, folders: set[str]) -> dict[str, list[str]]:
    """The model files the server lists in each folder (a folder it does not list is left out: nothing to compare)."""
    models: dict[str, list[str]] = {}
    for folder in sorted(folders):
        code, names = await http.request("GET", f"/models/{folder}")
        if code == 200 and isinstance(names, list):
            models[folder] = [str(n) for n in names]
    return models


async def checked_reference_graph(client: Any, job: Any, graph: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """`(graph to send, note)`: the reference graph when the server can run it; else the text-to-image graph with a
    note saying why (only when allowed), else IncompatibleServer naming the missing nodes/models and the fix."""
    fallback = job.inputs.get(REFERENCE_FALLBACK_KEY)
    if not isinstance(fallback, dict):
        return graph, ""
    models = await server_models(client.http, {r.folder for r in model_references(graph)})
    problems = [
        p
        for p in preflight(graph, await client.object_info(), models)
        if p.fix and p.fix.get("kind") in (MISSING_NODE, MISSING_MODEL)
    ]
    if not problems:
        return graph, ""
    error = preflight_error(problems, server=f"ComfyUI at {client.base}")
    assert error is not None  # problems is not empty
    if not fallback.get("allowed"):
        lowered = error.message[0].lower() + error.message[1:]
        raise IncompatibleServer(
            f"This keyframe keeps cast members from reference images, but {lowered}",
            error.hint + FALLBACK_HINT,
            service="comfyui",
        )
    drop = {REFERENCE_FALLBACK_KEY, *(str(k) for k in fallback.get("drop") or [])}
    inputs = {k: v for k, v in job.inputs.items() if k not in drop}
    text_graph = prepare_graph(
        str(fallback.get("task") or "keyframe"), fallback.get("template"), inputs, client.settings
    )
    note = (
        f"Made from text alone, without the cast references, as the storyboard allows: {error.message} "
        f"({error.hint.removeprefix('To fix it, ')})"
    )
    return text_graph, note
