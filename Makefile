# GenBridge distribution. `make zips` builds one Blender extension zip per platform into dist/.
# PYTHON needs pip (for downloading wheels); Blender's extension tool is found in an installed bpy
# (or set GENBRIDGE_BLENDER_EXT=/path/to/blender_ext.py).
PYTHON ?= $(shell test -x .venvs/dev/bin/python && echo .venvs/dev/bin/python || echo python3)

.PHONY: wheels build zips lock clean-dist

# Fetch every wheel in wheels.lock into wheels/ and verify its sha256.
wheels:
	$(PYTHON) tools/build_extension.py --wheels-only

# Linux x64 zip only (what CI installs into real Blender).
build:
	$(PYTHON) tools/build_extension.py --platform linux-x64

# All four platform zips: windows-x64, macos-arm64, macos-x64, linux-x64.
zips:
	$(PYTHON) tools/build_extension.py

# Regenerate wheels.lock after changing a pin in tools/wheel_spec.py.
lock:
	$(PYTHON) tools/lock_wheels.py

clean-dist:
	rm -rf dist build/extension
