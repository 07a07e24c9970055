"""Run the storyboard in real Blender (the bpy module): install the add-on zip, run "Storyboard from Logline",
pump the timer until every job ends, save the .blend and a contact sheet, and write `summary.json`.

Usage (normally spawned by `python -m genbridge storyboard`): `<bpy python> storyboard_in_blender.py CONFIG.json`
where CONFIG holds logline, shots, out, endpoints {service: url}, text_model and timeout. Exit code 0 only when
every shot has its keyframe image strip and its clip movie strip, in order.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from genbridge.standins import blender_harness  # stdlib only: safe before `import bpy`

ACTIVE = {"queued", "submitted", "running", "downloading"}


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    out = Path(config["out"]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    blender_harness.isolate(Path(tempfile.mkdtemp(prefix="genbridge-demo-bpy-")))
    import bpy

    # GENBRIDGE_ADDON_SOURCE: build the add-on from another checkout (default: this repository).
    source = Path(os.environ.get("GENBRIDGE_ADDON_SOURCE") or blender_harness.REPO)
    zip_path = blender_harness.build_zip(out / "addon", source)
    gb = blender_harness.install_zip(zip_path)
    timings["blender_install_s"] = time.monotonic() - t0
    print(f"GenBridge {zip_path.name} installed in Blender {bpy.app.version_string}", flush=True)
    try:
        return run_storyboard(bpy, gb, config, out, timings)
    finally:
        import addon_utils

        # Stop the add-on's loop thread and timer so nothing keeps the bpy module alive at exit.
        addon_utils.disable(blender_harness.PKG, default_set=True)


def configure(bpy: Any, config: dict[str, Any], out: Path) -> None:
    prefs = bpy.context.preferences.addons[blender_harness.PKG].preferences
    for service, url in config["endpoints"].items():
        rows = prefs.endpoints(service)
        rows.clear()
        row = rows.add()
        row.url, row.label = url, config.get("labels", {}).get(service, "")
    prefs.text_model = config.get("text_model", "")
    prefs.output_dir = str(out / "media")


def run_storyboard(bpy: Any, gb: Any, config: dict[str, Any], out: Path, timings: dict[str, float]) -> int:
    configure(bpy, config, out)
    session = gb.blender.running()
    session.runtime.update_settings()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = 24, 1.0, 1
    board = scene.genbridge_storyboard
    if config.get("cast"):  # --cast: the characters and their references, before the shot list adds its own
        cast_module = importlib.import_module(f"{blender_harness.PKG}.storyboard.cast")
        props = importlib.import_module(f"{blender_harness.PKG}.storyboard.props")
        props.write_cast(board, cast_module.Cast.from_data(config["cast"]))
    board.allow_text_fallback = bool(config.get("allow_text_fallback"))
    started = time.monotonic()
    result = bpy.ops.genbridge.storyboard_from_logline(logline=config["logline"], shots=int(config["shots"]))
    if result != {"FINISHED"}:
        print(f"the storyboard operator returned {result}", flush=True)
        return 1
    deadline = started + float(config.get("timeout", 300))
    shotlist_done = None
    while True:
        session.dispatcher.timer_callback()
        shotlist_state = session.jobs.get(board.shotlist_job, {}).get("state")
        if shotlist_done is None and shotlist_state == "done" and len(board.shots):
            shotlist_done = time.monotonic() - started
        busy = any(row.get("state") in ACTIVE for row in session.jobs.values())
        if not busy and shotlist_state not in ACTIVE and (board.shots or shotlist_state != "done"):
            break
        if time.monotonic() > deadline:
            print(f"timed out after {config.get('timeout')} s; cancelling what is left", flush=True)
            bpy.ops.genbridge.storyboard_cancel()
            _drain(session, 10.0)
            break
        time.sleep(0.02)
    timings["shot_list_s"] = shotlist_done or 0.0
    timings["storyboard_s"] = time.monotonic() - started

    blend = out / "storyboard.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    sheet = contact_sheet(bpy, board, out / "contact_sheet.png")
    summary = summarize(session, scene, board, timings)
    summary.update(blend=str(blend), contact_sheet=str(sheet) if sheet else "", text=_text(bpy, board))
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"storyboard status: {board.status}; {len(board.shots)} shots; saved {blend}", flush=True)
    return 0 if summary["ok"] else 1


def _drain(session: Any, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and any(r.get("state") in ACTIVE for r in session.jobs.values()):
        session.dispatcher.timer_callback()
        time.sleep(0.02)


def _text(bpy: Any, board: Any) -> str:
    text = bpy.data.texts.get(board.text_name)
    return text.as_string() if text else ""


def summarize(session: Any, scene: Any, board: Any, timings: dict[str, float]) -> dict[str, Any]:
    """Jobs (who did what, and why), strips per shot, and whether the layout is complete."""
    roles: dict[str, tuple[int, str]] = {}
    cast: dict[str, tuple[list[str], str]] = {}  # keyframe job -> (references "name: path", why)
    for s, shot in enumerate(board.shots):
        for take in shot.takes:
            roles[take.keyframe_job] = (s, "keyframe")
            roles[take.clip_job] = (s, "clip")
            refs = [line for line in take.keyframe_references.split("\n") if line]
            cast[take.keyframe_job] = (refs, take.keyframe_cast_note)
    jobs = []
    for row in sorted(session.jobs.values(), key=lambda r: r.get("created_at", 0)):
        plan = row.get("plan") or []
        shot, role = roles.get(row["id"], (None, "shot list" if row["id"] == board.shotlist_job else "?"))
        finished = row.get("finished_at") or row.get("updated_at") or 0
        jobs.append(
            {
                "id": row["id"],
                "task": row.get("task"),
                "shot": shot,
                "role": role,
                "state": row.get("state"),
                "service": row.get("service") or "",
                "instance": row.get("instance") or "",
                "reason": plan[0].get("reason", "") if plan else "",
                "depends_on": row.get("depends_on") or [],
                "seconds": max(0.0, finished - row.get("created_at", finished)) if finished else None,
                "outputs": row.get("outputs") or [],
                "error": (row.get("error") or {}).get("message", ""),
                "references": cast.get(row["id"], ([], ""))[0],
                "cast_why": cast.get(row["id"], ([], ""))[1],
            }
        )
    strips = []
    for strip in gb_strips(scene):
        strips.append(
            {
                "name": strip.name,
                "type": strip.type,
                "channel": strip.channel,
                "frame_start": int(strip.frame_final_start),
                "frames": int(strip.frame_final_duration),
                "mute": bool(strip.mute),
                "job_id": strip.get("genbridge_job_id", ""),
            }
        )
    ok = bool(board.shots) and all(j["state"] == "done" for j in jobs) and layout_complete(board, strips)
    return {
        "ok": ok,
        "status": board.status,
        "logline": board.logline,
        "shots": len(board.shots),
        "jobs": jobs,
        "strips": strips,
        "timings": timings,
        "shot_list": [{"description": s.description, "duration": s.duration, "camera": s.camera} for s in board.shots],
        "cast": [{"name": m.name, "references": [r.path for r in m.references]} for m in board.cast],
    }


def gb_strips(scene: Any) -> list[Any]:
    editor = scene.sequence_editor
    if editor is None:
        return []
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    return sorted(strips, key=lambda s: (s.frame_final_start, s.channel))


def layout_complete(board: Any, strips: list[dict[str, Any]]) -> bool:
    """One image strip (channel 1) and one movie strip (channel 2) per shot, each starting where the shot starts."""
    shown = [s for s in strips if not s["mute"]]
    images = [s for s in shown if s["type"] == "IMAGE" and s["channel"] == 1]
    movies = [s for s in shown if s["type"] == "MOVIE" and s["channel"] == 2]
    if len(images) != len(board.shots) or len(movies) != len(board.shots):
        return False
    chosen = [shot.takes[shot.chosen] for shot in board.shots if shot.takes]
    return (
        [s["job_id"] for s in images] == [t.keyframe_job for t in chosen]
        and [s["job_id"] for s in movies] == [t.clip_job for t in chosen]
        and all(i["frame_start"] == m["frame_start"] for i, m in zip(images, movies, strict=True))
    )


def contact_sheet(bpy: Any, board: Any, path: Path, thumb_w: int = 320, columns: int = 3) -> Path | None:
    """The chosen keyframes side by side in one PNG (nearest-neighbour thumbnails, composed with numpy)."""
    import numpy as np

    files = [shot.takes[shot.chosen].keyframe_path for shot in board.shots if shot.takes]
    files = [f for f in files if f and Path(f).is_file()]
    if not files:
        return None
    thumbs = []
    for f in files:
        image = bpy.data.images.load(f, check_existing=True)
        w, h = image.size
        pixels = np.empty(w * h * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
        pixels = pixels.reshape(h, w, 4)
        thumb_h = max(1, round(h * thumb_w / w))
        rows = (np.arange(thumb_h) * h / thumb_h).astype(int)
        cols = (np.arange(thumb_w) * w / thumb_w).astype(int)
        thumbs.append(pixels[rows][:, cols])
    cell_h = max(t.shape[0] for t in thumbs)
    gap = 8
    rows_n = (len(thumbs) + columns - 1) // columns
    cols_n = min(columns, len(thumbs))
    sheet_w, sheet_h = cols_n * (thumb_w + gap) + gap, rows_n * (cell_h + gap) + gap
    sheet = np.full((sheet_h, sheet_w, 4), (0.08, 0.08, 0.08, 1.0), dtype=np.float32)
    for i, thumb in enumerate(thumbs):
        r, c = divmod(i, columns)
        # Blender's pixel rows run bottom-up: the first shot goes in the top-left corner.
        y = sheet_h - gap - (r + 1) * (cell_h + gap) + gap
        x = gap + c * (thumb_w + gap)
        sheet[y : y + thumb.shape[0], x : x + thumb_w] = thumb
    out = bpy.data.images.new("GenBridge Contact Sheet", sheet_w, sheet_h, alpha=True)
    out.pixels.foreach_set(sheet.ravel())
    out.filepath_raw = str(path)
    out.file_format = "PNG"
    out.save()
    return path


if __name__ == "__main__":
    try:
        code = main(sys.argv[1])
    except Exception:  # noqa: BLE001 - the parent reads the exit code and this traceback
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # The bpy module can hang at interpreter exit on 4.x (blender.md §10); everything is written, leave now.
    os._exit(code)
