"""The GenBridge panel drawn with a recording layout, for each state a user meets."""

from __future__ import annotations

from types import SimpleNamespace

from genbridge.ui.draw import PanelState, draw_job_item, draw_panel


def settings(task: str = "image") -> SimpleNamespace:
    return SimpleNamespace(task=task)


def job(state: str, **extra) -> dict:
    return {
        "id": f"{state}-0000-1111",
        "task": "image",
        "state": state,
        "progress": 0.4,
        "phase": f"phase of {state}",
        "created_at": 1.0,
        **extra,
    }


def test_panel_without_checked_services_invites_a_check_and_offers_generate(layout):
    draw_panel(layout, PanelState(settings=settings(), list_owner=object()))
    assert "Not checked yet: press Check" in layout.labels()
    assert "genbridge.check_services" in layout.operators()
    assert "genbridge.generate" in layout.operators()
    assert "No jobs yet" in layout.labels()
    assert not layout.calls("template_list")


def test_panel_while_checking_says_so_on_the_check_button(layout):
    draw_panel(layout, PanelState(checking=True, settings=settings()))
    (check,) = [kw for args, kw in layout.calls("operator") if args[0] == "genbridge.check_services"]
    assert check["text"] == "Checking..."
    assert "Checking services..." in layout.labels()


def test_checked_services_show_icon_version_vram_and_last_check(layout):
    services = {
        "http://127.0.0.1:8188": {
            "service": "comfyui",
            "url": "http://127.0.0.1:8188",
            "reachable": True,
            "version": "0.3.64",
            "vram_free_gb": 10.0,
            "vram_total_gb": 24.0,
            "checked_at": 1_700_000_000.0,
        },
        "http://127.0.0.1:4000": {
            "service": "litellm",
            "url": "http://127.0.0.1:4000",
            "reachable": False,
            "error": {"message": "LiteLLM is not answering.", "hint": "Start the proxy."},
            "checked_at": 1_700_000_000.0,
        },
    }
    draw_panel(layout, PanelState(services=services, settings=settings()))
    labels = layout.labels()
    assert "ComfyUI  http://127.0.0.1:8188" in labels
    assert "0.3.64  10.0/24.0 GB free" in labels
    assert "LiteLLM is not answering." in labels and "Start the proxy." in labels
    assert sum(text.startswith("checked ") for text in labels) == 2
    icons = [kw.get("icon") for _a, kw in layout.calls("label")]
    assert "CHECKMARK" in icons and "ERROR" in icons


def test_running_job_shows_list_progress_backend_reason_and_cancel(layout):
    running = job(
        "running",
        service="comfyui",
        plan=[{"service": "comfyui", "label": "box", "reason": "ComfyUI has 10 GB free", "changes": []}],
    )
    state = PanelState(
        jobs={running["id"]: running}, active_job_id=running["id"], settings=settings(), list_owner=object()
    )
    draw_panel(layout, state)
    (list_call,) = layout.calls("template_list")
    assert list_call[0][0] == "GENBRIDGE_UL_jobs" and list_call[0][3] == "genbridge_jobs"
    (progress,) = layout.calls("progress")
    assert progress[1]["factor"] == 0.4 and progress[1]["text"] == "phase of running"
    assert "ComfyUI box" in layout.labels()
    assert "ComfyUI has 10 GB free" in layout.labels()
    assert [p.job_id for p in layout.operator_props("genbridge.cancel_job")] == [running["id"]]
    assert not layout.operator_props("genbridge.retry_job")


def test_failed_job_shows_the_error_hint_and_offers_retry(layout):
    failed = job(
        "failed",
        error={"code": "oom", "message": "ComfyUI ran out of VRAM.", "hint": "Lower the resolution."},
        outputs=["/tmp/out/a.png"],
    )
    state = PanelState(jobs={failed["id"]: failed}, active_job_id=failed["id"], settings=settings(), list_owner=1)
    draw_panel(layout, state)
    assert "ComfyUI ran out of VRAM." in layout.labels()
    assert "Lower the resolution." in layout.labels()
    assert [p.job_id for p in layout.operator_props("genbridge.retry_job")] == [failed["id"]]
    assert [p.job_id for p in layout.operator_props("genbridge.open_output")] == [failed["id"]]
    assert not layout.operator_props("genbridge.cancel_job")


def test_newest_step_preview_is_drawn_from_its_cached_icon(layout):
    running = job("running", preview_icon=4242)
    draw_panel(layout, PanelState(jobs={running["id"]: running}, active_job_id=running["id"], list_owner=1))
    (icon,) = layout.calls("template_icon")
    assert icon[1]["icon_value"] == 4242


def test_generate_section_shows_only_inputs_the_task_uses(layout):
    draw_panel(layout, PanelState(settings=settings("text")))
    text_props = layout.props()
    assert {"task", "prompt", "template", "service"} <= set(text_props)
    assert "width" not in text_props and "frames" not in text_props and "negative_prompt" not in text_props
    video = type(layout)()
    draw_panel(video, PanelState(settings=settings("final_video")))
    assert {"negative_prompt", "width", "height", "frames", "steps", "seed", "service"} <= set(video.props())


def test_recent_failure_notice_is_repeated_in_the_panel(layout):
    notice = {"text": "GenBridge: WanGP is not answering.", "level": "ERROR", "at": 100.0}
    draw_panel(layout, PanelState(notice=notice, now=110.0, settings=settings()))
    assert layout.calls("label")[0][1]["icon"] == "ERROR"
    assert layout.text().startswith(notice["text"])
    stale = type(layout)()
    draw_panel(stale, PanelState(notice=notice, now=1000.0, settings=settings()))
    assert notice["text"] not in stale.labels()


def test_disabled_addon_panel_says_so(layout):
    draw_panel(layout, PanelState(enabled=False))
    assert layout.labels() == ["GenBridge is not enabled"]


def test_job_row_of_a_vanished_job_draws_a_placeholder(layout):
    draw_job_item(layout, None)
    assert layout.labels() == ["(job gone)"]


def test_missing_dependency_is_explained_with_its_fix_above_everything_else(layout):
    problem = "GenBridge needs pydantic, but it is missing: reinstall the GenBridge zip for your platform."
    draw_panel(layout, PanelState(dependency_problems=[problem], settings=settings()))
    assert layout.labels()[0] == "GenBridge cannot run jobs:"
    assert layout.text().startswith("GenBridge cannot run jobs: " + problem)


def test_image_source_picker_shows_what_each_source_needs(layout):
    draw_panel(layout, PanelState(settings=SimpleNamespace(task="image", image_source="NONE")))
    assert "image_source" in layout.props() and "image_param" not in layout.props()
    by_source = {}
    for source in ("FILE", "DEPTH", "IMAGE_EDITOR", "SEQUENCER", "VIEWPORT"):
        drawn = type(layout)()
        draw_panel(drawn, PanelState(settings=SimpleNamespace(task="image", image_source=source)))
        by_source[source] = set(drawn.props()) & {"image_source", "image_path", "image_name", "image_param"}
    assert by_source == {
        "FILE": {"image_source", "image_path", "image_param"},
        "DEPTH": {"image_source", "image_param"},
        "IMAGE_EDITOR": {"image_source", "image_name", "image_param"},
        "SEQUENCER": {"image_source", "image_param"},
        "VIEWPORT": {"image_source", "image_param"},
    }
    text = type(layout)()
    draw_panel(text, PanelState(settings=SimpleNamespace(task="text", image_source="DEPTH")))
    assert "image_source" not in text.props()  # text tasks take no image


def test_job_detail_names_where_each_captured_input_came_from(layout):
    from genbridge.ui.draw import draw_job_detail

    captures = [
        {"param": "image", "source": "depth", "camera": "Shot Cam", "frame": 7, "width": 512, "height": 512},
        {"param": "end_image", "source": "sequencer", "image": "Edit", "frame": 40},
    ]
    draw_job_detail(layout, job("running", captures=captures), chars=200)
    assert "image: depth pass of Shot Cam, frame 7, 512x512" in layout.labels()
    assert "end_image: Sequencer frame of Edit, frame 40" in layout.labels()
    viewport = type(layout)()
    seen = [
        {"param": "image", "source": "viewport", "view": "CAMERA", "camera": "Cam", "shading": "SOLID", "frame": 1},
        {"param": "ref", "source": "viewport", "view": "PERSP", "shading": "MATERIAL", "width": 320, "height": 180},
    ]
    draw_job_detail(viewport, job("running", captures=seen), chars=200)
    assert "image: viewport (solid, through Cam), frame 1" in viewport.labels()
    assert "ref: viewport (material, perspective), 320x180" in viewport.labels()


def test_the_viewport_is_a_source_kept_last_so_saved_files_keep_theirs():
    from genbridge.blender.choices import IMAGE_SOURCES

    ids = [item[0] for item in IMAGE_SOURCES]
    assert ids[-1] == "VIEWPORT" and ids.index("SEQUENCER") == 9  # an enum is saved by position
    assert "3D View" in IMAGE_SOURCES[-1][2]


def test_the_generate_section_says_which_capture_is_running(layout):
    from genbridge.ui.draw import draw_generate

    status = "GenBridge: capturing depth for 'image' (1 of 2) — Esc to cancel"
    draw_generate(layout, settings(), capturing=status)
    labels = layout.labels()
    assert "Capturing depth for 'image' (1 of 2)" in labels and "Esc to cancel" in labels
    idle = type(layout)()
    draw_generate(idle, settings())
    assert not [label for label in idle.labels() if "apturing" in label]


def test_a_done_image_job_offers_its_image_as_texture_and_camera_background(layout):
    from genbridge.ui.draw import draw_job_detail

    draw_job_detail(layout, job("done", image_name="Cottage.001", outputs=["/o/x.png"]), chars=200)
    assert [p.image for p in layout.operator_props("genbridge.use_as_texture")] == ["Cottage.001"]
    assert [p.image for p in layout.operator_props("genbridge.camera_background")] == ["Cottage.001"]
    for unfinished in (job("running", image_name="Cottage.001"), job("done")):
        other = type(layout)()
        draw_job_detail(other, unfinished, chars=200)
        assert "genbridge.use_as_texture" not in other.operators()
