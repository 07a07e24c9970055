"""`python -m genbridge.standins.comfyui`: run the stand-in (see `cli.main`)."""

from .cli import main

raise SystemExit(main())
