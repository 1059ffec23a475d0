"""Stage ``user_scripts``: a partition's stored tasks -> checked user behaviour scripts, stored."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from writ_dagster.core.audit_report import AuditReport
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.stages import MissingInputError, require_intents
from writ_dagster.core.storage.runs import StageRun, read_partition_run
from writ_dagster.core.storage.scripts import write_user_scripts
from writ_dagster.core.storage.tasks import read_tasks
from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.users.check import check_script
from writ_dagster.core.users.models import UserScript
from writ_dagster.core.users.rewrite import MAX_TRIES, rewrite_scripts
from writ_dagster.core.users.rewrite_backend import backend_generate
from writ_dagster.core.users.scripts import make_scripts


def build_scripts(tasks: list[TaskRecord], variants: int, seed: int) -> list[UserScript]:
    """``variants`` scripts per task, in task order; each passes ``check_script`` (make_scripts
    checks every script it returns and raises if it cannot make a valid one)."""
    return [script for record in tasks for script in make_scripts(record, variants, seed)]


def script_figures(scripts: list[UserScript], n_tasks: int) -> dict[str, Any]:
    """Counts a person reads: scripts, scripted share, and each behaviour dimension's values."""
    dims: dict[str, Counter[str]] = {}
    for s in scripts:
        if not s.has_user_script:
            continue  # variant 0 is the canonical instruction; its dimensions say nothing
        for name, value in s.dimensions.model_dump().items():
            dims.setdefault(name, Counter())[value] += 1
    scripted = sum(s.has_user_script for s in scripts)
    return {
        "scripts": len(scripts),
        "tasks": n_tasks,
        "scripted": scripted,
        "canonical": len(scripts) - scripted,
        "dimensions": {name: dict(c.most_common()) for name, c in sorted(dims.items())},
    }


class Rewriter(BaseModel):
    """An LLM backend that rewrites the scripted variants' instructions (off when not given)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    backend: Any = Field(description="a registered LLM backend (respond_batch, or an async respond)")
    recorded: dict[str, Any] = Field(default_factory=dict, description="what the stored settings name it by")
    max_tries: int = Field(MAX_TRIES, ge=1, description="tries per script before the rule-based variant stays")


def run_user_scripts(
    con: duckdb.DuckDBPyConnection,
    domain: str,
    partition: str,
    config: TrajectoryConfig,
    rewriter: Rewriter | None = None,
) -> tuple[StageRun, list[UserScript], dict[str, Any]]:
    """Make the partition's scripts from its stored tasks and replace its stored scripts.

    With a ``rewriter``, each scripted variant's instruction is rewritten by the model where the
    script checker accepts the rewrite (rule-based otherwise; counted in the figures). Returns
    the stage run, the scripts and their figures. Raises :class:`MissingInputError` if the
    partition's tasks were never stored (nothing is written then).
    """
    tasks_run = read_partition_run(con, domain, partition)
    if tasks_run is None:
        raise MissingInputError(f"tasks of {domain}/{partition} are not stored; materialize `tasks` first")
    tasks = require_intents(read_tasks(con, domain, partition), domain, partition)
    scripts = build_scripts(tasks, config.variants, config.seed)
    rewrite_figures: dict[str, Any] = {}
    if rewriter is not None:
        records = {t.task_id: t for t in tasks}
        outcome = rewrite_scripts(
            records,
            scripts,
            backend_generate(rewriter.backend, records, scripts, config.seed),
            max_tries=rewriter.max_tries,
        )
        scripts, rewrite_figures = outcome.scripts, outcome.figures
    # Which tasks the scripts were made from: the trajectories stage refuses scripts of other tasks.
    figures = {**script_figures(scripts, len(tasks)), **rewrite_figures, "tasks_digest": tasks_run.content_digest}
    chosen: dict[str, Any] = {"variants": config.variants, "seed": config.seed}
    if rewriter is not None:
        chosen["rewriter"] = {**rewriter.recorded, "max_tries": rewriter.max_tries}
    settings = json.dumps(chosen, sort_keys=True, default=str)
    run = write_user_scripts(
        con,
        domain,
        partition,
        scripts,
        config_json=settings,
        config_hash=hashlib.sha256(settings.encode()).hexdigest()[:16],
        figures=figures,
    )
    return run, scripts, figures


def audit_scripts(tasks: list[TaskRecord], scripts: list[UserScript]) -> AuditReport:
    """Every stored script belongs to a stored task and passes ``check_script``; each task has scripts."""
    by_id = {t.task_id: t for t in tasks}
    problems: list[str] = []
    for script in scripts:
        record = by_id.get(script.task_id)
        if record is None:
            problems.append(f"{script.script_id}: its task {script.task_id} is not stored")
            continue
        if script.compute_hash() != script.content_hash:
            problems.append(f"{script.script_id}: content hash does not match its content")
        problems += [f"{script.script_id}: {p}" for p in check_script(record, script)]
    scripted_tasks = {s.task_id for s in scripts}
    problems += [f"{tid}: no user script" for tid in by_id if tid not in scripted_tasks]
    return AuditReport(passed=not problems, problems=problems, figures={"scripts": len(scripts), "tasks": len(tasks)})
