"""The DuckDB file as a Dagster resource, built on ``dagster_duckdb.DuckDBResource``; the core's
storage package does the work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from writ_dagster.core.home import duckdb_path
from writ_dagster.core.storage import schema


class WritStorage(DuckDBResource):
    """WRIT's DuckDB database. Each use opens and closes a connection, so the file's
    single-writer lock is held only while rows are written.

    A :class:`DuckDBResource` whose ``database`` may be left unset (then ``$WRIT_HOME/writ.duckdb``,
    resolved when used) and whose connections come with WRIT's tables: ``get_connection``
    (DuckDBResource's entry point) and :meth:`connect` both go through
    :func:`writ_dagster.core.storage.schema.open_db`, which refuses a file that is not a WRIT
    database and fails at once, naming the file, when another process holds the write lock
    (DuckDBResource would retry for seconds instead).
    """

    # Narrowed from DuckDBResource's required path: unset means the WRIT_HOME default.
    database: str | None = Field(  # type: ignore[assignment]  # DuckDBResource types it str, required
        default=None, description="path of the DuckDB file; default $WRIT_HOME/writ.duckdb"
    )

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False  # a subclass of a Dagster-maintained resource is still ours

    @property
    def path(self) -> Path:
        """The DuckDB file this resource writes (resolved when used, so WRIT_HOME may change)."""
        return Path(self.database).expanduser().resolve() if self.database else duckdb_path()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the database with WRIT's tables (see :func:`writ_dagster.core.storage.schema.open_db`)."""
        with schema.connect(self.path, read_only=read_only, config=self.connection_config) as con:
            yield con

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writable connection with WRIT's tables, closed on exit (DuckDBResource's interface)."""
        with self.connect() as con:
            yield con
