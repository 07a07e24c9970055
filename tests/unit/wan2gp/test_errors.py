"""Every WanGP error names its endpoint and, once there is one, the WanGP job id (issue 23.5)."""

from __future__ import annotations

import pytest
from genbridge.backends.wan2gp import errors
from genbridge.runtime.errors import OutOfMemory, RejectedInput
from genbridge.runtime.settings import Endpoint


async def test_a_failed_job_names_the_endpoint_and_the_wan2gp_job_id(server, client, job_factory):
    server.inject_failure("oom")
    job = job_factory(steps=2)
    assert await client.validate(job) == []
    await client.submit(job)
    with pytest.raises(OutOfMemory) as caught:
        async for _ in client.events(job):
            pass
    (job_id,) = server.jobs
    assert caught.value.endpoint == client.endpoint.name and caught.value.remote_id == job_id
    assert job_id in caught.value.detail


def test_http_errors_name_the_endpoint_and_never_its_user_info():
    endpoint = Endpoint(service="wan2gp", url="http://127.0.0.1:7866/mcp", label="gpu-box")
    error = errors.http_error(endpoint, "http://127.0.0.1:7866/mcp/", 422, "tools/call", '{"error": "bad args"}')
    assert error.endpoint == "gpu-box" and "bad args" in error.message


def test_a_refused_upload_is_the_users_file_on_400_and_the_servers_fault_on_500():
    assert isinstance(errors.upload_refused("a.png", 400, {"error": "cannot identify image file"}), RejectedInput)
    assert not isinstance(errors.upload_refused("a.png", 500, "boom"), RejectedInput)
