"""Storyboard operators: logline -> shot list (LiteLLM) -> per shot a keyframe (ComfyUI) and a clip (WanGP/ComfyUI).

Flow, all on Blender's main thread and never blocking: "Storyboard from Logline" submits the shot-list job (its
tokens stream into a Text block). When that job's state event lands, `on_job_state` reads the `shotlist.json` it
wrote, plans every shot's keyframe and clip jobs (the clip waits for its keyframe and starts from it) and submits
them at once; the job service runs them in dependency order. Each later state event of a storyboard job is recorded
on its take, and every finished job re-applies the layout (chosen take on channels 1-2, other takes muted above).
The rules live in `model` and `plan`; this module only reads and writes Blender data.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bpy
from bpy.props import IntProperty, StringProperty

from .. import blender
from ..blender.bpytypes import OperatorResult
from ..blender.hooks import JOB_STATE_LISTENERS
from ..blender.landing import strips_of
from ..runtime.vocabulary import STOPPED_STATES
from .model import StoryboardOptions, apply_job, pending_job_ids, read_shotlist
from .plan import layout, plan_storyboard, plan_take, shot_at_frame, shotlist_spec, strip_places
from .props import read_cast, read_shots, write_cast, write_shots
from .shot_cameras import marker_cameras, submit_specs

log = logging.getLogger("genbridge.storyboard")

TERMINAL = STOPPED_STATES


def _options(board: Any) -> Any:
    return StoryboardOptions(
        fps=board.fps, start_frame=board.start_frame, allow_text_fallback=bool(board.allow_text_fallback)
    )


def _enabled(cls: Any) -> bool:
    if blender.current() is None:
        cls.poll_message_set("GenBridge is not enabled")
        return False
    return True


def board_of_group(group: str | None) -> tuple[Any, Any] | None:
    """(scene, storyboard) whose jobs carry `group`, or None."""
    if not group:
        return None
    for scene in bpy.data.scenes:
        board = getattr(scene, "genbridge_storyboard", None)
        if board is not None and board.group == group:
            return scene, board
    return None


# -- following the jobs (main thread, from the session's state handler) ------------------------------------------------
def on_job_state(row: dict[str, Any]) -> None:
    """Record a storyboard job's new state; when the shot list is done, submit every shot's jobs."""
    found = board_of_group(row.get("group"))
    if found is None:
        return
    scene, board = found
    state = row.get("state", "")
    if row.get("id") == board.shotlist_job:
        if state == "done":
            _start_shots(scene, board, row)
        elif state in TERMINAL:
            error = (row.get("error") or {}).get("message", "")
            board.status = "cancelled" if state == "cancelled" else f"{state}: {error}".rstrip(": ")
        return
    shots = read_shots(board)
    if not apply_job(shots, row):
        return
    write_shots(board, shots)
    if state in TERMINAL:
        apply_layout(scene, board, shots)
        if all(t.finished for s in shots for t in s.takes) and board.status == "generating":
            failed = [t for s in shots for t in s.takes for st in (t.keyframe, t.clip) if st.state != "done"]
            board.status = "done" if not failed else "done with problems"


def _start_shots(scene: Any, board: Any, row: dict[str, Any]) -> None:
    if board.status == "cancelled":
        return
    path = next((p for p in row.get("outputs") or [] if Path(p).name == "shotlist.json"), None)
    if path is None:
        board.status = "failed: the shot-list job wrote no shotlist.json"
        return
    try:
        shots = read_shotlist(path, _options(board), limit=board.shot_count)
    except (OSError, ValueError) as exc:
        board.status = f"failed: the shot list could not be read ({exc})"
        return
    cast = read_cast(board)
    added = cast.add_from_shots(shots)  # the shot list's characters join the cast (references come from the user)
    if added:
        write_cast(board, cast)
    specs = plan_storyboard(
        shots,
        group=board.group,
        scene=scene.name,
        options=_options(board),
        cast=cast,
        cameras=marker_cameras(scene),  # a shot with a bound camera: its keyframe from that camera's render
    )
    write_shots(board, shots)
    board.status = "generating"
    submit_specs(blender.running(), scene, specs)
    log.info("storyboard %s: %d shots, %d jobs submitted", board.group, len(shots), len(specs))


def storyboard_start(scene: Any, board: Any) -> int:
    """The first frame of a new storyboard in this scene: the scene's start, or after everything the Sequencer holds
    and the range the scene's earlier storyboard fills (its jobs may still be landing).

    Why: the layout puts the shown take on channels 1-2 and the other takes above, and assumes those channels are
    free in the storyboard's range. A second Storyboard in the same scene used to start at the scene's start too:
    its strips met the first one's on the same channels and frames, Blender refused the moves, and the shown takes
    stayed on the archive channels (found in the real GUI). The earlier strips stay as they are (nothing lost)."""
    ends = [int(strip.frame_final_end) for strip in strips_of(scene)]
    earlier = read_shots(board)
    if earlier:
        ends.append(layout(earlier, board.fps, board.start_frame)[-1].end)
    return max([int(scene.frame_start), *ends])


def apply_layout(scene: Any, board: Any, shots: list[Any]) -> None:
    """Move every landed strip of the storyboard where the layout says (two passes, so nothing overlaps)."""
    places = strip_places(shots, board.fps, board.start_frame)
    strips = {s.get("genbridge_job_id"): s for s in strips_of(scene) if s.get("genbridge_job_id") in places}
    # Pass 1: every strip to its take's own channel pair (free by construction); pass 2: the chosen take down.
    for job_id, strip in strips.items():
        place = places[job_id]
        archive = 3 + 2 * place.take + (0 if place.role == "keyframe" else 1)
        _place(strip, archive, place)
    for job_id, strip in strips.items():
        place = places[job_id]
        if not place.mute:
            _place(strip, place.channel, place)
        strip.mute = place.mute
    ranges = layout(shots, board.fps, board.start_frame)
    if ranges:
        scene.frame_end = max(scene.frame_end, ranges[-1].end - 1)


def _place(strip: Any, channel: int, place: Any) -> None:
    if strip.channel != channel:
        strip.channel = channel
    if strip.frame_start != place.frame_start:
        strip.frame_start = place.frame_start
    content = getattr(strip, "frame_duration", place.max_frames) if strip.type == "MOVIE" else place.max_frames
    length = max(1, min(place.max_frames, content))
    if strip.frame_final_duration != length:
        strip.frame_final_duration = length


# -- operators -----------------------------------------------------------------------------------------------------
class GENBRIDGE_OT_storyboard_from_logline(bpy.types.Operator):
    """Write a shot list from a logline, then make a keyframe and a preview clip for every shot, in order"""

    bl_idname = "genbridge.storyboard_from_logline"
    bl_label = "Storyboard from Logline"
    bl_description = (
        "LiteLLM writes a shot list (streamed into a Text block); then each shot gets a keyframe image and a "
        "quick preview clip, placed one after another in the Sequencer"
    )
    bl_options = {"REGISTER"}

    logline: StringProperty(name="Logline", description="One or two sentences: who wants what, what stands in the way")
    shots: IntProperty(name="Shots", default=5, min=1, max=40, description="How many shots to plan")
    model: StringProperty(name="Text Model", description="LiteLLM model (empty: the one in preferences)")

    @classmethod
    def poll(cls, context: Any) -> bool:
        return _enabled(cls)

    def invoke(self, context: Any, event: Any) -> OperatorResult:
        board = context.scene.genbridge_storyboard
        self.logline = self.logline or board.logline
        # A count given to the operator (the panel's button, a script, a keymap) wins over the panel's field: an
        # INVOKE with shots=3 used to plan the field's count instead.
        if not self.properties.is_property_set("shots") and board.shot_count:
            self.shots = board.shot_count
        return context.window_manager.invoke_props_dialog(self, width=480)

    def execute(self, context: Any) -> OperatorResult:
        logline = self.logline.strip()
        if not logline:
            self.report({"ERROR"}, "Write a logline first: one or two sentences about who wants what")
            return {"CANCELLED"}
        scene = context.scene
        board = scene.genbridge_storyboard
        start = storyboard_start(scene, board)
        board.shots.clear()
        board.logline, board.shot_count = logline, self.shots
        board.group = str(uuid.uuid4())
        board.fps = max(1, round(scene.render.fps / (scene.render.fps_base or 1.0)))
        board.start_frame = start
        board.text_name = f"Shot List {board.group[:8]}"
        spec = shotlist_spec(logline, shots=self.shots, group=board.group, model=self.model, text_name=board.text_name)
        board.shotlist_job = blender.running().submit(spec)
        board.status = "writing the shot list"
        self.report({"INFO"}, "GenBridge: writing the shot list...")
        return {"FINISHED"}


class GENBRIDGE_OT_storyboard_cancel(bpy.types.Operator):
    """Cancel every storyboard job that has not finished; finished shots stay"""

    bl_idname = "genbridge.storyboard_cancel"
    bl_label = "Cancel Storyboard"
    bl_description = "Cancel what has not finished (queued and running steps); finished keyframes and clips stay"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: Any) -> bool:
        return _enabled(cls) and bool(context.scene.genbridge_storyboard.group)

    def execute(self, context: Any) -> OperatorResult:
        board = context.scene.genbridge_storyboard
        session = blender.running()
        pending = pending_job_ids(read_shots(board))
        shotlist = session.jobs.get(board.shotlist_job, {})
        if board.shotlist_job and shotlist.get("state") not in TERMINAL:
            pending.insert(0, board.shotlist_job)
        for job_id in pending:
            session.cancel(job_id)
        board.status = "cancelled"
        self.report({"INFO"}, f"GenBridge: cancelling {len(pending)} storyboard steps")
        return {"FINISHED"}


class _ShotOperator(bpy.types.Operator):
    """Acts on `shot_index`, or with -1 (the default, as from F3 search) on the shot under the playhead."""

    if TYPE_CHECKING:  # each operator declares it as a Blender property
        shot_index: int

    @classmethod
    def poll(cls, context: Any) -> bool:
        if not _enabled(cls):
            return False
        if len(context.scene.genbridge_storyboard.shots) == 0:
            cls.poll_message_set("This scene has no storyboard yet: use Storyboard from Logline first")
            return False
        return True

    def _shot(self, context: Any, shots: list[Any]) -> int | None:
        """The shot to act on; reports and returns None when there is none."""
        index: int | None = self.shot_index
        if index is not None and index < 0:
            board = context.scene.genbridge_storyboard
            index = shot_at_frame(shots, context.scene.frame_current, board.fps, board.start_frame)
        if index is None:
            self.report({"ERROR"}, "GenBridge: put the playhead over a storyboard shot first")
            return None
        if not 0 <= index < len(shots):
            self.report({"ERROR"}, f"There is no shot {index + 1}")
            return None
        return index

    def _regenerate(self, context: Any, *, reuse_keyframe: bool) -> OperatorResult:
        scene = context.scene
        board = scene.genbridge_storyboard
        shots = read_shots(board)
        index = self._shot(context, shots)
        if index is None:
            return {"CANCELLED"}
        try:
            specs = plan_take(
                shots,
                index,
                group=board.group,
                scene=scene.name,
                options=_options(board),
                reuse_keyframe=reuse_keyframe,
                cast=read_cast(board),  # the same references and the characters' seeds as every other take
                cameras=marker_cameras(scene),
            )
        except ValueError as exc:
            self.report({"ERROR"}, f"GenBridge: {exc}")
            return {"CANCELLED"}
        write_shots(board, shots)
        board.status = "generating"
        submit_specs(blender.running(), scene, specs)
        take = len(shots[index].takes)
        self.report({"INFO"}, f"GenBridge: shot {index + 1}, take {take} queued (pick it to show it)")
        return {"FINISHED"}


class GENBRIDGE_OT_storyboard_regenerate_keyframe(_ShotOperator):
    """Make a new take of this shot: a new keyframe and a new clip from it (earlier takes are kept)"""

    bl_idname = "genbridge.storyboard_regenerate_keyframe"
    bl_label = "Regenerate Keyframe"
    bl_options = {"REGISTER"}

    shot_index: IntProperty(name="Shot", min=-1, default=-1, description="Which shot (0-based; -1: under the playhead)")

    def execute(self, context: Any) -> OperatorResult:
        return self._regenerate(context, reuse_keyframe=False)


class GENBRIDGE_OT_storyboard_regenerate_clip(_ShotOperator):
    """Make a new take of this shot: a new clip from the shown take's keyframe (earlier takes are kept)"""

    bl_idname = "genbridge.storyboard_regenerate_clip"
    bl_label = "Regenerate Clip"
    bl_options = {"REGISTER"}

    shot_index: IntProperty(name="Shot", min=-1, default=-1, description="Which shot (0-based; -1: under the playhead)")

    def execute(self, context: Any) -> OperatorResult:
        return self._regenerate(context, reuse_keyframe=True)


class GENBRIDGE_OT_storyboard_pick_take(_ShotOperator):
    """Show this take of the shot in the Sequencer; the other takes stay, muted"""

    bl_idname = "genbridge.storyboard_pick_take"
    bl_label = "Pick Take"
    bl_options = {"REGISTER", "UNDO"}

    shot_index: IntProperty(name="Shot", min=-1, default=-1, description="Which shot (0-based; -1: under the playhead)")

    take_index: IntProperty(name="Take", min=-1, default=-1, description="Which take (0-based; -1: the next one)")

    def execute(self, context: Any) -> OperatorResult:
        scene = context.scene
        board = scene.genbridge_storyboard
        shots = read_shots(board)
        index = self._shot(context, shots)
        if index is None:
            return {"CANCELLED"}
        shot = shots[index]
        take = self.take_index if self.take_index >= 0 else (shot.chosen + 1) % max(len(shot.takes), 1)
        try:
            shot.pick(take)
        except IndexError as exc:
            self.report({"ERROR"}, f"GenBridge: {exc}")
            return {"CANCELLED"}
        write_shots(board, shots)
        apply_layout(scene, board, shots)
        return {"FINISHED"}


CLASSES = (
    GENBRIDGE_OT_storyboard_from_logline,
    GENBRIDGE_OT_storyboard_cancel,
    GENBRIDGE_OT_storyboard_regenerate_keyframe,
    GENBRIDGE_OT_storyboard_regenerate_clip,
    GENBRIDGE_OT_storyboard_pick_take,
)


def register() -> None:
    """Listen to job state changes (the session calls listeners on the main thread)."""
    if on_job_state not in JOB_STATE_LISTENERS:
        JOB_STATE_LISTENERS.append(on_job_state)


def unregister() -> None:
    while on_job_state in JOB_STATE_LISTENERS:
        JOB_STATE_LISTENERS.remove(on_job_state)
