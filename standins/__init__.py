"""Stand-in servers that reproduce the captured wire protocols of ComfyUI and WanGP (tests, benchmarks, demo)."""
