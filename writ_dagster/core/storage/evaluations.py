"""τ²-bench evaluations in the WRIT database (``evaluations``): one row per (evaluation, domain, model).

A row carries the benchmark's figures (pass^k as JSON keyed by k, mean reward, the agent's
completion and prompt tokens per task), the tau2 results file they were computed from, and
the settings and code version that produced them. An evaluation's rows are written in one
transaction, so it is stored whole or not at all.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb
import polars as pl
from pydantic import BaseModel

from writ_dagster.core.evaluation.models import ModelScore, ScoreFigures
from writ_dagster.core.storage.base import StorageError, has_table, insert_frame, json_text, transaction, utc_now
from writ_dagster.core.versioning import code_version

TABLE = "evaluations"
EVALUATIONS_DDL = """CREATE TABLE IF NOT EXISTS evaluations (
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
    )"""
_SCHEMA: dict[str, Any] = {
    "evaluation_id": pl.String,
    "domain": pl.String,
    "model_label": pl.String,
    "checkpoint_id": pl.String,
    "model_path": pl.String,
    "user_model": pl.String,
    "task_split": pl.String,
    "num_tasks": pl.Int32,
    "num_trials": pl.Int32,
    "pass_k_json": pl.String,
    "avg_reward": pl.Float64,
    "avg_agent_tokens": pl.Float64,
    "avg_agent_prompt_tokens": pl.Float64,
    "n_simulations": pl.Int32,
    "figures_json": pl.String,
    "results_path": pl.String,
    "config_json": pl.String,
    "code_version": pl.String,
    "written_at": pl.Datetime("us"),
}


class StoredScore(BaseModel):
    """A stored ``evaluations`` row, read back."""

    score: ModelScore
    code_version: str
    written_at: datetime | None = None


def scores_frame(scores: list[ModelScore], written_at: datetime | None = None) -> pl.DataFrame:
    """The ``evaluations`` rows of ``scores``."""
    at = written_at or utc_now()
    rows = []
    for s in scores:
        f = s.figures
        rows.append(
            {
                "evaluation_id": s.evaluation_id,
                "domain": s.domain,
                "model_label": s.model_label,
                "checkpoint_id": s.checkpoint_id,
                "model_path": s.model_path,
                "user_model": s.user_model,
                "task_split": s.task_split,
                "num_tasks": s.num_tasks,
                "num_trials": s.num_trials,
                "pass_k_json": json_text({str(k): v for k, v in f.pass_k.items()}),
                "avg_reward": f.avg_reward,
                "avg_agent_tokens": f.avg_agent_completion_tokens,
                "avg_agent_prompt_tokens": f.avg_agent_prompt_tokens,
                "n_simulations": f.n_simulations,
                "figures_json": json_text(
                    {**f.model_dump(mode="json"), "timings": s.timings, "tau2_version": s.tau2_version}
                ),
                "results_path": s.results_path,
                "config_json": s.config_json,
                "code_version": code_version(),
                "written_at": at,
            }
        )
    return pl.DataFrame(rows, schema=_SCHEMA)


def _check_columns(con: duckdb.DuckDBPyConnection) -> None:
    have = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [TABLE]
        ).fetchall()
    }
    missing = sorted(set(_SCHEMA) - have)
    if missing:
        raise StorageError(
            f"the {TABLE} table of this WRIT database lacks column(s) {missing} (made by an older "
            "development build); move the database away or point WRIT_HOME elsewhere"
        )


def write_scores(con: duckdb.DuckDBPyConnection, scores: list[ModelScore]) -> None:
    """Store one evaluation's rows atomically (rows of the same evaluation id are replaced)."""
    if not scores:
        raise ValueError("no evaluation rows to store")
    ids = {s.evaluation_id for s in scores}
    if len(ids) != 1:
        raise ValueError(f"rows of several evaluations given at once: {sorted(ids)}")
    keys = [(s.domain, s.model_label) for s in scores]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate (domain, model_label) rows in evaluation {ids.pop()}")
    _check_columns(con)
    with transaction(con):
        con.execute(f"DELETE FROM {TABLE} WHERE evaluation_id = ?", [scores[0].evaluation_id])
        insert_frame(con, TABLE, scores_frame(scores))


def evaluations_frame(con: duckdb.DuckDBPyConnection, evaluation_id: str | None = None) -> pl.DataFrame:
    """Stored ``evaluations`` rows (of one evaluation if given), newest first."""
    if not has_table(con, TABLE):
        return pl.DataFrame(schema=_SCHEMA)
    sql, params = f"SELECT * FROM {TABLE}", []
    if evaluation_id is not None:
        sql, params = sql + " WHERE evaluation_id = ?", [evaluation_id]
    return con.sql(sql + " ORDER BY written_at DESC, evaluation_id, domain, model_label", params=params).pl()


def read_scores(con: duckdb.DuckDBPyConnection, evaluation_id: str) -> list[StoredScore]:
    """The rows of one evaluation as records."""
    out = []
    for row in evaluations_frame(con, evaluation_id).iter_rows(named=True):
        extra = json.loads(row["figures_json"])
        timings = extra.pop("timings", {})
        tau2 = extra.pop("tau2_version", "unknown (not recorded)")
        figures = ScoreFigures.model_validate(extra)
        score = ModelScore(
            evaluation_id=row["evaluation_id"],
            domain=row["domain"],
            model_label=row["model_label"],
            checkpoint_id=row["checkpoint_id"],
            model_path=row["model_path"],
            user_model=row["user_model"],
            task_split=row["task_split"],
            num_tasks=row["num_tasks"],
            num_trials=row["num_trials"],
            figures=figures,
            results_path=row["results_path"],
            config_json=row["config_json"],
            timings=timings,
            tau2_version=tau2,
        )
        out.append(StoredScore(score=score, code_version=row["code_version"], written_at=row["written_at"]))
    return out


def evaluation_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every stored evaluation's id."""
    if not has_table(con, TABLE):
        return []
    return [r[0] for r in con.execute(f"SELECT DISTINCT evaluation_id FROM {TABLE} ORDER BY 1").fetchall()]


def latest_evaluation_id(con: duckdb.DuckDBPyConnection) -> str | None:
    """The id of the most recently stored evaluation, or None."""
    if not has_table(con, TABLE):
        return None
    rows = con.execute(
        f"SELECT evaluation_id FROM {TABLE} ORDER BY written_at DESC, evaluation_id DESC LIMIT 1"
    ).fetchall()
    return rows[0][0] if rows else None
