"""Run records: what each stage stored for a partition, and with which settings (pure: no Dagster here).

- ``partition_runs``: one row per (domain, partition) of ``tasks`` written: config, code
  version, counts, and a digest of the tasks' content hashes (the partition's data version);
  written by :func:`writ_dagster.core.storage.tasks.write_partition` with the tasks.
- ``stage_runs``: one row per (stage, domain, partition) of the stages after ``tasks``:
  settings, code version, row count and content digest; written by each stage's writer in
  the same transaction as the rows it describes.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl
from pydantic import BaseModel

from writ_dagster.core.storage.base import has_table, insert_frame, utc_now
from writ_dagster.core.tasks.models import SynthesisConfig

PARTITION_RUNS_DDL = """CREATE TABLE IF NOT EXISTS partition_runs (
        domain VARCHAR NOT NULL,
        partition VARCHAR NOT NULL,
        config_hash VARCHAR NOT NULL,
        config_json VARCHAR NOT NULL,
        code_version VARCHAR NOT NULL,
        tau2_version VARCHAR NOT NULL,
        n_tasks INTEGER NOT NULL,
        n_rejections INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        content_digest VARCHAR NOT NULL,
        written_at TIMESTAMP NOT NULL,
        PRIMARY KEY (domain, partition)
    )"""
STAGE_RUNS_DDL = """CREATE TABLE IF NOT EXISTS stage_runs (
        stage VARCHAR NOT NULL,
        domain VARCHAR NOT NULL,
        partition VARCHAR NOT NULL,
        config_hash VARCHAR NOT NULL,
        config_json VARCHAR NOT NULL,
        code_version VARCHAR NOT NULL,
        tau2_version VARCHAR NOT NULL,
        n_rows INTEGER NOT NULL,
        content_digest VARCHAR NOT NULL,
        figures_json VARCHAR NOT NULL,
        written_at TIMESTAMP NOT NULL,
        PRIMARY KEY (stage, domain, partition)
    )"""


class PartitionRun(BaseModel):
    """What was stored for one (domain, partition) and with which settings."""

    domain: str
    partition: str
    config_hash: str
    config_json: str
    code_version: str
    tau2_version: str
    n_tasks: int
    n_rejections: int
    attempts: int
    content_digest: str
    written_at: datetime | None = None

    def config(self) -> SynthesisConfig:
        """The synthesis settings this partition was produced with."""
        return SynthesisConfig.model_validate_json(self.config_json)


class StageRun(BaseModel):
    """What a later stage (``user_scripts``, ``trajectories``) stored for one partition, and how."""

    stage: str
    domain: str
    partition: str
    config_hash: str
    config_json: str
    code_version: str
    tau2_version: str
    n_rows: int
    content_digest: str
    figures_json: str = "{}"
    written_at: datetime | None = None


# -- partition runs (stage ``tasks``) ---------------------------------------------------------


def replace_partition_run(con: duckdb.DuckDBPyConnection, run: PartitionRun) -> None:
    """Replace the ``partition_runs`` row of ``run``'s (domain, partition); call inside a
    transaction together with the rows it describes."""
    con.execute("DELETE FROM partition_runs WHERE domain = ? AND partition = ?", [run.domain, run.partition])
    insert_frame(con, "partition_runs", pl.DataFrame([run.model_dump()]))


def stored_partitions(con: duckdb.DuckDBPyConnection, domain: str) -> list[str]:
    """Partitions of ``domain`` that have been written (even if they hold no task)."""
    rows = con.execute("SELECT partition FROM partition_runs WHERE domain = ? ORDER BY partition", [domain])
    return [r[0] for r in rows.fetchall()]


def read_partition_run(con: duckdb.DuckDBPyConnection, domain: str, partition: str) -> PartitionRun | None:
    """The run record of one stored partition, or None if it was never written."""
    frame = con.sql("SELECT * FROM partition_runs WHERE domain = ? AND partition = ?", params=[domain, partition]).pl()
    return None if frame.is_empty() else PartitionRun.model_validate(frame.row(0, named=True))


# -- stage runs (the stages after ``tasks``) --------------------------------------------------


def write_stage_run(con: duckdb.DuckDBPyConnection, run: StageRun) -> None:
    """Replace the stage-run row of ``run``'s (stage, domain, partition); call inside a transaction
    together with the rows it describes."""
    delete_stage_run(con, run.stage, run.domain, run.partition)
    row = run.model_dump()
    row["written_at"] = row["written_at"] or utc_now()
    insert_frame(con, "stage_runs", pl.DataFrame([row]))


def delete_stage_run(con: duckdb.DuckDBPyConnection, stage: str, domain: str, partition: str) -> None:
    """Forget that ``stage`` finished (domain, partition): its rows there are no longer complete."""
    con.execute("DELETE FROM stage_runs WHERE stage = ? AND domain = ? AND partition = ?", [stage, domain, partition])


def read_stage_run(con: duckdb.DuckDBPyConnection, stage: str, domain: str, partition: str) -> StageRun | None:
    """The stage-run row of one (stage, domain, partition), or None if that stage never finished there."""
    if not has_table(con, "stage_runs"):
        return None
    frame = con.sql(
        "SELECT * FROM stage_runs WHERE stage = ? AND domain = ? AND partition = ?", params=[stage, domain, partition]
    ).pl()
    return None if frame.is_empty() else StageRun.model_validate(frame.row(0, named=True))
