"""`python -m genbridge.standins.wan2gp --port 7866 --contract v1`: serve the WanGP stand-in until Ctrl-C."""

from .cli import main

main()
