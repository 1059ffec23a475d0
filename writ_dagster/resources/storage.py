"""The DuckDB file as a Dagster resource; the core's storage functions do the work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from writ_dagster.core.home import duckdb_path
from writ_dagster.core.storage.schema import connect


class WritStorage(dg.ConfigurableResource):
    """WRIT's DuckDB database. Each use opens and closes a connection, so the file's
    single-writer lock is held only while rows are written."""

    database: str | None = Field(
        default=None, description="path of the DuckDB file; default $WRIT_HOME/writ.duckdb")

    @property
    def path(self) -> Path:
        """The DuckDB file this resource writes (resolved when used, so WRIT_HOME may change)."""
        return Path(self.database).expanduser().resolve() if self.database else duckdb_path()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the database with WRIT's tables (see :func:`writ_dagster.core.storage.open_db`)."""
        with connect(self.path, read_only=read_only) as con:
            yield con
