"""The headless command line. Each `cli/<command>.py` module defines `add_parser(subparsers)` and `run(args)`.

Commands are discovered from the modules in this folder, so adding one never touches this file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from ..runtime.errors import GenBridgeError, error_from_exception
from ..runtime.redact import install_log_redaction


def _command_modules() -> list[object]:
    modules: list[object] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f".{info.name}", __package__)
        if hasattr(module, "add_parser") and hasattr(module, "run"):
            modules.append(module)
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m genbridge", description="GenBridge headless commands.")
    parser.add_argument("--config", help="settings TOML file (default: $GENBRIDGE_CONFIG or ./genbridge.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _command_modules():
        before = set(sub.choices)
        module.add_parser(sub)  # type: ignore[attr-defined]
        for name in set(sub.choices) - before:
            # Each command runs its module's run(args) unless the module set its own func.
            sub.choices[name].set_defaults(func=module.run)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    install_log_redaction()
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a command ends with a message, never a traceback
        err = error_from_exception(exc)
        if not isinstance(exc, GenBridgeError):
            logging.getLogger("genbridge.cli").debug("unexpected error", exc_info=True)
        print(f"error: {err.message}\n  {err.hint}", file=sys.stderr)
        return 2
