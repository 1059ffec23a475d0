"""One runner per asset: read input rows from storage, call the pure cores, write output rows.

``tasks``, ``user_scripts``, ``trajectories``, ``sft``, ``checkpoint`` and ``evaluation``. The
Dagster assets, ``writ run``, the benchmarks and the tests all call these; none imports dagster.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import duckdb

from writ_dagster.core.tasks.models import TaskRecord

# Opens a short-lived connection to the WRIT database (DuckDB has one writer at a time, so the
# stages that compute for long open one only to read their inputs and to write their rows).
Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


class MissingInputError(RuntimeError):
    """An upstream partition or asset this stage reads has not been stored."""


def require_intents(tasks: list[TaskRecord], domain: str, partition: str) -> list[TaskRecord]:
    """``tasks``, if every one carries its intent; tasks stored before they did (schema 4 or older) must
    be made again before scripts or conversations are made from them."""
    if any(t.intent is None for t in tasks):
        raise MissingInputError(
            f"tasks of {domain}/{partition} were stored before tasks carried their intent; "
            "materialize `tasks` again first"
        )
    return tasks
