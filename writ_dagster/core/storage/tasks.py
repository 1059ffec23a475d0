"""Tables of stage ``tasks`` and the domain catalogue (pure: no Dagster here).

- ``tasks``: one row per stored :class:`TaskRecord` (flat axis columns for queries, the
  nested parts, the task's intent among them, as JSON text), keyed by ``task_id``;
- ``task_rejections``: every synthesis attempt that did not become a task, and why;
- ``domain_catalogue`` (one row per tool) and ``domain_info`` (one row per domain).

Writing a partition replaces exactly that (domain, partition)'s rows, with its
``partition_runs`` row (``runs.py``), in one transaction, so re-materializing it yields the
same rows (only ``written_at`` differs) and other partitions are never touched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from writ_dagster.core.storage.base import insert_frame, json_text, transaction, utc_now
from writ_dagster.core.storage.runs import PartitionRun, replace_partition_run
from writ_dagster.core.tasks.intent import TaskIntent
from writ_dagster.core.tasks.models import (
    AxisMeasure,
    BatchResult,
    PlanStep,
    SynthesisConfig,
    TaskRecord,
    TaskSources,
)
from writ_dagster.core.versioning import code_version, tau2_version

if TYPE_CHECKING:  # the catalogue module loads tau2; storage itself does not need it
    from writ_dagster.core.domains.catalogue import DomainCatalogue

TASKS_DDL = """CREATE TABLE IF NOT EXISTS tasks (
        task_id VARCHAR PRIMARY KEY,
        domain VARCHAR NOT NULL,
        partition VARCHAR NOT NULL,
        idx INTEGER NOT NULL,
        trajectory_type VARCHAR NOT NULL,
        user_id VARCHAR NOT NULL,
        writes INTEGER NOT NULL,
        reads INTEGER NOT NULL,
        max_reads_before_write INTEGER NOT NULL,
        reads_per_write DOUBLE NOT NULL,
        task_json VARCHAR NOT NULL,
        gold_actions_json VARCHAR NOT NULL,
        axes_json VARCHAR NOT NULL,
        sources_json VARCHAR NOT NULL,
        content_hash VARCHAR NOT NULL,
        written_at TIMESTAMP NOT NULL,
        UNIQUE (domain, partition, idx)
    )"""
# Schema 4: the task family (refusal, mixed, ...); older rows are plain writes. (Schemas 4 and 5 kept the
# requests beyond plain writes in a column refusals_json of their own as well.)
# Schema 5: the task's intent (what it asks, as data); older rows have none (NULL) until their
# partition's tasks are made again.
# Schema 6: refusals_json is dropped: the intent holds those requests (TaskRecord.beyond_writes); the rows
# of a schema 4 home that lose it have no intent, and must be made again before anything reads them.
UPGRADE_DDL: tuple[str, ...] = (
    "ALTER TABLE tasks ADD COLUMN IF NOT EXISTS family VARCHAR DEFAULT 'writes'",
    "ALTER TABLE tasks ADD COLUMN IF NOT EXISTS intent_json VARCHAR",
    "ALTER TABLE tasks DROP COLUMN IF EXISTS refusals_json",
)
REJECTIONS_DDL = """CREATE TABLE IF NOT EXISTS task_rejections (
        domain VARCHAR NOT NULL,
        partition VARCHAR NOT NULL,
        attempt INTEGER NOT NULL,
        reason VARCHAR NOT NULL,
        detail VARCHAR NOT NULL,
        PRIMARY KEY (domain, partition, attempt)
    )"""
CATALOGUE_DDL = """CREATE TABLE IF NOT EXISTS domain_catalogue (
        domain VARCHAR NOT NULL,
        tool VARCHAR NOT NULL,
        type VARCHAR NOT NULL,
        schema_json VARCHAR NOT NULL,
        PRIMARY KEY (domain, tool)
    )"""
DOMAIN_INFO_DDL = """CREATE TABLE IF NOT EXISTS domain_info (
        domain VARCHAR PRIMARY KEY,
        policy_chars INTEGER NOT NULL,
        policy_sha256 VARCHAR NOT NULL,
        tables_json VARCHAR NOT NULL,
        base_tasks INTEGER NOT NULL,
        tau2_version VARCHAR NOT NULL,
        catalogue_digest VARCHAR NOT NULL,
        written_at TIMESTAMP NOT NULL
    )"""

TASKS_SCHEMA: dict[str, Any] = {
    "task_id": pl.String,
    "domain": pl.String,
    "partition": pl.String,
    "idx": pl.Int32,
    "trajectory_type": pl.String,
    "user_id": pl.String,
    "writes": pl.Int32,
    "reads": pl.Int32,
    "max_reads_before_write": pl.Int32,
    "reads_per_write": pl.Float64,
    "task_json": pl.String,
    "gold_actions_json": pl.String,
    "axes_json": pl.String,
    "sources_json": pl.String,
    "content_hash": pl.String,
    "written_at": pl.Datetime("us"),
    "family": pl.String,
    "intent_json": pl.String,
}
REJECTIONS_SCHEMA: dict[str, Any] = {
    "domain": pl.String,
    "partition": pl.String,
    "attempt": pl.Int32,
    "reason": pl.String,
    "detail": pl.String,
}


# -- records <-> frames --------------------------------------------------------------------


def records_frame(records: Sequence[TaskRecord], written_at: datetime | None = None) -> pl.DataFrame:
    """The ``tasks`` rows of ``records`` as a polars frame."""
    at = written_at or utc_now()
    rows = [
        {
            "task_id": r.task_id,
            "domain": r.domain,
            "partition": r.partition,
            "idx": r.index,
            "trajectory_type": r.trajectory_type,
            "user_id": r.user_id,
            "writes": r.axes.writes,
            "reads": r.axes.reads,
            "max_reads_before_write": r.axes.max_reads_before_write,
            "reads_per_write": float(r.axes.reads_per_write),
            "task_json": json_text(r.task),
            "gold_actions_json": json_text([s.model_dump(mode="json") for s in r.gold_actions]),
            "axes_json": json_text(r.axes.model_dump(mode="json")),
            "sources_json": json_text(r.sources.model_dump(mode="json")),
            "content_hash": r.content_hash,
            "written_at": at,
            "family": r.family,
            "intent_json": None if r.intent is None else json_text(r.intent.model_dump(mode="json")),
        }
        for r in records
    ]
    return pl.DataFrame(rows, schema=TASKS_SCHEMA)


def frame_records(frame: pl.DataFrame) -> list[TaskRecord]:
    """Rebuild :class:`TaskRecord` objects from ``tasks`` rows."""
    return [
        TaskRecord(
            task_id=row["task_id"],
            domain=row["domain"],
            partition=row["partition"],
            index=row["idx"],
            trajectory_type=row["trajectory_type"],
            user_id=row["user_id"],
            task=json.loads(row["task_json"]),
            gold_actions=[PlanStep.model_validate(s) for s in json.loads(row["gold_actions_json"])],
            axes=AxisMeasure.model_validate_json(row["axes_json"]),
            sources=TaskSources.model_validate_json(row["sources_json"]),
            content_hash=row["content_hash"],
            # A database of schema 3 or older, read as it is, has no family column.
            family=row.get("family") or "writes",
            # Schema 4 or older: no intent (outline_task then asks for the tasks to be made again).
            intent=TaskIntent.model_validate_json(row["intent_json"]) if row.get("intent_json") else None,
        )
        for row in frame.iter_rows(named=True)
    ]


def rejections_frame_of(result: BatchResult) -> pl.DataFrame:
    """The ``task_rejections`` rows of a batch result."""
    rows = [
        {
            "domain": result.domain,
            "partition": result.partition,
            "attempt": r.attempt,
            "reason": r.reason,
            "detail": r.detail,
        }
        for r in result.rejections
    ]
    return pl.DataFrame(rows, schema=REJECTIONS_SCHEMA)


def content_digest(records: Sequence[TaskRecord]) -> str:
    """A digest of a partition's task ids and content hashes: its data version."""
    digest = hashlib.sha256()
    for r in sorted(records, key=lambda r: r.index):
        digest.update(f"{r.task_id}\t{r.content_hash}\n".encode())
    return digest.hexdigest()[:16]


# -- writing -------------------------------------------------------------------------------


def _check_result(result: BatchResult) -> None:
    for r in result.tasks:
        if (r.domain, r.partition) != (result.domain, result.partition):
            raise ValueError(
                f"task {r.task_id} belongs to {r.domain}/{r.partition}, "
                f"not to the partition being written ({result.domain}/{result.partition})"
            )
    for what, values in (("task_id", [r.task_id for r in result.tasks]), ("index", [r.index for r in result.tasks])):
        if len(set(values)) != len(values):
            raise ValueError(f"duplicate {what} in partition {result.domain}/{result.partition}")


def write_partition(con: duckdb.DuckDBPyConnection, result: BatchResult, config: SynthesisConfig) -> PartitionRun:
    """Replace the stored rows of ``result``'s (domain, partition) with ``result``, atomically.

    Rows of every other partition are left as they are. Returns the partition's run record.
    """
    _check_result(result)
    at = utc_now()
    run = PartitionRun(
        domain=result.domain,
        partition=result.partition,
        config_hash=config.content_hash(),
        config_json=config.model_dump_json(),
        code_version=code_version(),
        tau2_version=tau2_version(),
        n_tasks=len(result.tasks),
        n_rejections=len(result.rejections),
        attempts=result.attempts,
        content_digest=content_digest(result.tasks),
        written_at=at,
    )
    where = "WHERE domain = ? AND partition = ?"
    key = [result.domain, result.partition]
    with transaction(con):
        for table in ("tasks", "task_rejections"):
            con.execute(f"DELETE FROM {table} {where}", key)
        insert_frame(con, "tasks", records_frame(result.tasks, at))
        insert_frame(con, "task_rejections", rejections_frame_of(result))
        replace_partition_run(con, run)
    return run


def write_catalogue(con: duckdb.DuckDBPyConnection, catalogue: DomainCatalogue) -> None:
    """Replace one domain's catalogue rows (tools and domain info), atomically."""
    tools = pl.DataFrame(
        [
            {"domain": catalogue.domain, "tool": t.name, "type": t.type, "schema_json": t.openai_schema}
            for t in catalogue.tools
        ],
        schema={"domain": pl.String, "tool": pl.String, "type": pl.String, "schema_json": pl.String},
    )
    info = pl.DataFrame(
        [
            {
                "domain": catalogue.domain,
                "policy_chars": catalogue.policy_chars,
                "policy_sha256": catalogue.policy_sha256,
                "tables_json": json_text(catalogue.tables),
                "base_tasks": catalogue.base_tasks,
                "tau2_version": catalogue.tau2_version,
                "catalogue_digest": catalogue.digest(),
                "written_at": utc_now(),
            }
        ]
    )
    with transaction(con):
        con.execute("DELETE FROM domain_catalogue WHERE domain = ?", [catalogue.domain])
        con.execute("DELETE FROM domain_info WHERE domain = ?", [catalogue.domain])
        insert_frame(con, "domain_catalogue", tools)
        insert_frame(con, "domain_info", info)


# -- reading -------------------------------------------------------------------------------


def _where(domain: str, partition: str | None) -> tuple[str, list[str]]:
    if partition is None:
        return "WHERE domain = ?", [domain]
    return "WHERE domain = ? AND partition = ?", [domain, partition]


def tasks_frame(con: duckdb.DuckDBPyConnection, domain: str, partition: str | None = None) -> pl.DataFrame:
    """Stored ``tasks`` rows of a domain (optionally one partition), ordered by partition and index."""
    where, params = _where(domain, partition)
    return con.sql(f"SELECT * FROM tasks {where} ORDER BY partition, idx", params=params).pl()


def read_tasks(con: duckdb.DuckDBPyConnection, domain: str, partition: str | None = None) -> list[TaskRecord]:
    """Stored tasks of a domain (optionally one partition) as :class:`TaskRecord` objects."""
    return frame_records(tasks_frame(con, domain, partition))


def read_all_tasks(con: duckdb.DuckDBPyConnection) -> list[TaskRecord]:
    """Every stored task, of every domain and partition (in no particular order)."""
    return frame_records(con.sql("SELECT * FROM tasks").pl())


def rejections_frame(con: duckdb.DuckDBPyConnection, domain: str, partition: str | None = None) -> pl.DataFrame:
    """Stored rejections of a domain (optionally one partition)."""
    where, params = _where(domain, partition)
    return con.sql(f"SELECT * FROM task_rejections {where} ORDER BY partition, attempt", params=params).pl()


def catalogue_frame(con: duckdb.DuckDBPyConnection, domain: str) -> pl.DataFrame:
    """A domain's stored tools (name, type, OpenAI schema JSON)."""
    return con.sql("SELECT * FROM domain_catalogue WHERE domain = ? ORDER BY tool", params=[domain]).pl()
