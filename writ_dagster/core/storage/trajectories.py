"""The ``trajectories`` table: one row per simulated conversation (pure: no Dagster here).

Rows are written one small transaction per finished conversation with insert-or-ignore on
``trajectory_id``, so a run killed at any moment keeps every conversation it finished and
a rerun that skips stored ids can add neither a duplicate nor a gap. Each row carries a
``resume_key`` (task and script content, seed, backends, engine limits): on resume only
rows whose key matches the planned job count as done; the others are pruned first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from writ_dagster.core.storage.base import digest_of, has_table, json_text, transaction, utc_now
from writ_dagster.core.storage.runs import StageRun, delete_stage_run, write_stage_run

if TYPE_CHECKING:  # the simulation package loads tau2; opening the database must not
    from writ_dagster.core.simulation.records import TrajectoryRecord

STAGE = "trajectories"
TRAJECTORIES_DDL = """CREATE TABLE IF NOT EXISTS trajectories (
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
    )"""
# Schema 3 added this column; a version-2 database gains it in place.
UPGRADE_DDL = "ALTER TABLE trajectories ADD COLUMN IF NOT EXISTS backend_error VARCHAR"
# Schema 4 added the attempt index; older rows were all first attempts.
ATTEMPT_DDL = "ALTER TABLE trajectories ADD COLUMN IF NOT EXISTS attempt INTEGER DEFAULT 0"
TRAJECTORY_COLUMNS: tuple[str, ...] = (
    "trajectory_id",
    "task_id",
    "script_id",
    "domain",
    "partition",
    "seed",
    "variant",
    "has_user_script",
    "trajectory_type",
    "reward",
    "score_error",
    "backend_error",
    "termination_reason",
    "n_turns",
    "n_tool_calls",
    "n_tool_errors",
    "n_steps",
    "n_malformed",
    "malformed_json",
    "token_kind",
    "agent_prompt_tokens",
    "agent_completion_tokens",
    "user_prompt_tokens",
    "user_completion_tokens",
    "latency_s",
    "agent_name",
    "agent_kind",
    "agent_sampling_json",
    "user_name",
    "user_kind",
    "user_sampling_json",
    "messages_json",
    "lineage_json",
    "resume_key",
    "content_hash",
    "written_at",
    "attempt",
)
_INSERT = (
    f"INSERT OR IGNORE INTO trajectories ({', '.join(TRAJECTORY_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in TRAJECTORY_COLUMNS)})"
)


def trajectory_row(record: TrajectoryRecord, written_at: datetime | None = None) -> dict[str, Any]:
    """The ``trajectories`` row of one record."""
    u = record.usage
    return {
        "trajectory_id": record.trajectory_id,
        "task_id": record.task_id,
        "script_id": record.script_id,
        "domain": record.domain,
        "partition": record.partition,
        "seed": record.seed,
        "variant": record.variant,
        "has_user_script": record.has_user_script,
        "trajectory_type": record.trajectory_type,
        "reward": float(record.reward),
        "score_error": record.score_error,
        "backend_error": record.backend_error,
        "termination_reason": record.termination_reason,
        "n_turns": record.n_turns,
        "n_tool_calls": record.n_tool_calls,
        "n_tool_errors": record.n_tool_errors,
        "n_steps": record.n_steps,
        "n_malformed": sum(record.malformed.values()),
        "malformed_json": json_text(record.malformed),
        "token_kind": u.kind,
        "agent_prompt_tokens": u.agent_prompt_tokens,
        "agent_completion_tokens": u.agent_completion_tokens,
        "user_prompt_tokens": u.user_prompt_tokens,
        "user_completion_tokens": u.user_completion_tokens,
        "latency_s": float(record.latency_s),
        "agent_name": record.agent.name,
        "agent_kind": record.agent.kind,
        "agent_sampling_json": json_text(record.agent.sampling),
        "user_name": record.user.name,
        "user_kind": record.user.kind,
        "user_sampling_json": json_text(record.user.sampling),
        "messages_json": json_text(record.messages),
        "lineage_json": json_text(record.lineage),
        "resume_key": record.resume_key(),
        "content_hash": record.content_hash(),
        "written_at": written_at or utc_now(),
        "attempt": record.attempt,
    }


def frame_trajectories(frame: pl.DataFrame) -> list[TrajectoryRecord]:
    """Rebuild :class:`TrajectoryRecord` objects from ``trajectories`` rows."""
    # The simulation package loads tau2: imported only when rows are rebuilt, not to open the database.
    from writ_dagster.core.simulation.records import ModelInfo, TokenUsage, TrajectoryRecord

    out = []
    for row in frame.iter_rows(named=True):
        out.append(
            TrajectoryRecord(
                trajectory_id=row["trajectory_id"],
                task_id=row["task_id"],
                script_id=row["script_id"],
                domain=row["domain"],
                partition=row["partition"],
                seed=row["seed"],
                variant=row["variant"],
                attempt=row.get("attempt") or 0,
                has_user_script=row["has_user_script"],
                trajectory_type=row["trajectory_type"],
                messages=json.loads(row["messages_json"]),
                reward=row["reward"],
                score_error=row["score_error"],
                backend_error=row.get("backend_error"),
                termination_reason=row["termination_reason"],
                n_turns=row["n_turns"],
                n_tool_calls=row["n_tool_calls"],
                n_tool_errors=row["n_tool_errors"],
                n_steps=row["n_steps"],
                malformed=json.loads(row["malformed_json"]),
                usage=TokenUsage(
                    kind=row["token_kind"],
                    agent_prompt_tokens=row["agent_prompt_tokens"],
                    agent_completion_tokens=row["agent_completion_tokens"],
                    user_prompt_tokens=row["user_prompt_tokens"],
                    user_completion_tokens=row["user_completion_tokens"],
                ),
                latency_s=row["latency_s"],
                agent=ModelInfo(
                    name=row["agent_name"], kind=row["agent_kind"], sampling=json.loads(row["agent_sampling_json"])
                ),
                user=ModelInfo(
                    name=row["user_name"], kind=row["user_kind"], sampling=json.loads(row["user_sampling_json"])
                ),
                lineage=json.loads(row["lineage_json"]),
            )
        )
    return out


# -- writing -------------------------------------------------------------------------------


def insert_trajectory(con: duckdb.DuckDBPyConnection, record: TrajectoryRecord) -> bool:
    """Store one finished conversation in its own transaction; False if its id was already stored."""
    row = trajectory_row(record)
    with transaction(con):
        before = con.execute(
            "SELECT count(*) FROM trajectories WHERE trajectory_id = ?", [record.trajectory_id]
        ).fetchall()[0][0]
        con.execute(_INSERT, [row[c] for c in TRAJECTORY_COLUMNS])
    return before == 0


def stored_resume_keys(con: duckdb.DuckDBPyConnection, domain: str, partition: str) -> dict[str, str]:
    """trajectory_id -> resume_key of the partition's stored rows."""
    rows = con.execute(
        "SELECT trajectory_id, resume_key FROM trajectories WHERE domain = ? AND partition = ?", [domain, partition]
    ).fetchall()
    return dict(rows)


def stored_outcomes(
    con: duckdb.DuckDBPyConnection, domain: str, partition: str
) -> dict[str, tuple[str, float, str | None]]:
    """trajectory_id -> (resume_key, reward, backend_error) of the partition's stored rows."""
    rows = con.execute(
        "SELECT trajectory_id, resume_key, reward, backend_error FROM trajectories WHERE domain = ? AND partition = ?",
        [domain, partition],
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def stored_messages(
    con: duckdb.DuckDBPyConnection, domain: str, partition: str, ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """trajectory_id -> stored tau2 message dicts, for the partition's rows among ``ids``."""
    if not ids:
        return {}
    rows = con.execute(
        "SELECT trajectory_id, messages_json FROM trajectories WHERE domain = ? AND partition = ? "
        "AND list_contains(?, trajectory_id)",
        [domain, partition, ids],
    ).fetchall()
    return {r[0]: json.loads(r[1]) for r in rows}


def prune_trajectories(
    con: duckdb.DuckDBPyConnection, domain: str, partition: str, planned: Mapping[str, str]
) -> tuple[set[str], int]:
    """Keep only stored rows that ``planned`` (id -> resume key) still wants, unchanged.

    In one transaction: delete the partition's rows whose id is not planned or whose resume
    key differs, and its ``trajectories`` stage-run row (the partition is now incomplete).
    Returns (ids kept, i.e. done; number of rows deleted).
    """
    with transaction(con):
        stored = stored_resume_keys(con, domain, partition)
        stale = [tid for tid, key in stored.items() if planned.get(tid) != key]
        if stale:
            con.execute(
                "DELETE FROM trajectories WHERE domain = ? AND partition = ? AND list_contains(?, trajectory_id)",
                [domain, partition, stale],
            )
        delete_stage_run(con, STAGE, domain, partition)
    return set(stored) - set(stale), len(stale)


def trajectories_digest(pairs: Sequence[tuple[str, str]]) -> str:
    """The partition's data version: a digest of (trajectory_id, content_hash) pairs."""
    return digest_of(pairs)


def finish_trajectories(
    con: duckdb.DuckDBPyConnection,
    domain: str,
    partition: str,
    config_json: str,
    config_hash: str,
    code_version: str,
    tau2_version: str,
    figures: dict[str, Any] | None = None,
) -> StageRun:
    """Record that the partition's trajectories are complete: its stage-run row with the digest."""
    pairs = con.execute(
        "SELECT trajectory_id, content_hash FROM trajectories WHERE domain = ? AND partition = ?", [domain, partition]
    ).fetchall()
    run = StageRun(
        stage=STAGE,
        domain=domain,
        partition=partition,
        config_hash=config_hash,
        config_json=config_json,
        code_version=code_version,
        tau2_version=tau2_version,
        n_rows=len(pairs),
        content_digest=trajectories_digest(pairs),
        figures_json=json_text(figures or {}),
        written_at=utc_now(),
    )
    with transaction(con):
        write_stage_run(con, run)
    return run


# -- reading -------------------------------------------------------------------------------


def trajectories_frame(
    con: duckdb.DuckDBPyConnection, domain: str, partition: str | None = None, columns: Sequence[str] | None = None
) -> pl.DataFrame:
    """Stored ``trajectories`` rows of a domain (optionally one partition), ordered by
    partition, task and variant; ``columns`` picks a subset (the messages are large)."""
    cols = ", ".join(columns) if columns else "*"
    if not has_table(con, "trajectories"):
        return pl.DataFrame()
    where, params = (
        ("WHERE domain = ?", [domain])
        if partition is None
        else ("WHERE domain = ? AND partition = ?", [domain, partition])
    )
    return con.sql(
        f"SELECT {cols} FROM trajectories {where} ORDER BY partition, task_id, variant, trajectory_id", params=params
    ).pl()


def read_trajectories(
    con: duckdb.DuckDBPyConnection, domain: str, partition: str | None = None
) -> list[TrajectoryRecord]:
    """Stored trajectories of a domain (optionally one partition) as :class:`TrajectoryRecord` objects."""
    return frame_trajectories(trajectories_frame(con, domain, partition))


def read_trajectory(con: duckdb.DuckDBPyConnection, trajectory_id: str) -> TrajectoryRecord | None:
    """The stored trajectory ``trajectory_id``, or None."""
    if not has_table(con, "trajectories"):
        return None
    found = frame_trajectories(
        con.sql("SELECT * FROM trajectories WHERE trajectory_id = ?", params=[trajectory_id]).pl()
    )
    return found[0] if found else None


def pass_rate_by_axes(con: duckdb.DuckDBPyConnection, domain: str, partition: str) -> dict[tuple[int, int], float]:
    """Share of a partition's trajectories scoring 1.0 per (writes, most reads before a write) of their task."""
    if not has_table(con, "trajectories") or not has_table(con, "tasks"):
        return {}
    rows = con.execute(
        "SELECT k.writes, k.max_reads_before_write, avg(CASE WHEN t.reward >= 1.0 THEN 1.0 ELSE 0.0 END) "
        "FROM trajectories t JOIN tasks k ON k.task_id = t.task_id WHERE t.domain = ? AND t.partition = ? "
        "GROUP BY ALL",
        [domain, partition],
    ).fetchall()
    return {(w, r): rate for w, r, rate in rows}


def sample_trajectories(
    con: duckdb.DuckDBPyConnection,
    domain: str | None = None,
    partition: str | None = None,
    sft_version: str | None = None,
) -> list[TrajectoryRecord]:
    """One stored trajectory per trajectory type, the best scored (then the first by id): of a domain or
    partition, or of the rows of SFT set ``sft_version``; ordered by type."""
    if not has_table(con, "trajectories"):
        return []
    where, params = ["TRUE"], []
    for column, value in (("t.domain", domain), ("t.partition", partition)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if sft_version is not None:
        where.append("t.trajectory_id IN (SELECT trajectory_id FROM sft_rows WHERE sft_version = ?)")
        params.append(sft_version)
    sql = (
        f"SELECT * FROM trajectories t WHERE {' AND '.join(where)} QUALIFY row_number() OVER "
        "(PARTITION BY t.trajectory_type ORDER BY t.reward DESC, t.trajectory_id) = 1 ORDER BY t.trajectory_type"
    )
    return frame_trajectories(con.sql(sql, params=params).pl())


def trajectory_partitions(con: duckdb.DuckDBPyConnection, domain: str) -> list[str]:
    """Partitions of ``domain`` that hold at least one stored trajectory."""
    if not has_table(con, "trajectories"):
        return []
    rows = con.execute("SELECT DISTINCT partition FROM trajectories WHERE domain = ? ORDER BY partition", [domain])
    return [r[0] for r in rows.fetchall()]


# -- complete partitions (what an SFT set is built from) --------------------------------------

# Trajectories of partitions whose `trajectories` run finished (an interrupted one is left out,
# so a set never depends on how far a killed run got).
_COMPLETE = """
    SELECT t.* FROM trajectories t
    JOIN stage_runs r ON r.stage = 'trajectories' AND r.domain = t.domain AND r.partition = t.partition
    ORDER BY t.trajectory_id"""
_INCOMPLETE = """
    SELECT DISTINCT t.domain || '/' || t.partition FROM trajectories t
    LEFT JOIN stage_runs r ON r.stage = 'trajectories' AND r.domain = t.domain AND r.partition = t.partition
    WHERE r.partition IS NULL ORDER BY 1"""


def complete_trajectories(con: duckdb.DuckDBPyConnection) -> list[TrajectoryRecord]:
    """Stored trajectories of every partition whose ``trajectories`` run finished, by trajectory id."""
    return frame_trajectories(con.sql(_COMPLETE).pl())


def complete_trajectories_digest(con: duckdb.DuckDBPyConnection) -> str:
    """The digest of (trajectory_id, content_hash) of :func:`complete_trajectories`."""
    return digest_of(con.execute(_COMPLETE.replace("t.*", "t.trajectory_id, t.content_hash")).fetchall())


def incomplete_partitions(con: duckdb.DuckDBPyConnection) -> list[str]:
    """``domain/partition`` of stored trajectories whose ``trajectories`` run did not finish."""
    return [r[0] for r in con.execute(_INCOMPLETE).fetchall()]
