"""``writ trace``: the lineage chain of an SFT row or trajectory id."""

from __future__ import annotations

import argparse

from writ_dagster.cli.errors import EXIT_FAILED, EXIT_OK, BadInput, print_error
from writ_dagster.core.home import duckdb_path
from writ_dagster.core.storage.lineage import BrokenChainError, UnknownIdError, format_chain, trace
from writ_dagster.core.storage.schema import connect


def cmd_trace(args: argparse.Namespace) -> int:
    """Print the lineage chain of an SFT row or trajectory id."""
    with connect(duckdb_path(), read_only=True) as con:
        try:
            chain = trace(con, args.id, resolve_entities=not args.no_db)
        except UnknownIdError as exc:
            raise BadInput(str(exc)) from None
        except BrokenChainError as exc:  # stored, but the data no longer holds together
            print_error(exc)
            return EXIT_FAILED
    print(chain.model_dump_json(indent=2) if args.json else format_chain(chain))
    return EXIT_OK
