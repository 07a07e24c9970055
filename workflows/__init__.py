"""Parameterised ComfyUI workflows and WanGP presets."""
