"""Row-level lineage: an SFT row or a trajectory, back to its user script, task and DB entities.

The chain lives in the data (Dagster shows asset lineage, not row lineage): the views
``trajectory_lineage`` and ``sft_lineage`` (defined here) join a trajectory to the
user script and task it was simulated from, only where their content hashes still match,
and an SFT row to its set and trajectory. :func:`trace` reads one chain from them;
:func:`unresolved_rows` lists the rows of a set for which no chain holds. The DB entities
a task was built from (``TaskSources.entities``, ``'table:key'``) are looked up in the
installed τ²-bench domain DB (``core.domains.entities.locate_entity``). Pure: no Dagster here.
The chain's text form is the CLI's (``writ_dagster.cli.trace``).
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import polars as pl
from pydantic import BaseModel, Field

from writ_dagster.core.storage.base import has_table

LINEAGE_VIEWS = ("trajectory_lineage", "sft_lineage")
# Lineage, queryable in SQL (read here and by `writ trace`): a trajectory joins its user script
# and task only where the content hashes it was simulated from still match, so a row of these
# views is a chain that really holds.
_TRAJECTORY_LINEAGE = """SELECT
        t.trajectory_id, t.domain, t.partition, t.seed, t.reward, t.termination_reason, t.score_error,
        t.n_turns, t.n_tool_calls, t.agent_name, t.agent_kind, t.agent_sampling_json,
        t.user_name, t.user_kind, t.user_sampling_json, t.content_hash AS trajectory_content_hash,
        json_extract_string(t.lineage_json, '$.code_version') AS trajectory_code_version,
        json_extract_string(t.lineage_json, '$.tau2_version') AS trajectory_tau2_version,
        json_extract_string(t.lineage_json, '$.engine_config_hash') AS engine_config_hash,
        r.config_hash AS simulation_config_hash,
        s.script_id, s.variant, s.has_user_script, s.seed AS script_seed, s.disclosure, s.opening, s.tone,
        s.verbosity, s.request_order, s.slip, s.content_hash AS script_content_hash,
        k.task_id, k.trajectory_type, k.family, k.user_id, k.writes, k.reads, k.max_reads_before_write,
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
    LEFT JOIN stage_runs r ON r.stage = 'trajectories' AND r.domain = t.domain AND r.partition = t.partition"""
_SFT_LINEAGE = """SELECT
        r.row_id, r.sft_version, r.split, st.config_hash AS sft_config_hash, st.code_version AS sft_code_version,
        st.directory AS sft_directory, l.*
    FROM sft_rows r
    JOIN sft_sets st ON st.sft_version = r.sft_version
    JOIN trajectory_lineage l ON l.trajectory_id = r.trajectory_id AND l.task_id = r.task_id
        AND l.script_id = r.script_id"""
VIEW_BODIES: dict[str, str] = {"trajectory_lineage": _TRAJECTORY_LINEAGE, "sft_lineage": _SFT_LINEAGE}
# As the schema creates them (the text DuckDB keeps for each view).
VIEWS_DDL: tuple[str, ...] = tuple(f"CREATE OR REPLACE VIEW {v} AS\n    {VIEW_BODIES[v]}" for v in LINEAGE_VIEWS)


class LineageError(LookupError):
    """A lineage lookup failed (the message says which id and why)."""


class UnknownIdError(LineageError):
    """No stored SFT row or trajectory has this id."""


class BrokenChainError(LineageError):
    """The id is stored but its chain does not resolve (its task or script was re-made since)."""


class ModelLink(BaseModel):
    """Who played a role in the conversation, with its sampling parameters."""

    name: str
    kind: str
    sampling: dict[str, Any]


class SFTLink(BaseModel):
    """The SFT set a row belongs to."""

    row_id: str
    sft_version: str
    split: str
    config_hash: str
    code_version: str
    directory: str


class TrajectoryLink(BaseModel):
    """The simulated conversation."""

    trajectory_id: str
    domain: str
    partition: str
    seed: int
    reward: float
    termination_reason: str
    n_turns: int
    n_tool_calls: int
    agent: ModelLink
    user: ModelLink
    code_version: str | None
    tau2_version: str | None
    engine_config_hash: str | None
    simulation_config_hash: str | None = Field(description="config hash of the partition's trajectories run")
    content_hash: str


class ScriptLink(BaseModel):
    """The user behaviour script the simulated user followed."""

    script_id: str
    variant: int
    has_user_script: bool = Field(description="False: the canonical (plain) instruction; True: a scripted variant")
    seed: int
    dimensions: dict[str, str]
    content_hash: str


class TaskLink(BaseModel):
    """The synthesized task, with what it was made from."""

    task_id: str
    trajectory_type: str
    user_id: str
    family: str = "writes"
    writes: int
    reads: int
    max_reads_before_write: int
    seed: int
    attempt: int
    config_hash: str
    code_version: str
    tau2_version: str
    gold_writes: list[str] = Field(default_factory=list, description="the writes of the gold plan, as calls")
    content_hash: str


class EntityLink(BaseModel):
    """One DB entity the task was built from, and where it is in the domain's τ²-bench DB."""

    entity: str = Field(description="'table:key' as in TaskSources.entities")
    location: str | None = Field(
        None, description="where it was found in the domain DB (None: not looked up or not found)"
    )
    found: bool | None = Field(None, description="None when the DB was not consulted")
    role: str | None = Field(
        None,
        description="what the gold plan does with it: 'written' (an argument of a "
        "write), 'set aside' (not written, where another record of its "
        "table is: a candidate not chosen), 'evidence' (read only) or "
        "'context' (neither)",
    )


class Chain(BaseModel):
    """One lineage chain: SFT row (if traced from one) -> trajectory -> user script -> task -> entities."""

    sft: SFTLink | None
    trajectory: TrajectoryLink
    script: ScriptLink
    task: TaskLink
    entities: list[EntityLink]
    sft_rows: list[str] = Field(default_factory=list, description="SFT rows made from this trajectory")
    checkpoints: list[str] = Field(default_factory=list, description="checkpoints trained on a set holding it")
    evaluations: list[str] = Field(default_factory=list, description="evaluations of those checkpoints")
    configs: dict[str, Any] = Field(
        default_factory=dict, description="the settings each stage used (synthesis, simulation, sft), when asked for"
    )


# -- SQL -----------------------------------------------------------------------------------


def lineage_sql(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """``query`` over the lineage views, prefixed with their definitions as CTEs where the database
    lacks them (an older database opened read-only)."""
    missing = [v for v in LINEAGE_VIEWS if not has_table(con, v)]
    if not missing:
        return query
    return "WITH " + ", ".join(f"{v} AS ({VIEW_BODIES[v]})" for v in missing) + " " + query


def ensure_lineage_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the lineage views on a writable connection (a database made before they existed)."""
    for view in LINEAGE_VIEWS:
        con.execute(f"CREATE OR REPLACE VIEW {view} AS {VIEW_BODIES[view]}")


def _tables_ready(con: duckdb.DuckDBPyConnection) -> bool:
    return all(has_table(con, t) for t in ("trajectories", "user_scripts", "tasks", "sft_rows", "sft_sets"))


def lineage_frame(con: duckdb.DuckDBPyConnection, sft_version: str | None = None) -> pl.DataFrame:
    """The ``sft_lineage`` rows (of one set, if given) as a polars frame, in row-id order."""
    where, params = ("WHERE sft_version = ?", [sft_version]) if sft_version else ("", [])
    return con.sql(lineage_sql(con, f"SELECT * FROM sft_lineage {where} ORDER BY row_id"), params=params).pl()


def unresolved_rows(con: duckdb.DuckDBPyConnection, sft_version: str) -> list[str]:
    """Row ids of set ``sft_version`` whose chain to trajectory, script and task does not hold in SQL."""
    sql = lineage_sql(
        con,
        "SELECT row_id FROM sft_rows WHERE sft_version = ? AND row_id NOT IN "
        "(SELECT row_id FROM sft_lineage WHERE sft_version = ?) ORDER BY row_id",
    )
    return [r[0] for r in con.execute(sql, [sft_version, sft_version]).fetchall()]


def tasks_in_both_splits(con: duckdb.DuckDBPyConnection, sft_version: str) -> list[str]:
    """Task ids that have rows in more than one split of set ``sft_version`` (should be none)."""
    rows = con.execute(
        "SELECT task_id FROM sft_rows WHERE sft_version = ? GROUP BY task_id "
        "HAVING count(DISTINCT split) > 1 ORDER BY task_id",
        [sft_version],
    ).fetchall()
    return [r[0] for r in rows]


# -- one chain -----------------------------------------------------------------------------


def _chain(row: dict[str, Any], with_sft: bool) -> Chain:
    """One row of the lineage view as the links of its chain."""
    return Chain(
        sft=_sft_link(row) if with_sft else None,
        trajectory=_trajectory_link(row),
        script=_script_link(row),
        task=_task_link(row),
        entities=[EntityLink(entity=e) for e in row["task_entities"] or []],
    )


def _sft_link(row: dict[str, Any]) -> SFTLink:
    return SFTLink(
        row_id=row["row_id"],
        sft_version=row["sft_version"],
        split=row["split"],
        config_hash=row["sft_config_hash"],
        code_version=row["sft_code_version"],
        directory=row["sft_directory"],
    )


def _trajectory_link(row: dict[str, Any]) -> TrajectoryLink:
    return TrajectoryLink(
        trajectory_id=row["trajectory_id"],
        domain=row["domain"],
        partition=row["partition"],
        seed=row["seed"],
        reward=row["reward"],
        termination_reason=row["termination_reason"],
        n_turns=row["n_turns"],
        n_tool_calls=row["n_tool_calls"],
        agent=ModelLink(
            name=row["agent_name"], kind=row["agent_kind"], sampling=json.loads(row["agent_sampling_json"])
        ),
        user=ModelLink(name=row["user_name"], kind=row["user_kind"], sampling=json.loads(row["user_sampling_json"])),
        code_version=row["trajectory_code_version"],
        tau2_version=row["trajectory_tau2_version"],
        engine_config_hash=row["engine_config_hash"],
        simulation_config_hash=row["simulation_config_hash"],
        content_hash=row["trajectory_content_hash"],
    )


def _script_link(row: dict[str, Any]) -> ScriptLink:
    return ScriptLink(
        script_id=row["script_id"],
        variant=row["variant"],
        has_user_script=row["has_user_script"],
        seed=row["script_seed"],
        content_hash=row["script_content_hash"],
        dimensions={
            k: row[c]
            for k, c in (
                ("disclosure", "disclosure"),
                ("opening", "opening"),
                ("tone", "tone"),
                ("verbosity", "verbosity"),
                ("order", "request_order"),
                ("slip", "slip"),
            )
        },
    )


def _task_link(row: dict[str, Any]) -> TaskLink:
    return TaskLink(
        task_id=row["task_id"],
        trajectory_type=row["trajectory_type"],
        user_id=row["user_id"],
        family=row.get("family") or "writes",
        writes=row["writes"],
        reads=row["reads"],
        max_reads_before_write=row["max_reads_before_write"],
        seed=row["task_seed"],
        attempt=row["task_attempt"],
        config_hash=row["task_config_hash"],
        code_version=row["task_code_version"],
        tau2_version=row["task_tau2_version"],
        content_hash=row["task_content_hash"],
    )


def _one(con: duckdb.DuckDBPyConnection, view: str, column: str, value: str) -> dict[str, Any] | None:
    frame = con.sql(lineage_sql(con, f"SELECT * FROM {view} WHERE {column} = ?"), params=[value]).pl()
    return frame.row(0, named=True) if frame.height else None


def trace(
    con: duckdb.DuckDBPyConnection, ident: str, resolve_entities: bool = True, with_configs: bool = False
) -> Chain:
    """The chain of an SFT row id (``<sft_version>/<trajectory_id>``) or a trajectory id.

    Raises :class:`UnknownIdError` if no such row or trajectory is stored, and
    :class:`BrokenChainError` if it is stored but its script or task no longer matches.
    ``resolve_entities`` looks each task entity up in the installed τ²-bench domain DB;
    ``with_configs`` adds the settings of the stages that made the row.
    """
    ident = ident.strip()
    if not _tables_ready(con):
        raise UnknownIdError(
            f"no SFT row or trajectory {ident!r}: the database lacks the trajectory or SFT "
            "tables (run `writ run` to create or upgrade them)"
        )
    is_row = "/" in ident
    if is_row:
        stored = con.execute("SELECT trajectory_id FROM sft_rows WHERE row_id = ?", [ident]).fetchall()
        if not stored:
            raise UnknownIdError(f"no SFT row {ident!r} (an SFT row id is '<sft_version>/<trajectory_id>')")
        row = _one(con, "sft_lineage", "row_id", ident)
        trajectory_id = stored[0][0]
    else:
        stored = con.execute("SELECT trajectory_id FROM trajectories WHERE trajectory_id = ?", [ident]).fetchall()
        if not stored:
            raise UnknownIdError(
                f"no trajectory or SFT row {ident!r} (ids look like 'traj-…' or '<sft_version>/traj-…')"
            )
        row = _one(con, "trajectory_lineage", "trajectory_id", ident)
        trajectory_id = ident
    if row is None:
        raise BrokenChainError(_why_broken(con, ident, trajectory_id))
    chain = _chain(row, with_sft=is_row)
    chain.sft_rows = [
        r[0]
        for r in con.execute(
            "SELECT row_id FROM sft_rows WHERE trajectory_id = ? ORDER BY row_id", [trajectory_id]
        ).fetchall()
    ]
    gold = json.loads(
        con.execute("SELECT gold_actions_json FROM tasks WHERE task_id = ?", [chain.task.task_id]).fetchall()[0][0]
    )
    chain.task.gold_writes = [_call(step) for step in gold if step.get("kind") == "write"]
    roles = entity_roles([e.entity for e in chain.entities], gold)
    if resolve_entities:
        chain.entities = [locate(chain.trajectory.domain, chain.task.user_id, e.entity) for e in chain.entities]
    chain.entities = [e.model_copy(update={"role": roles[e.entity]}) for e in chain.entities]
    versions = sorted({r.split("/", 1)[0] for r in chain.sft_rows})
    chain.checkpoints, chain.evaluations = _models_trained_on(con, versions)
    if with_configs:
        chain.configs = _configs(con, chain)
    return chain


def _call(step: dict[str, Any]) -> str:
    return f"{step['name']}({', '.join(f'{k}={json.dumps(v)}' for k, v in sorted(step['arguments'].items()))})"


def _values(value: Any) -> set[str]:
    """Every scalar in a tool call's arguments, as text (ids nested in lists and objects too)."""
    if isinstance(value, dict):
        return set().union(*map(_values, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(_values, value)) if value else set()
    return {str(value)}


def entity_roles(entities: list[str], gold: list[dict[str, Any]]) -> dict[str, str]:
    """What the gold plan does with each ``'table:key'`` entity (see :attr:`EntityLink.role`)."""
    written = set().union(*(_values(s["arguments"]) for s in gold if s.get("kind") == "write"), set())
    read = set().union(*(_values(s["arguments"]) for s in gold if s.get("kind") != "write"), set())
    split = {e: e.partition(":")[::2] for e in entities}
    tables_written = {table for table, key in split.values() if key in written}
    return {
        e: "written"
        if key in written
        else "set aside"
        if table in tables_written
        else "evidence"
        if key in read
        else "context"
        for e, (table, key) in split.items()
    }


def _models_trained_on(con: duckdb.DuckDBPyConnection, versions: list[str]) -> tuple[list[str], list[str]]:
    if not versions or not has_table(con, "checkpoints"):
        return [], []
    marks = ", ".join("?" * len(versions))
    checkpoints = [
        r[0]
        for r in con.execute(
            f"SELECT checkpoint_id FROM checkpoints WHERE sft_version IN ({marks}) ORDER BY 1", versions
        ).fetchall()
    ]
    if not checkpoints or not has_table(con, "evaluations"):
        return checkpoints, []
    marks = ", ".join("?" * len(checkpoints))
    evaluations = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT evaluation_id FROM evaluations WHERE checkpoint_id IN ({marks}) ORDER BY 1", checkpoints
        ).fetchall()
    ]
    return checkpoints, evaluations


def _configs(con: duckdb.DuckDBPyConnection, chain: Chain) -> dict[str, Any]:
    """The stored settings of the synthesis, simulation and (for an SFT row) SFT stages behind ``chain``."""
    t = chain.trajectory
    found: dict[str, Any] = {}
    queries = {
        "synthesis": (
            "SELECT config_json FROM partition_runs WHERE domain = ? AND partition = ?",
            [t.domain, t.partition],
        ),
        "simulation": (
            "SELECT config_json FROM stage_runs WHERE stage = 'trajectories' AND domain = ? AND partition = ?",
            [t.domain, t.partition],
        ),
    }
    if chain.sft is not None:
        queries["sft"] = ("SELECT config_json FROM sft_sets WHERE sft_version = ?", [chain.sft.sft_version])
    for name, (sql, params) in queries.items():
        rows = con.execute(sql, params).fetchall()
        if rows:
            found[name] = json.loads(rows[0][0])
    return found


def _why_broken(con: duckdb.DuckDBPyConnection, ident: str, trajectory_id: str) -> str:
    rows = con.execute(
        "SELECT task_id, script_id, lineage_json FROM trajectories WHERE trajectory_id = ?", [trajectory_id]
    ).fetchall()
    if not rows:
        return f"{ident}: its trajectory {trajectory_id} is no longer stored"
    task_id, script_id, lineage = rows[0]
    lineage = json.loads(lineage)
    task = con.execute("SELECT content_hash FROM tasks WHERE task_id = ?", [task_id]).fetchall()
    script = con.execute("SELECT content_hash FROM user_scripts WHERE script_id = ?", [script_id]).fetchall()
    if not task:
        return f"{ident}: its task {task_id} is no longer stored"
    if task[0][0] != lineage.get("task_content_hash"):
        return f"{ident}: its task {task_id} was re-made since the conversation was simulated"
    if not script:
        return f"{ident}: its user script {script_id} is no longer stored"
    if script[0][0] != lineage.get("script_content_hash"):
        return f"{ident}: its user script {script_id} was re-made since the conversation was simulated"
    return f"{ident}: its chain does not resolve (the SFT row's ids disagree with the trajectory's)"


def locate(domain: str, user_id: str, entity: str) -> EntityLink:
    """An :class:`EntityLink` for ``entity``, looked up in the domain DB."""
    # Loads tau2: only when entities are resolved.
    from writ_dagster.core.domains.entities import locate_entity
    from writ_dagster.core.domains.registry import get_domain

    where = locate_entity(get_domain(domain), user_id, entity)
    return EntityLink(entity=entity, location=where, found=where is not None)
