"""The ``user_scripts`` table: user behaviour scripts per domain × batch (pure: no Dagster here).

One row per :class:`UserScript`: flat columns for the behaviour dimensions (to query and
count), the rest as JSON text from which the script is rebuilt exactly. A partition is
written by replacement in one transaction, together with its ``stage_runs`` row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from writ_dagster.core.storage.base import digest_of, has_table, insert_frame, json_text, transaction, utc_now
from writ_dagster.core.storage.runs import StageRun, write_stage_run
from writ_dagster.core.versioning import code_version, tau2_version

if TYPE_CHECKING:  # the users package loads tau2; opening the database must not
    from writ_dagster.core.users.models import UserScript

STAGE = "user_scripts"
SCRIPTS_DDL = """CREATE TABLE IF NOT EXISTS user_scripts (
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
    )"""
SCRIPTS_SCHEMA: dict[str, Any] = {
    "script_id": pl.String,
    "task_id": pl.String,
    "domain": pl.String,
    "partition": pl.String,
    "variant": pl.Int32,
    "seed": pl.Int64,
    "has_user_script": pl.Boolean,
    "disclosure": pl.String,
    "opening": pl.String,
    "tone": pl.String,
    "verbosity": pl.String,
    "request_order": pl.String,
    "slip": pl.String,
    "dimensions_json": pl.String,
    "telling_order_json": pl.String,
    "slip_json": pl.String,
    "instruction_json": pl.String,
    "lines_json": pl.String,
    "content_hash": pl.String,
    "written_at": pl.Datetime("us"),
}


def scripts_frame_of(
    scripts: Sequence[UserScript],
    partition: str,
    written_at: datetime | None = None,
) -> pl.DataFrame:
    """The ``user_scripts`` rows of ``scripts`` (all of one partition) as a polars frame."""
    at = written_at or utc_now()
    rows = []
    for s in scripts:
        d = s.dimensions
        rows.append(
            {
                "script_id": s.script_id,
                "task_id": s.task_id,
                "domain": s.domain,
                "partition": partition,
                "variant": s.variant,
                "seed": s.seed,
                "has_user_script": s.has_user_script,
                "disclosure": d.disclosure,
                "opening": d.opening,
                "tone": d.tone,
                "verbosity": d.verbosity,
                "request_order": d.order,
                "slip": d.slip,
                "dimensions_json": json_text(d.model_dump(mode="json")),
                "telling_order_json": json_text(s.telling_order),
                "slip_json": json_text(s.slip.model_dump(mode="json")) if s.slip else None,
                "instruction_json": json_text(s.user_scenario),
                "lines_json": json_text(s.lines.model_dump(mode="json")),
                "content_hash": s.content_hash,
                "written_at": at,
            }
        )
    return pl.DataFrame(rows, schema=SCRIPTS_SCHEMA)


def frame_scripts(frame: pl.DataFrame) -> list[UserScript]:
    """Rebuild :class:`UserScript` objects from ``user_scripts`` rows."""
    # The users package loads tau2: imported only when rows are rebuilt, not to open the database.
    from writ_dagster.core.users.models import ScriptDimensions, ScriptLines, Slip, UserScript

    return [
        UserScript(
            script_id=row["script_id"],
            task_id=row["task_id"],
            domain=row["domain"],
            variant=row["variant"],
            seed=row["seed"],
            has_user_script=row["has_user_script"],
            dimensions=ScriptDimensions.model_validate_json(row["dimensions_json"]),
            telling_order=json.loads(row["telling_order_json"]),
            slip=Slip.model_validate_json(row["slip_json"]) if row["slip_json"] else None,
            user_scenario=json.loads(row["instruction_json"]),
            lines=ScriptLines.model_validate_json(row["lines_json"]),
            content_hash=row["content_hash"],
        )
        for row in frame.iter_rows(named=True)
    ]


def scripts_digest(scripts: Sequence[UserScript]) -> str:
    """The partition's data version: a digest of script ids and content hashes."""
    return digest_of([(s.script_id, s.content_hash) for s in scripts])


def write_user_scripts(
    con: duckdb.DuckDBPyConnection,
    domain: str,
    partition: str,
    scripts: Sequence[UserScript],
    config_json: str,
    config_hash: str,
    figures: dict[str, Any] | None = None,
) -> StageRun:
    """Replace the partition's stored scripts (and its stage-run row) with ``scripts``, atomically."""
    ids = [s.script_id for s in scripts]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate script_id in partition {domain}/{partition}")
    wrong = [s.script_id for s in scripts if s.domain != domain]
    if wrong:
        raise ValueError(f"scripts {wrong[:3]} are not of domain {domain}")
    at = utc_now()
    run = StageRun(
        stage=STAGE,
        domain=domain,
        partition=partition,
        config_hash=config_hash,
        config_json=config_json,
        code_version=code_version(),
        tau2_version=tau2_version(),
        n_rows=len(scripts),
        content_digest=scripts_digest(scripts),
        figures_json=json_text(figures or {}),
        written_at=at,
    )
    with transaction(con):
        con.execute("DELETE FROM user_scripts WHERE domain = ? AND partition = ?", [domain, partition])
        insert_frame(con, "user_scripts", scripts_frame_of(scripts, partition, at))
        write_stage_run(con, run)
    return run


def user_scripts_frame(con: duckdb.DuckDBPyConnection, domain: str, partition: str | None = None) -> pl.DataFrame:
    """Stored ``user_scripts`` rows of a domain (optionally one partition), by partition, task and variant."""
    if not has_table(con, "user_scripts"):
        return pl.DataFrame(schema=SCRIPTS_SCHEMA)
    where, params = (
        ("WHERE domain = ?", [domain])
        if partition is None
        else ("WHERE domain = ? AND partition = ?", [domain, partition])
    )
    return con.sql(f"SELECT * FROM user_scripts {where} ORDER BY partition, task_id, variant", params=params).pl()


def read_user_scripts(con: duckdb.DuckDBPyConnection, domain: str, partition: str | None = None) -> list[UserScript]:
    """Stored scripts of a domain (optionally one partition) as :class:`UserScript` objects."""
    return frame_scripts(user_scripts_frame(con, domain, partition))


def read_script_hashes(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """script_id -> content hash of every stored user script."""
    return dict(con.execute("SELECT script_id, content_hash FROM user_scripts").fetchall())
