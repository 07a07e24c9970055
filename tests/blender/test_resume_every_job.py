"""In real Blender, jobs cut off by disabling the add-on all come back after enabling it again (issue 21.1, 21.2):
20 jobs stopped while "Sending to ComfyUI" are found on the server or sent again, and a clip queued behind its
keyframe runs once the keyframe lands. None stays queued; every one is listed."""

from __future__ import annotations

import json
from pathlib import Path

PKG = "bl_ext.user_default.genbridge"


def last_states(journal: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for line in journal.read_text().splitlines():
        job = json.loads(line)["job"]
        out[job["id"]] = job
    return out


def test_jobs_cut_off_while_sending_all_come_back_after_a_restart(
    gb, own_journal, restart_session, fake_client_class, pump_until
):
    import asyncio

    received: set[str] = set()

    class Sending(fake_client_class):
        stuck = True

        def remote_id_for(self, job):
            return job.id

        async def submit(self, job):
            if Sending.stuck:
                await asyncio.Event().wait()  # "Sending to ComfyUI" when the add-on is disabled
            return job.id

        async def has_job(self, remote_id):
            return remote_id in received

    session = restart_session(Sending)
    ids = [
        session.submit({"task": "image", "inputs": {"prompt": f"p{i}"}, "requested_service": "comfyui"})
        for i in range(20)
    ]
    pump_until(session, lambda: all(session.jobs[i]["state"] == "submitted" for i in ids))
    received.update(ids[:10])  # the server got half of them before the process went away

    Sending.stuck = False
    session = restart_session(Sending)  # stop (jobs journaled as interrupted), then start as after a restart
    journaled = last_states(own_journal)
    assert all(journaled[i]["state"] == "interrupted" and journaled[i]["sending"] for i in ids)
    assert session.runtime.resume()
    pump_until(session, lambda: all(session.jobs.get(i, {}).get("state") in ("done", "failed") for i in ids))
    assert all(session.jobs[i]["state"] == "done" for i in ids), [session.jobs[i].get("error") for i in ids]
    notes = {i: " ".join(session.jobs[i].get("notes", [])) for i in ids}
    assert all("received this job just before Blender closed" in notes[i] for i in ids[:10])
    assert all("never received it; sending it again" in notes[i] for i in ids[10:])
    assert all(last_states(own_journal)[i]["state"] == "done" for i in ids), "none stays queued"


def test_a_clip_queued_behind_its_keyframe_runs_after_a_restart(
    gb, own_journal, restart_session, fake_client_class, pump_until
):
    fake_client_class.hang = True
    try:
        session = restart_session(fake_client_class)
        keyframe = session.submit({"task": "image", "inputs": {"prompt": "key"}, "requested_service": "comfyui"})
        clip = session.submit(
            {
                "task": "image",
                "inputs": {"prompt": "clip", "image": {"$output_of": keyframe, "index": 0}},
                "requested_service": "comfyui",
                "depends_on": [keyframe],
            }
        )
        pump_until(session, lambda: session.jobs[keyframe]["state"] == "submitted")
    finally:
        fake_client_class.hang = False
    session = restart_session(fake_client_class)
    assert last_states(own_journal)[clip]["state"] == "interrupted"
    assert session.runtime.resume()
    pump_until(session, lambda: session.jobs.get(clip, {}).get("state") in ("done", "failed"))
    assert session.jobs[keyframe]["state"] == "done" and session.jobs[clip]["state"] == "done"
    assert last_states(own_journal)[clip]["state"] == "done"
