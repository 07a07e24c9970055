"""Cost of keeping secrets out of the journal and events (issue 15.3): `redact_data` on a job snapshot, beside the
cost of taking the snapshot itself, `redact` on one error message, and the streamed-text redactor (a key split
across chunks): its cost per chunk beside masking each chunk alone, and how much prose it holds back (latency).

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
from genbridge.runtime.redact import StreamRedactor, redact, redact_data, register_secrets


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
    # A streamed answer: prose in chunks of ~24 characters (a 30 ms batch of a few tokens).
    prose = ("The keeper climbs the stairs; the lamp sputters, the sea is black and the sky is askew. " * 40)[:3000]
    chunks = [prose[i : i + 24] for i in range(0, len(prose), 24)]

    def stream_all() -> None:
        stream = StreamRedactor()  # as the job service runs it: the configured keys looked up per chunk
        for chunk in chunks:
            stream.feed(chunk)
        stream.flush()

    per_chunk_old_us = timeit.timeit(lambda: [redact(c) for c in chunks], number=n // 10) / (n // 10)
    per_chunk_new_us = timeit.timeit(stream_all, number=n // 10) / (n // 10)
    per_chunk_old_us, per_chunk_new_us = per_chunk_old_us / len(chunks) * 1e6, per_chunk_new_us / len(chunks) * 1e6
    stream, held = StreamRedactor(), []
    for chunk in chunks:
        stream.feed(chunk)
        held.append(len(stream.held))
    held_chunks = sum(1 for h in held if h)
    print(
        f"streamed text, {len(chunks)} chunks of 24 characters: {per_chunk_new_us:.1f} us per chunk with the "
        f"carry-over vs {per_chunk_old_us:.1f} us masking each alone (x{per_chunk_new_us / per_chunk_old_us:.1f}); "
        f"{held_chunks} chunks held anything back, {max(held)} characters at most"
    )
    result = {
        "stream_chunk_us": round(per_chunk_new_us, 2),
        "stream_chunk_alone_us": round(per_chunk_old_us, 2),
        "stream_over_alone": round(per_chunk_new_us / per_chunk_old_us, 2),
        "stream_chunks_held": held_chunks,
        "stream_chunks": len(chunks),
        "stream_max_held_chars": max(held),
        "snapshot_chars": size,
        "snapshot_us": round(snap_us, 1),
        "redact_data_us": round(redact_us, 1),
        "redact_over_snapshot": round(redact_us / snap_us, 2),
        "redact_message_us": round(message_us, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
