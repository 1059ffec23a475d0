"""WRIT's DuckDB tables and idempotent partition writes (pure: no Dagster here).

Tables:

- ``tasks``: one row per stored :class:`TaskRecord` (flat axis columns for queries, the
  nested parts as JSON text), keyed by ``task_id``;
- ``task_rejections``: every synthesis attempt that did not become a task, and why;
- ``partition_runs``: one row per (domain, partition) written: config, code version, counts,
  and a digest of the tasks' content hashes (the partition's data version);
- ``domain_catalogue`` (one row per tool) and ``domain_info`` (one row per domain);
- ``user_scripts``: one row per user behaviour script (``core/script_storage.py``);
- ``trajectories``: one row per simulated conversation (``core/trajectory_storage.py``);
- ``stage_runs``: one row per (stage, domain, partition) of the stages after ``tasks``:
  settings, code version, row count and content digest;
- ``sft_sets`` and ``sft_rows``: each SFT set built, and its rows with their lineage ids
  (``core/sft_storage.py``);
- ``checkpoints``: each complete fine-tuned checkpoint (``core/checkpoint_storage.py``);
- ``evaluations``: each τ²-bench evaluation of a model, one row per (model, domain).

Writing a partition replaces exactly that (domain, partition)'s rows in one transaction, so
re-materializing it yields the same rows (only ``written_at`` differs) and other partitions
are never touched. Trajectories are the exception by design: they are written one small
transaction per finished conversation, so a killed run keeps its finished work. A file
that is not a DuckDB database is refused before anything is opened for writing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl
from pydantic import BaseModel

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
    from writ_dagster.core.catalogue import DomainCatalogue

SCHEMA_VERSION = "3"
# Older versions whose tables are a subset of this one's: opened for writing they are upgraded
# in place (the DDL only adds tables); opened read-only they are read as they are.
UPGRADABLE_VERSIONS = frozenset({"1", "2"})
_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file

_DDL = [
    """CREATE TABLE IF NOT EXISTS writ_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tasks (
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
    )""",
    """CREATE TABLE IF NOT EXISTS task_rejections (
        domain VARCHAR NOT NULL,
        partition VARCHAR NOT NULL,
        attempt INTEGER NOT NULL,
        reason VARCHAR NOT NULL,
        detail VARCHAR NOT NULL,
        PRIMARY KEY (domain, partition, attempt)
    )""",
    """CREATE TABLE IF NOT EXISTS partition_runs (
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
    )""",
    """CREATE TABLE IF NOT EXISTS domain_catalogue (
        domain VARCHAR NOT NULL,
        tool VARCHAR NOT NULL,
        type VARCHAR NOT NULL,
        schema_json VARCHAR NOT NULL,
        PRIMARY KEY (domain, tool)
    )""",
    """CREATE TABLE IF NOT EXISTS domain_info (
        domain VARCHAR PRIMARY KEY,
        policy_chars INTEGER NOT NULL,
        policy_sha256 VARCHAR NOT NULL,
        tables_json VARCHAR NOT NULL,
        base_tasks INTEGER NOT NULL,
        tau2_version VARCHAR NOT NULL,
        catalogue_digest VARCHAR NOT NULL,
        written_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS user_scripts (
        script_id VARCHAR PRIMARY KEY,
        task_id VARCHAR NOT NULL,
        domain VARCHAR NOT NULL,
        partition VARCHAR NOT NULL,
        variant INTEGER NOT NULL,
        seed BIGINT NOT NULL,
        has_user_script BOOLEAN NOT NULL,
        disclosure VARCHAR NOT NULL,
        opening VARCHAR NOT NULL,
        tone VARCHAR NOT NULL,
        verbosity VARCHAR NOT NULL,
        request_order VARCHAR NOT NULL,
        slip VARCHAR NOT NULL,
        dimensions_json VARCHAR NOT NULL,
        telling_order_json VARCHAR NOT NULL,
        slip_json VARCHAR,
        instruction_json VARCHAR NOT NULL,
        lines_json VARCHAR NOT NULL,
        content_hash VARCHAR NOT NULL,
        written_at TIMESTAMP NOT NULL,
        UNIQUE (task_id, variant)
    )""",
    """CREATE TABLE IF NOT EXISTS trajectories (
        trajectory_id VARCHAR PRIMARY KEY,
        task_id VARCHAR NOT NULL,
        script_id VARCHAR NOT NULL,
        domain VARCHAR NOT NULL,
        partition VARCHAR NOT NULL,
        seed BIGINT NOT NULL,
        variant INTEGER NOT NULL,
        has_user_script BOOLEAN NOT NULL,
        trajectory_type VARCHAR NOT NULL,
        reward DOUBLE NOT NULL,
        score_error VARCHAR,
        backend_error VARCHAR,
        termination_reason VARCHAR NOT NULL,
        n_turns INTEGER NOT NULL,
        n_tool_calls INTEGER NOT NULL,
        n_tool_errors INTEGER NOT NULL,
        n_steps INTEGER NOT NULL,
        n_malformed INTEGER NOT NULL,
        malformed_json VARCHAR NOT NULL,
        token_kind VARCHAR NOT NULL,
        agent_prompt_tokens BIGINT NOT NULL,
        agent_completion_tokens BIGINT NOT NULL,
        user_prompt_tokens BIGINT NOT NULL,
        user_completion_tokens BIGINT NOT NULL,
        latency_s DOUBLE NOT NULL,
        agent_name VARCHAR NOT NULL,
        agent_kind VARCHAR NOT NULL,
        agent_sampling_json VARCHAR NOT NULL,
        user_name VARCHAR NOT NULL,
        user_kind VARCHAR NOT NULL,
        user_sampling_json VARCHAR NOT NULL,
        messages_json VARCHAR NOT NULL,
        lineage_json VARCHAR NOT NULL,
        resume_key VARCHAR NOT NULL,
        content_hash VARCHAR NOT NULL,
        written_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS stage_runs (
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
    )""",
    # Schema 3 added this column; a version-2 database gains it in place.
    "ALTER TABLE trajectories ADD COLUMN IF NOT EXISTS backend_error VARCHAR",
    """CREATE TABLE IF NOT EXISTS sft_sets (
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
    )""",
    """CREATE TABLE IF NOT EXISTS sft_rows (
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
    )""",
    """CREATE TABLE IF NOT EXISTS checkpoints (
        checkpoint_id VARCHAR PRIMARY KEY,
        sft_version VARCHAR NOT NULL,
        recipe VARCHAR NOT NULL,
        recipe_json VARCHAR NOT NULL,
        base_model VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        steps INTEGER NOT NULL,
        train_rows INTEGER NOT NULL,
        final_loss DOUBLE,
        loss_curve_json VARCHAR NOT NULL,
        code_version VARCHAR NOT NULL,
        written_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS evaluations (
        evaluation_id VARCHAR NOT NULL,
        domain VARCHAR NOT NULL,
        model_label VARCHAR NOT NULL,
        checkpoint_id VARCHAR,
        model_path VARCHAR NOT NULL,
        user_model VARCHAR NOT NULL,
        task_split VARCHAR NOT NULL,
        num_tasks INTEGER NOT NULL,
        num_trials INTEGER NOT NULL,
        pass_k_json VARCHAR NOT NULL,
        avg_reward DOUBLE NOT NULL,
        avg_agent_tokens DOUBLE NOT NULL,
        avg_agent_prompt_tokens DOUBLE NOT NULL,
        n_simulations INTEGER NOT NULL,
        figures_json VARCHAR NOT NULL,
        results_path VARCHAR NOT NULL,
        config_json VARCHAR NOT NULL,
        code_version VARCHAR NOT NULL,
        written_at TIMESTAMP NOT NULL,
        PRIMARY KEY (evaluation_id, domain, model_label)
    )""",
    # Lineage, queryable in SQL (read by core/lineage.py and `writ trace`): a trajectory joins its
    # user script and task only where the content hashes it was simulated from still match, so a
    # row of these views is a chain that really holds.
    """CREATE OR REPLACE VIEW trajectory_lineage AS
    SELECT
        t.trajectory_id, t.domain, t.partition, t.seed, t.reward, t.termination_reason, t.score_error,
        t.n_turns, t.n_tool_calls, t.agent_name, t.agent_kind, t.agent_sampling_json,
        t.user_name, t.user_kind, t.user_sampling_json, t.content_hash AS trajectory_content_hash,
        json_extract_string(t.lineage_json, '$.code_version') AS trajectory_code_version,
        json_extract_string(t.lineage_json, '$.tau2_version') AS trajectory_tau2_version,
        json_extract_string(t.lineage_json, '$.engine_config_hash') AS engine_config_hash,
        r.config_hash AS simulation_config_hash,
        s.script_id, s.variant, s.has_user_script, s.seed AS script_seed, s.disclosure, s.opening, s.tone,
        s.verbosity, s.request_order, s.slip, s.content_hash AS script_content_hash,
        k.task_id, k.trajectory_type, k.user_id, k.writes, k.reads, k.max_reads_before_write,
        k.content_hash AS task_content_hash,
        json_extract_string(k.sources_json, '$.config_hash') AS task_config_hash,
        json_extract_string(k.sources_json, '$.code_version') AS task_code_version,
        json_extract_string(k.sources_json, '$.tau2_version') AS task_tau2_version,
        CAST(json_extract(k.sources_json, '$.seed') AS BIGINT) AS task_seed,
        CAST(json_extract(k.sources_json, '$.attempt') AS INTEGER) AS task_attempt,
        json_extract_string(k.sources_json, '$.entities[*]') AS task_entities
    FROM trajectories t
    JOIN user_scripts s ON s.script_id = t.script_id AND s.task_id = t.task_id
        AND s.content_hash = json_extract_string(t.lineage_json, '$.script_content_hash')
    JOIN tasks k ON k.task_id = t.task_id
        AND k.content_hash = json_extract_string(t.lineage_json, '$.task_content_hash')
    LEFT JOIN stage_runs r ON r.stage = 'trajectories' AND r.domain = t.domain AND r.partition = t.partition""",
    """CREATE OR REPLACE VIEW sft_lineage AS
    SELECT
        r.row_id, r.sft_version, r.split, st.config_hash AS sft_config_hash, st.code_version AS sft_code_version,
        st.directory AS sft_directory, l.*
    FROM sft_rows r
    JOIN sft_sets st ON st.sft_version = r.sft_version
    JOIN trajectory_lineage l ON l.trajectory_id = r.trajectory_id AND l.task_id = r.task_id
        AND l.script_id = r.script_id""",
]

TASKS_SCHEMA: dict[str, Any] = {
    "task_id": pl.String, "domain": pl.String, "partition": pl.String, "idx": pl.Int32,
    "trajectory_type": pl.String, "user_id": pl.String, "writes": pl.Int32, "reads": pl.Int32,
    "max_reads_before_write": pl.Int32, "reads_per_write": pl.Float64, "task_json": pl.String,
    "gold_actions_json": pl.String, "axes_json": pl.String, "sources_json": pl.String,
    "content_hash": pl.String, "written_at": pl.Datetime("us"),
}
REJECTIONS_SCHEMA: dict[str, Any] = {
    "domain": pl.String, "partition": pl.String, "attempt": pl.Int32, "reason": pl.String, "detail": pl.String,
}


class StorageError(RuntimeError):
    """The WRIT database cannot be opened or used (the message names the file)."""


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


# -- opening -------------------------------------------------------------------------------

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


def open_db(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the WRIT database at ``path``, creating it and its tables unless ``read_only``.

    Raises :class:`StorageError` naming the file if it is missing (read-only), not a DuckDB
    file, locked by another process, or of an unknown schema version.
    """
    path = Path(path)
    check_db_file(path)
    if read_only and not path.exists():
        raise StorageError(f"no WRIT database at {path}; run `writ run` first")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise StorageError(f"cannot open WRIT database {path}: {str(exc).splitlines()[0]}") from None
    try:
        if read_only:
            _check_version(con, path)
        else:
            ensure_schema(con, path)
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def connect(path: str | Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """:func:`open_db` as a context manager that closes the connection (releasing DuckDB's lock)."""
    con = open_db(path, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def ensure_schema(con: duckdb.DuckDBPyConnection, path: str | Path = "database") -> None:
    """Create missing WRIT tables (idempotent, upgrading an older schema) and record the version."""
    existing = _version(con)
    if existing is not None and existing != SCHEMA_VERSION and existing not in UPGRADABLE_VERSIONS:
        raise StorageError(f"WRIT database {path} has schema version {existing}; this code uses {SCHEMA_VERSION}")
    if existing != SCHEMA_VERSION:
        with transaction(con):
            for ddl in _DDL:
                con.execute(ddl)
            con.execute("INSERT OR REPLACE INTO writ_meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])


def _version(con: duckdb.DuckDBPyConnection) -> str | None:
    # fetchall, not fetchone: duckdb 2.x refuses new work while a result is partly fetched.
    has_meta = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'writ_meta'").fetchall()[0][0]
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


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``table`` exists (an older database opened read-only may lack the newer ones)."""
    rows = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchall()
    return bool(rows[0][0])


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


# -- tasks: records <-> frames -------------------------------------------------------------

def json_text(value: Any) -> str:
    """JSON text of ``value`` with sorted keys."""
    # Sorted keys: the same record always gives the same text, so rows compare byte for byte.
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def utc_now() -> datetime:
    """Now, in UTC, without tzinfo (DuckDB TIMESTAMP)."""
    return datetime.now(UTC).replace(tzinfo=None)


def records_frame(records: Sequence[TaskRecord], written_at: datetime | None = None) -> pl.DataFrame:
    """The ``tasks`` rows of ``records`` as a polars frame."""
    at = written_at or utc_now()
    rows = [
        {
            "task_id": r.task_id, "domain": r.domain, "partition": r.partition, "idx": r.index,
            "trajectory_type": r.trajectory_type, "user_id": r.user_id, "writes": r.axes.writes,
            "reads": r.axes.reads, "max_reads_before_write": r.axes.max_reads_before_write,
            "reads_per_write": float(r.axes.reads_per_write), "task_json": json_text(r.task),
            "gold_actions_json": json_text([s.model_dump(mode="json") for s in r.gold_actions]),
            "axes_json": json_text(r.axes.model_dump(mode="json")),
            "sources_json": json_text(r.sources.model_dump(mode="json")),
            "content_hash": r.content_hash, "written_at": at,
        }
        for r in records
    ]
    return pl.DataFrame(rows, schema=TASKS_SCHEMA)


def frame_records(frame: pl.DataFrame) -> list[TaskRecord]:
    """Rebuild :class:`TaskRecord` objects from ``tasks`` rows."""
    return [
        TaskRecord(
            task_id=row["task_id"], domain=row["domain"], partition=row["partition"], index=row["idx"],
            trajectory_type=row["trajectory_type"], user_id=row["user_id"], task=json.loads(row["task_json"]),
            gold_actions=[PlanStep.model_validate(s) for s in json.loads(row["gold_actions_json"])],
            axes=AxisMeasure.model_validate_json(row["axes_json"]),
            sources=TaskSources.model_validate_json(row["sources_json"]),
            content_hash=row["content_hash"],
        )
        for row in frame.iter_rows(named=True)
    ]


def rejections_frame_of(result: BatchResult) -> pl.DataFrame:
    """The ``task_rejections`` rows of a batch result."""
    rows = [
        {"domain": result.domain, "partition": result.partition, "attempt": r.attempt,
         "reason": r.reason, "detail": r.detail}
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
            raise ValueError(f"task {r.task_id} belongs to {r.domain}/{r.partition}, "
                             f"not to the partition being written ({result.domain}/{result.partition})")
    for what, values in (("task_id", [r.task_id for r in result.tasks]), ("index", [r.index for r in result.tasks])):
        if len(set(values)) != len(values):
            raise ValueError(f"duplicate {what} in partition {result.domain}/{result.partition}")


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame,
                 or_ignore: bool = False) -> None:
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


def write_partition(con: duckdb.DuckDBPyConnection, result: BatchResult, config: SynthesisConfig) -> PartitionRun:
    """Replace the stored rows of ``result``'s (domain, partition) with ``result``, atomically.

    Rows of every other partition are left as they are. Returns the partition's run record.
    """
    _check_result(result)
    at = utc_now()
    run = PartitionRun(
        domain=result.domain, partition=result.partition, config_hash=config.content_hash(),
        config_json=config.model_dump_json(), code_version=code_version(), tau2_version=tau2_version(),
        n_tasks=len(result.tasks), n_rejections=len(result.rejections), attempts=result.attempts,
        content_digest=content_digest(result.tasks), written_at=at,
    )
    where = "WHERE domain = ? AND partition = ?"
    key = [result.domain, result.partition]
    with transaction(con):
        for table in ("tasks", "task_rejections", "partition_runs"):
            con.execute(f"DELETE FROM {table} {where}", key)
        insert_frame(con, "tasks", records_frame(result.tasks, at))
        insert_frame(con, "task_rejections", rejections_frame_of(result))
        insert_frame(con, "partition_runs", pl.DataFrame([run.model_dump()]))
    return run


def write_catalogue(con: duckdb.DuckDBPyConnection, catalogue: DomainCatalogue) -> None:
    """Replace one domain's catalogue rows (tools and domain info), atomically."""
    tools = pl.DataFrame(
        [{"domain": catalogue.domain, "tool": t.name, "type": t.type, "schema_json": t.openai_schema}
         for t in catalogue.tools],
        schema={"domain": pl.String, "tool": pl.String, "type": pl.String, "schema_json": pl.String},
    )
    info = pl.DataFrame([{
        "domain": catalogue.domain, "policy_chars": catalogue.policy_chars,
        "policy_sha256": catalogue.policy_sha256, "tables_json": json_text(catalogue.tables),
        "base_tasks": catalogue.base_tasks, "tau2_version": catalogue.tau2_version,
        "catalogue_digest": catalogue.digest(), "written_at": utc_now(),
    }])
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


def rejections_frame(con: duckdb.DuckDBPyConnection, domain: str, partition: str | None = None) -> pl.DataFrame:
    """Stored rejections of a domain (optionally one partition)."""
    where, params = _where(domain, partition)
    return con.sql(f"SELECT * FROM task_rejections {where} ORDER BY partition, attempt", params=params).pl()


def stored_partitions(con: duckdb.DuckDBPyConnection, domain: str) -> list[str]:
    """Partitions of ``domain`` that have been written (even if they hold no task)."""
    rows = con.execute("SELECT partition FROM partition_runs WHERE domain = ? ORDER BY partition", [domain])
    return [r[0] for r in rows.fetchall()]


def read_partition_run(con: duckdb.DuckDBPyConnection, domain: str, partition: str) -> PartitionRun | None:
    """The run record of one stored partition, or None if it was never written."""
    frame = con.sql("SELECT * FROM partition_runs WHERE domain = ? AND partition = ?",
                    params=[domain, partition]).pl()
    return None if frame.is_empty() else PartitionRun.model_validate(frame.row(0, named=True))


def catalogue_frame(con: duckdb.DuckDBPyConnection, domain: str) -> pl.DataFrame:
    """A domain's stored tools (name, type, OpenAI schema JSON)."""
    return con.sql("SELECT * FROM domain_catalogue WHERE domain = ? ORDER BY tool", params=[domain]).pl()


# -- stage runs ------------------------------------------------------------------------------

def digest_of(pairs: Sequence[tuple[str, str]]) -> str:
    """A 16-hex digest of (id, content hash) pairs, order-independent: a partition's data version."""
    digest = hashlib.sha256()
    for key, content in sorted(pairs):
        digest.update(f"{key}\t{content}\n".encode())
    return digest.hexdigest()[:16]


def write_stage_run(con: duckdb.DuckDBPyConnection, run: StageRun) -> None:
    """Replace the stage-run row of ``run``'s (stage, domain, partition); call inside a transaction
    together with the rows it describes."""
    con.execute("DELETE FROM stage_runs WHERE stage = ? AND domain = ? AND partition = ?",
                [run.stage, run.domain, run.partition])
    row = run.model_dump()
    row["written_at"] = row["written_at"] or utc_now()
    insert_frame(con, "stage_runs", pl.DataFrame([row]))


def read_stage_run(con: duckdb.DuckDBPyConnection, stage: str, domain: str, partition: str) -> StageRun | None:
    """The stage-run row of one (stage, domain, partition), or None if that stage never finished there."""
    if not has_table(con, "stage_runs"):
        return None
    frame = con.sql("SELECT * FROM stage_runs WHERE stage = ? AND domain = ? AND partition = ?",
                    params=[stage, domain, partition]).pl()
    return None if frame.is_empty() else StageRun.model_validate(frame.row(0, named=True))
