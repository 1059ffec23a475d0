"""SFT sets in the WRIT database: one ``sft_sets`` row per set built, its rows in ``sft_rows``.

A set is identified by its version (a digest of its config and the trajectories it was built
from), so rebuilding the same set writes the same rows. Writing a version replaces exactly
that version's rows in one transaction; other versions stay. The Parquet files trainers read
live in the set's ``directory``; the database copy is what lineage queries and ``writ
export-sft`` use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
from pydantic import BaseModel

from writ_dagster.core.sft.models import RecipeLengths, SFTBuild, SFTConfig, SFTRow
from writ_dagster.core.storage.base import has_table, insert_frame, json_text, transaction, utc_now
from writ_dagster.core.versioning import code_version

INSERT_CHUNK = 256  # sft_rows inserted per statement
SFT_SETS_DDL = """CREATE TABLE IF NOT EXISTS sft_sets (
        sft_version VARCHAR PRIMARY KEY,
        config_hash VARCHAR NOT NULL,
        config_json VARCHAR NOT NULL,
        code_version VARCHAR NOT NULL,
        trajectories_digest VARCHAR NOT NULL,
        directory VARCHAR NOT NULL,
        n_train INTEGER NOT NULL,
        n_validation INTEGER NOT NULL,
        considered INTEGER NOT NULL,
        dropped_json VARCHAR NOT NULL,
        cells_json VARCHAR NOT NULL,
        written_at TIMESTAMP NOT NULL
    )"""
SFT_ROWS_DDL = """CREATE TABLE IF NOT EXISTS sft_rows (
        row_id VARCHAR PRIMARY KEY,
        sft_version VARCHAR NOT NULL,
        split VARCHAR NOT NULL,
        domain VARCHAR NOT NULL,
        trajectory_type VARCHAR NOT NULL,
        has_user_script BOOLEAN NOT NULL,
        trajectory_id VARCHAR NOT NULL,
        task_id VARCHAR NOT NULL,
        script_id VARCHAR NOT NULL,
        partition VARCHAR NOT NULL,
        n_messages INTEGER NOT NULL,
        messages_json VARCHAR NOT NULL,
        tools_json VARCHAR NOT NULL
    )"""
# Schema 4: each row's task family (older rows are plain writes).
SFT_ROWS_UPGRADE_DDL = "ALTER TABLE sft_rows ADD COLUMN IF NOT EXISTS family VARCHAR DEFAULT 'writes'"
# The rows' lengths under the training recipe a set was built for (NULL: built for none, or before this column).
# Added by the write itself (idempotent), so a database of the same schema version made before it gains it.
SFT_SETS_UPGRADE_DDL = "ALTER TABLE sft_sets ADD COLUMN IF NOT EXISTS lengths_json VARCHAR"
# Each row's task axes and its tokens under the recipe (NULL in rows written before these columns), added
# the same way.
SFT_ROWS_AXES_DDL: tuple[str, ...] = tuple(
    f"ALTER TABLE sft_rows ADD COLUMN IF NOT EXISTS {column} INTEGER"
    for column in ("writes", "reads", "max_reads_before_write", "tokens")
)
_SET_COLUMNS = (
    "sft_version",
    "config_hash",
    "config_json",
    "code_version",
    "trajectories_digest",
    "directory",
    "n_train",
    "n_validation",
    "considered",
    "dropped_json",
    "cells_json",
    "written_at",
    "lengths_json",
)


class SFTSetInfo(BaseModel):
    """What is stored about one SFT set."""

    sft_version: str
    config_hash: str
    config_json: str
    code_version: str
    trajectories_digest: str
    directory: str
    n_train: int
    n_validation: int
    considered: int
    dropped: dict[str, int]
    cells: dict[str, int]
    written_at: datetime | None = None
    lengths: RecipeLengths | None = None

    @property
    def train_path(self) -> Path:
        return Path(self.directory) / "train.parquet"

    @property
    def validation_path(self) -> Path | None:
        path = Path(self.directory) / "validation.parquet"
        return path if self.n_validation else None

    def config(self) -> SFTConfig:
        return SFTConfig.model_validate_json(self.config_json)


AXIS_COLUMNS = ("writes", "reads", "max_reads_before_write", "tokens")


def row_id(sft_version: str, trajectory_id: str) -> str:
    """The id of an SFT row: its set's version and the trajectory it was made from."""
    return f"{sft_version}/{trajectory_id}"


def rows_frame(rows: Sequence[SFTRow]) -> pl.DataFrame:
    """``sft_rows`` columns for ``rows``."""
    return pl.DataFrame(
        {
            "row_id": [row_id(r.sft_version, r.trajectory_id) for r in rows],
            "sft_version": [r.sft_version for r in rows],
            "split": [r.split for r in rows],
            "domain": [r.domain for r in rows],
            "trajectory_type": [r.trajectory_type for r in rows],
            "has_user_script": [r.has_user_script for r in rows],
            "trajectory_id": [r.trajectory_id for r in rows],
            "task_id": [r.task_id for r in rows],
            "script_id": [r.script_id for r in rows],
            "partition": [r.partition for r in rows],
            "n_messages": [len(r.messages) for r in rows],
            "messages_json": [json_text(r.messages) for r in rows],
            "tools_json": [r.tools for r in rows],
            "family": [r.family for r in rows],
            **{column: [getattr(r, column) for r in rows] for column in AXIS_COLUMNS},
        },
        schema={
            "row_id": pl.String,
            "sft_version": pl.String,
            "split": pl.String,
            "domain": pl.String,
            "trajectory_type": pl.String,
            "has_user_script": pl.Boolean,
            "trajectory_id": pl.String,
            "task_id": pl.String,
            "script_id": pl.String,
            "partition": pl.String,
            "n_messages": pl.Int32,
            "messages_json": pl.String,
            "tools_json": pl.String,
            "family": pl.String,
            **{column: pl.Int32 for column in AXIS_COLUMNS},
        },
    )


def write_sft_set(
    con: duckdb.DuckDBPyConnection, build: SFTBuild, config: SFTConfig, directory: str | Path, trajectories_digest: str
) -> SFTSetInfo:
    """Store ``build`` (its Parquet already written to ``directory``), replacing that version's rows."""
    info = SFTSetInfo(
        sft_version=build.version,
        config_hash=config.content_hash(),
        config_json=config.model_dump_json(),
        code_version=code_version(),
        trajectories_digest=trajectories_digest,
        directory=str(directory),
        n_train=sum(r.split == "train" for r in build.rows),
        n_validation=sum(r.split == "validation" for r in build.rows),
        considered=build.considered,
        dropped=build.dropped,
        cells=build.cells,
        written_at=utc_now(),
        lengths=build.lengths,
    )
    with transaction(con):
        con.execute(SFT_SETS_UPGRADE_DDL)
        for ddl in SFT_ROWS_AXES_DDL:
            con.execute(ddl)
        con.execute("DELETE FROM sft_rows WHERE sft_version = ?", [build.version])
        con.execute("DELETE FROM sft_sets WHERE sft_version = ?", [build.version])
        # In chunks: one frame of every row's JSON at once costs ~100 MiB more at 2,000 rows.
        for start in range(0, len(build.rows), INSERT_CHUNK):
            insert_frame(con, "sft_rows", rows_frame(build.rows[start : start + INSERT_CHUNK]))
        con.execute(
            f"INSERT INTO sft_sets ({', '.join(_SET_COLUMNS)}) VALUES ({', '.join('?' * len(_SET_COLUMNS))})",
            [
                info.sft_version,
                info.config_hash,
                info.config_json,
                info.code_version,
                info.trajectories_digest,
                info.directory,
                info.n_train,
                info.n_validation,
                info.considered,
                json_text(info.dropped),
                json_text(info.cells),
                info.written_at,
                None if info.lengths is None else info.lengths.model_dump_json(),
            ],
        )
    return info


def _info(row: dict) -> SFTSetInfo:
    lengths = row.get("lengths_json")  # absent in a database opened read-only before its upgrade
    return SFTSetInfo(
        **{k: v for k, v in row.items() if not k.endswith("_json") or k == "config_json"},
        dropped=json.loads(row["dropped_json"]),
        cells=json.loads(row["cells_json"]),
        lengths=RecipeLengths.model_validate_json(lengths) if lengths else None,
    )


def read_sft_set(con: duckdb.DuckDBPyConnection, sft_version: str) -> SFTSetInfo | None:
    """The stored set ``sft_version``, or None."""
    if not has_table(con, "sft_sets"):
        return None
    frame = con.sql("SELECT * FROM sft_sets WHERE sft_version = ?", params=[sft_version]).pl()
    return _info(frame.row(0, named=True)) if frame.height else None


def latest_sft_set(con: duckdb.DuckDBPyConnection) -> SFTSetInfo | None:
    """The most recently written SFT set, or None."""
    if not has_table(con, "sft_sets"):
        return None
    frame = con.sql("SELECT * FROM sft_sets ORDER BY written_at DESC, sft_version LIMIT 1").pl()
    return _info(frame.row(0, named=True)) if frame.height else None


def sft_sets(con: duckdb.DuckDBPyConnection) -> list[SFTSetInfo]:
    """Every stored SFT set, newest first."""
    if not has_table(con, "sft_sets"):
        return []
    frame = con.sql("SELECT * FROM sft_sets ORDER BY written_at DESC, sft_version").pl()
    return [_info(row) for row in frame.iter_rows(named=True)]


def sft_rows_frame(con: duckdb.DuckDBPyConnection, sft_version: str, split: str | None = None) -> pl.DataFrame:
    """The rows of set ``sft_version`` (optionally one split), in row-id order."""
    sql, params = "SELECT * FROM sft_rows WHERE sft_version = ?", [sft_version]
    if split is not None:
        sql, params = sql + " AND split = ?", [*params, split]
    return con.sql(sql + " ORDER BY row_id", params=params).pl()
