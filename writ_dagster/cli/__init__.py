"""The ``writ`` command: run the pipeline into WRIT_HOME, export tasks, trajectories and SFT sets,
trace an SFT row back to its sources, open the UI.

Every argument is checked before anything is written: a bad domain or batch key, an
impossible synthesis setting or an unreadable database file ends with one line on stderr
and exit code 2, leaving stored partitions as they were.

``parser`` builds the arguments; ``run``, ``export``, ``trace`` and ``dev`` hold one command
each (``settings`` reads ``writ run``'s settings); ``errors`` holds the exit codes and how an
error is printed.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence

from pydantic import ValidationError

from writ_dagster.cli.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, BadInput, print_error
from writ_dagster.cli.parser import build_parser
from writ_dagster.core.home import HomeError
from writ_dagster.core.keys import BadKeyError
from writ_dagster.core.storage.base import StorageError

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "BadInput", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``writ`` console script; returns the exit code."""
    # Partitioned asset checks and multi→single partition mappings are marked beta/preview.
    warnings.filterwarnings("ignore", message=r".*(is currently in (beta|preview)).*")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.dagster_args = extra
    # Imported only now that a command is chosen: the commands load Dagster and τ²-bench (seconds),
    # which `writ --help` and a mistyped command do without; so do these two errors' modules.
    module, name = args.handler
    handler = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    import duckdb

    from writ_dagster.core.domains.registry import UnknownDomainError
    from writ_dagster.core.tasks.synthesis import ImpossibleConfigError

    try:
        return handler(args)
    except (
        BadInput,
        BadKeyError,
        HomeError,
        StorageError,
        ValidationError,
        ImpossibleConfigError,
        UnknownDomainError,
    ) as exc:
        print_error(exc)
        return EXIT_BAD_INPUT
    except duckdb.Error as exc:  # a database damaged in a way the checks on opening do not see
        print_error(StorageError(f"the WRIT database cannot be used: {str(exc).splitlines()[0]}"))
        return EXIT_BAD_INPUT
