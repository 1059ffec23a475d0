"""How ``writ`` ends: its exit codes, the input it refuses, and the one line an error is printed as."""

from __future__ import annotations

import sys

from pydantic import ValidationError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
MAX_LINE = 300  # an error line's length: room for the message and ~200 characters of quoted input
_CONFIG_NAMES = {
    "SynthesisConfig": "synthesis config",
    "TrajectoryConfig": "simulation config",
    "SFTConfig": "SFT config",
}


class BadInput(Exception):
    """A command-line input WRIT refuses (reported as one line, exit code 2)."""


def one_line(exc: BaseException) -> str:
    """``exc`` as one line: a pydantic error names the config and each bad field."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "config"
            parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        return _clip(f"invalid {_CONFIG_NAMES.get(exc.title, 'config')}: " + "; ".join(parts))
    return _clip(" ".join(str(exc).split()))


def _clip(line: str) -> str:
    """``line`` cut to :data:`MAX_LINE` characters: messages quote the input they refuse, which may be huge."""
    if len(line) <= MAX_LINE:
        return line
    return line[:MAX_LINE] + f"... ({len(line) - MAX_LINE} more characters)"


def print_error(exc: BaseException) -> None:
    """Print ``exc`` on stderr as ``writ: error: <one line>``."""
    print(f"writ: error: {one_line(exc)}", file=sys.stderr)
