"""How ``writ`` ends: its exit codes, the input it refuses, and the one line an error is printed as."""

from __future__ import annotations

import sys

from pydantic import ValidationError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_CONFIG_NAMES = {"SynthesisConfig": "synthesis config", "TrajectoryConfig": "simulation config",
                 "SFTConfig": "SFT config"}


class BadInput(Exception):
    """A command-line input WRIT refuses (reported as one line, exit code 2)."""


def one_line(exc: BaseException) -> str:
    """``exc`` as one line: a pydantic error names the config and each bad field."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "config"
            parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        return f"invalid {_CONFIG_NAMES.get(exc.title, 'config')}: " + "; ".join(parts)
    return " ".join(str(exc).split())


def print_error(exc: BaseException) -> None:
    """Print ``exc`` on stderr as ``writ: error: <one line>``."""
    print(f"writ: error: {one_line(exc)}", file=sys.stderr)
