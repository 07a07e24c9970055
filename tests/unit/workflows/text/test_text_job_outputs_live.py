"""Text tasks through TextJobClient against the real LiteLLM proxy: the files a shot list and a prompt leave behind
(moved from tests/unit/litellm: they test `workflows/text`; the fixtures are in tests/unit/conftest.py)."""

from __future__ import annotations

import json

import pytest
from genbridge.runtime.errors import RejectedInput
from genbridge.runtime.jobs import Job
from genbridge.standins.litellm_proxy import MOCK_TEXT
from genbridge.workflows.text import UnparseableAnswer
from genbridge.workflows.text.jobs import TextJobClient


async def test_shotlist_task_writes_text_and_parsed_shots(make_client, run_job, tmp_path) -> None:
    client = make_client()
    inputs = {"text_task": "shotlist", "variables": {"logline": "x"}, "model": "storyboard-mock"}
    job = Job(task="shotlist", inputs=inputs)
    await run_job(client, job)
    paths = await client.fetch_outputs(job, tmp_path / "out")
    assert [p.name for p in paths] == ["shotlist.txt", "shotlist.json"]
    shots = json.loads(paths[1].read_text())["shots"]
    assert len(shots) == 3 and {"description", "duration", "camera", "characters"} <= set(shots[0])


async def test_an_unparseable_shot_list_fails_clearly_and_keeps_the_raw_text(make_client, run_job, tmp_path) -> None:
    client = make_client()
    job = Job(task="shotlist", inputs={"variables": {"logline": "x"}, "model": "llama3"})
    await run_job(client, job)
    with pytest.raises(UnparseableAnswer) as info:
        await client.fetch_outputs(job, tmp_path / "out")
    assert info.value.raw == MOCK_TEXT and isinstance(info.value, RejectedInput)
    assert (tmp_path / "out" / "shotlist.txt").read_text() == MOCK_TEXT


async def test_prompt_task_writes_the_cleaned_prompt(make_client, run_job, tmp_path) -> None:
    client: TextJobClient = make_client()
    job = Job(task="prompt", inputs={"text_task": "image_prompt", "variables": {"shot": "a door"}, "model": "llama3"})
    await run_job(client, job)
    paths = await client.fetch_outputs(job, tmp_path / "out")
    assert [p.read_text() for p in paths] == [MOCK_TEXT, MOCK_TEXT]
