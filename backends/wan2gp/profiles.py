"""WanGP memory profiles (`--profile 1..5`) as the VRAM and RAM a job needs, for the router.

Figures are WanGP's own UI descriptions (wgp.py profile help): whole model in VRAM for 1 and 3, parts streamed
for 2, 4 and 5. Light models (1.3B, 5B, GGUF, 480p variants) need about half the VRAM under the streaming profiles.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MemoryProfile:
    """One MMGP profile and the machine it expects."""

    number: int
    name: str
    vram_gb: float
    ram_gb: float
    streams_weights: bool  # parts of the model move to the GPU on demand (slower, far less VRAM)


PROFILES: dict[int, MemoryProfile] = {
    1: MemoryProfile(1, "HighRAM_HighVRAM", 24.0, 64.0, False),
    2: MemoryProfile(2, "HighRAM_LowVRAM", 12.0, 64.0, True),
    3: MemoryProfile(3, "LowRAM_HighVRAM", 24.0, 32.0, False),
    4: MemoryProfile(4, "LowRAM_LowVRAM", 12.0, 32.0, True),
    5: MemoryProfile(5, "VerylowRAM_LowVRAM", 10.0, 24.0, True),
}
DEFAULT_PROFILE = 4
LIGHT_MODEL_MARKERS = ("1.3b", "_5b", "ti2v_2_2", "gguf", "480", "distilled")
LIGHT_MODEL_VRAM_GB = 6.0


def profile(number: int | None) -> MemoryProfile:
    """The profile `number` (1..5); anything else (None, -1 = "use the server's") is the default 4."""
    return PROFILES.get(int(number), PROFILES[DEFAULT_PROFILE]) if number is not None else PROFILES[DEFAULT_PROFILE]


def is_light_model(model_type: str) -> bool:
    lowered = model_type.lower()
    return any(marker in lowered for marker in LIGHT_MODEL_MARKERS)


def memory_needs(profile_number: int | None, model_type: str = "") -> dict[str, float | int | str]:
    """VRAM/RAM (GB) a job of `model_type` needs under a profile: the numbers the router compares to the GPU."""
    chosen = profile(profile_number)
    vram = chosen.vram_gb
    if chosen.streams_weights and model_type and is_light_model(model_type):
        vram = min(vram, LIGHT_MODEL_VRAM_GB)
    return {"profile": chosen.number, "profile_name": chosen.name, "vram_gb": vram, "ram_gb": chosen.ram_gb}


def lightest_profile_for(vram_gb: float) -> int | None:
    """The fastest profile whose VRAM need fits `vram_gb` (None if even profile 5 does not fit)."""
    fitting = [p for p in PROFILES.values() if p.vram_gb <= vram_gb]
    if not fitting:
        return None
    # Prefer whole-model profiles (faster), then the lower number.
    return sorted(fitting, key=lambda p: (p.streams_weights, p.number))[0].number
