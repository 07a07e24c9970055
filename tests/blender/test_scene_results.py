"""Results back into the scene in real bpy: "Use as Texture" with no image named takes the Image Editor's image when
run there, else the landed image of the job selected in GenBridge's job list (F3 in the 3D Viewport right after a
Generate), never an older image that some Image Editor happens to show."""

from __future__ import annotations

import time

import bpy
import pytest


@pytest.fixture
def picked(gb):
    """A mesh object, two images (an old one shown in an Image Editor, one a finished job landed) and that job
    selected in the job list; all removed afterwards."""
    session = gb.blender.running()
    scene = bpy.context.window_manager.windows[0].scene
    obj = bpy.data.objects.new("gb_textured", bpy.data.meshes.new("gb_textured"))
    scene.collection.objects.link(obj)
    old, landed = bpy.data.images.new("gb_old_shown", 4, 4), bpy.data.images.new("gb_landed", 4, 4)
    job_id = "gbtest-scene-results"
    session.jobs[job_id] = {"id": job_id, "task": "image", "state": "done", "created_at": time.time()}
    yield session, job_id, obj, old, landed
    session.jobs.pop(job_id, None)
    session._sync_job_list()
    for mat in [m for m in bpy.data.materials if m.name in ("GenBridge gb_old_shown", "GenBridge gb_landed")]:
        bpy.data.materials.remove(mat)
    mesh = obj.data
    bpy.data.objects.remove(obj)
    bpy.data.meshes.remove(mesh)
    for image in (old, landed):
        bpy.data.images.remove(image)


def texture_of(obj):
    return [n.image for n in obj.active_material.node_tree.nodes if n.type == "TEX_IMAGE"]


def test_use_as_texture_takes_the_selected_jobs_image_in_the_3d_viewport(picked, editor):
    session, job_id, obj, old, landed = picked
    with editor("IMAGE_EDITOR") as area:
        area.spaces.active.image = old
        with editor("VIEW_3D"), bpy.context.temp_override(selected_objects=[obj]):
            # The job landed nothing yet: the image on screen is all there is.
            session._sync_job_list(select=job_id)
            assert bpy.ops.genbridge.use_as_texture() == {"FINISHED"}
            assert texture_of(obj) == [old]
            session.jobs[job_id]["image_name"] = landed.name
            assert bpy.ops.genbridge.use_as_texture() == {"FINISHED"}
            assert texture_of(obj) == [landed], "F3 in the viewport puts the selected job's result on"
            assert bpy.ops.genbridge.camera_background.poll()
        with bpy.context.temp_override(area=area, space_data=area.spaces.active, selected_objects=[obj]):
            assert bpy.ops.genbridge.use_as_texture() == {"FINISHED"}
            assert texture_of(obj) == [old], "run in the Image Editor, its own image wins"
