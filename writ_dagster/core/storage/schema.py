"""The WRIT database as a whole: its schema version, opening it, and creating or upgrading its tables.

Each table module owns its ``CREATE`` statements; this module lists them in the order a new
database is made (the order they were added, so an older database upgrades by running the
same list) and records the schema version in ``writ_meta``. A file that is not a DuckDB
database is refused before anything is opened for writing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from writ_dagster.core.storage import checkpoints, evaluations, lineage, runs, scripts, sft, tasks, trajectories
from writ_dagster.core.storage.base import StorageError, transaction

SCHEMA_VERSION = "6"
# Older versions: opened for writing they are upgraded in place (the DDL adds tables and columns, and
# drops the one column schema 6 no longer has, tasks.refusals_json); opened read-only they are read as
# they are.
UPGRADABLE_VERSIONS = frozenset({"1", "2", "3", "4", "5"})
_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file
# How long opening the file waits while another process holds DuckDB's lock on it. A writer holds
# its connection for one stage of one partition at most, so this bounds a reader's wait too.
LOCK_WAIT_S = 300.0
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock")

META_DDL = """CREATE TABLE IF NOT EXISTS writ_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)"""
DDL: tuple[str, ...] = (
    META_DDL,
    tasks.TASKS_DDL,
    tasks.REJECTIONS_DDL,
    runs.PARTITION_RUNS_DDL,
    tasks.CATALOGUE_DDL,
    tasks.DOMAIN_INFO_DDL,
    scripts.SCRIPTS_DDL,
    trajectories.TRAJECTORIES_DDL,
    runs.STAGE_RUNS_DDL,
    trajectories.UPGRADE_DDL,
    sft.SFT_SETS_DDL,
    sft.SFT_ROWS_DDL,
    checkpoints.CHECKPOINTS_DDL,
    evaluations.EVALUATIONS_DDL,
    *tasks.UPGRADE_DDL,
    sft.SFT_ROWS_UPGRADE_DDL,
    *lineage.VIEWS_DDL,
    trajectories.ATTEMPT_DDL,
)


def check_db_file(path: str | Path) -> None:
    """Refuse a path that exists but is not a readable DuckDB file, without modifying it."""
    path = Path(path)
    if not path.exists():
        return
    if not path.is_file():
        raise StorageError(f"WRIT database {path} is not a file")
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError as exc:
        raise StorageError(f"WRIT database {path} cannot be read: {exc.strerror or exc}") from None
    if len(head) < 12 or head[8:12] != _DUCKDB_MAGIC:
        raise StorageError(
            f"WRIT database {path} is not a DuckDB database file (corrupt or something else); "
            "move it away or point WRIT_HOME elsewhere"
        )


_HEADER_BYTES = 3 * 4096  # DuckDB's file header and its two database headers, before the first block


def _check_complete(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a file too short to hold the blocks in use its header lists (cut short by a copy or a full
    disk): DuckDB opens it and fails only when a query reads a missing block.

    Blocks in use, not all blocks: a sound file may end before its free blocks (seen in CI: a file
    two free blocks shorter than ``total_blocks`` after a writer's checkpoint)."""
    row = con.execute("SELECT block_size, total_blocks, free_blocks FROM pragma_database_size()").fetchone()
    assert row is not None  # one row per attached database, this one included
    block_size, total, free = row
    size, needed = path.stat().st_size, _HEADER_BYTES + block_size * (total - free)
    if size < needed:
        raise StorageError(
            f"WRIT database {path} is truncated ({size} bytes, the {total - free} blocks in use its "
            f"header lists need {needed}); restore it or point WRIT_HOME elsewhere"
        )


def check_db_complete(path: str | Path) -> None:
    """Refuse, without modifying it, an existing database file that is truncated (see above); a file
    that cannot be opened now is left to :func:`open_db` to report.

    Called by commands before they open the file, not on every open: while this process holds the
    file open for writing, blocks not yet checkpointed make a sound file look short.
    """
    path = Path(path)
    check_db_file(path)
    if not path.exists():
        return
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return
    try:
        _check_complete(con, path)
    finally:
        con.close()


def open_db(
    path: str | Path, read_only: bool = False, config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the WRIT database at ``path``, creating it and its tables unless ``read_only``.

    ``config`` holds DuckDB connection options (none by default). Raises :class:`StorageError`
    naming the file if it is missing (read-only), not a DuckDB file, locked by another
    process, or of an unknown schema version.
    """
    path = Path(path)
    check_db_file(path)
    if read_only and not path.exists():
        raise StorageError(f"no WRIT database at {path}; run `writ run` first")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect_waiting(path, read_only, config or {})
    try:
        if read_only:
            _check_version(con, path)
        else:
            ensure_schema(con, path)
    except BaseException:
        con.close()
        raise
    return con


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    return any(marker in str(exc) for marker in _LOCK_MARKERS)


def _connect_waiting(path: Path, read_only: bool, config: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, waiting (at most :data:`LOCK_WAIT_S`) while another process holds the file.

    DuckDB lets one process write a file, and a reader's connection locks out a writer too; every
    WRIT connection is short-lived, so waiting a little lets a reader and a writer take turns instead
    of one of them failing.
    """
    deadline = time.monotonic() + LOCK_WAIT_S
    pause = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config)
        except duckdb.Error as exc:
            if not _is_lock_conflict(exc) or time.monotonic() + pause > deadline:
                raise StorageError(f"cannot open WRIT database {path}: {str(exc).splitlines()[0]}") from None
        time.sleep(pause)
        pause = min(2 * pause, 1.0)


@contextmanager
def connect(
    path: str | Path, read_only: bool = False, config: dict[str, Any] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """:func:`open_db` as a context manager that closes the connection (releasing DuckDB's lock)."""
    con = open_db(path, read_only=read_only, config=config)
    try:
        yield con
    finally:
        con.close()


def ensure_schema(con: duckdb.DuckDBPyConnection, path: str | Path = "database") -> None:
    """Create missing WRIT tables (idempotent, upgrading an older schema) and record the version."""
    existing = _version(con)
    if existing is None:
        # no writ_meta: a new file, or another program's database, which WRIT must not write into
        foreign = [
            r[0]
            for r in con.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database() ORDER BY 1"
            ).fetchall()
        ]
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise StorageError(
                f"{path} is a DuckDB database of another program (tables {shown}, no WRIT "
                "schema); refused untouched: point WRIT_HOME at another folder"
            )
    if existing is not None and existing != SCHEMA_VERSION and existing not in UPGRADABLE_VERSIONS:
        raise StorageError(f"WRIT database {path} has schema version {existing}; this code uses {SCHEMA_VERSION}")
    if existing != SCHEMA_VERSION:
        with transaction(con):
            for ddl in DDL:
                con.execute(ddl)
            con.execute("INSERT OR REPLACE INTO writ_meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])


def _version(con: duckdb.DuckDBPyConnection) -> str | None:
    # fetchall, not fetchone: duckdb 2.x refuses new work while a result is partly fetched.
    has_meta = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'writ_meta'").fetchall()[
        0
    ][0]
    if not has_meta:
        return None
    rows = con.execute("SELECT value FROM writ_meta WHERE key = 'schema_version'").fetchall()
    return rows[0][0] if rows else None


def _check_version(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    version = _version(con)
    if version is None:
        raise StorageError(f"{path} is a DuckDB file but holds no WRIT tables")
    if version != SCHEMA_VERSION and version not in UPGRADABLE_VERSIONS:
        raise StorageError(f"WRIT database {path} has schema version {version}; this code uses {SCHEMA_VERSION}")
