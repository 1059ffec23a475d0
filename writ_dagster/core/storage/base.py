"""Small helpers every table module of the WRIT database shares (pure: no Dagster here).

They sit below both ``schema.py`` and the table modules, so that ``schema.py`` can collect
each table module's DDL without a table module importing it back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl


class StorageError(RuntimeError):
    """The WRIT database cannot be opened or used (the message names the file)."""


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block in one transaction: all of it is committed, or none of it."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``table`` exists (an older database opened read-only may lack the newer ones)."""
    rows = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchall()
    return bool(rows[0][0])


def json_text(value: Any) -> str:
    """JSON text of ``value`` with sorted keys."""
    # Sorted keys: the same record always gives the same text, so rows compare byte for byte.
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def utc_now() -> datetime:
    """Now, in UTC, without tzinfo (DuckDB TIMESTAMP)."""
    return datetime.now(UTC).replace(tzinfo=None)


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, or_ignore: bool = False) -> None:
    """Insert ``frame``'s rows into ``table`` by column name (``or_ignore``: skip rows whose key exists)."""
    if frame.is_empty():
        return
    view = f"_writ_new_{table}"
    con.register(view, frame)
    # If the insert fails the transaction is aborted and refuses even an unregister: leave the
    # view to the caller's rollback (a later register under the same name replaces it).
    verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
    con.execute(f"{verb} INTO {table} BY NAME SELECT * FROM {view}")
    con.unregister(view)


def digest_of(pairs: Sequence[tuple[str, str]]) -> str:
    """A 16-hex digest of (id, content hash) pairs, order-independent: a partition's data version."""
    digest = hashlib.sha256()
    for key, content in sorted(pairs):
        digest.update(f"{key}\t{content}\n".encode())
    return digest.hexdigest()[:16]
