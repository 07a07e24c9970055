"""GenBridge's words, in one place. Stdlib only: Blender's main thread imports it for free.

One word per idea across the code:
- **endpoint**: one configured server of one service (its URL, key, label); not "instance", "URL" or "server".
  Old names kept because they are journaled or widely used: `Job.instance` and `PlanStep.instance` hold the
  endpoint's URL, and the router's `routing.resources.Instance` is its view of one endpoint.
- **service**: one of `SERVICES` (ComfyUI, WanGP, LiteLLM); in code `wan2gp`, in text "WanGP". The loop
  thread's `runtime.service.JobService` is always "the job service" in full (a variable holding it: `job_service`).
- **job state**: the values below (the same as `runtime.jobs.JobState`, which imports pydantic).
"""

from __future__ import annotations

# A job waiting or working somewhere (GenBridge's queue, a server's queue, running, downloading).
ACTIVE_STATES = frozenset({"queued", "submitted", "running", "downloading"})
# A job that ended for good: nothing will change it any more.
FINISHED_STATES = frozenset({"done", "failed", "cancelled"})
# A job no longer running in this process: finished, or interrupted (Blender closed; it may be re-attached).
STOPPED_STATES = FINISHED_STATES | {"interrupted"}
