"""Cost of keeping secrets out of the journal and events (issue 15.3): `redact_data` on a job snapshot, beside the
cost of taking the snapshot itself, and `redact` on one error message.

Every state change of a job is snapshotted, redacted, journaled and emitted; progress ticks are not. Three keys
are configured (one from the environment, two from settings), as with one key per service.

    python bench/redaction.py [--nodes 30] [--repeat 2000]

Prints the figures, the ratio, and a JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import timeit

from genbridge.runtime.jobs import Job
from genbridge.runtime.redact import redact, redact_data, register_secrets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=30, help="workflow nodes in the job's inputs")
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()

    os.environ.setdefault("GENBRIDGE_COMFYUI_KEY", "sk-bench-env-key-0000000000")
    register_secrets(["sk-bench-settings-key-1111111111", "sk-bench-settings-key-2222222222"])
    workflow = {
        str(i): {"class_type": "KSampler", "inputs": {"seed": i, "text": "a lighthouse keeper at dusk " * 3}}
        for i in range(args.nodes)
    }
    job = Job(task="image", inputs={"workflow": workflow, "prompt": "a fox in the snow"})
    snapshot = job.snapshot()
    message = "The service answered: invalid credentials for this request; " * 5

    n = args.repeat
    snap_us = timeit.timeit(job.snapshot, number=n) / n * 1e6
    redact_us = timeit.timeit(lambda: redact_data(snapshot), number=n) / n * 1e6
    message_us = timeit.timeit(lambda: redact(message), number=n * 10) / (n * 10) * 1e6
    size = len(json.dumps(snapshot))
    print(f"job snapshot: {size} characters, {args.nodes} workflow nodes")
    print(f"snapshot() {snap_us:.0f} us, redact_data() {redact_us:.0f} us (x{redact_us / snap_us:.1f} of the snapshot)")
    print(f"redact() of a {len(message)}-character message: {message_us:.1f} us")
    result = {
        "snapshot_chars": size,
        "snapshot_us": round(snap_us, 1),
        "redact_data_us": round(redact_us, 1),
        "redact_over_snapshot": round(redact_us / snap_us, 2),
        "redact_message_us": round(message_us, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
