"""Stored trajectories read back for export: which partitions are complete, whether their
conversations still belong to the tasks stored now, and the τ²-bench results file they make.

The ``writ export-trajectories`` command calls these and words the refusals; nothing here writes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.simulation.records import TrajectoryRecord
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.simulation.tau2_results import tau2_results
from writ_dagster.core.storage.runs import StageRun, read_stage_run
from writ_dagster.core.storage.tasks import tasks_frame
from writ_dagster.core.storage.trajectories import read_trajectories, trajectory_partitions


@dataclass(frozen=True)
class TrajectoryPartitions:
    """A domain's partitions holding trajectories, in stored order, each with its stage run
    (None where a run was interrupted: the partition is incomplete)."""

    runs: dict[str, StageRun | None]

    @property
    def stored(self) -> list[str]:
        """Every partition that holds at least one trajectory."""
        return list(self.runs)

    @property
    def complete(self) -> list[str]:
        """Partitions whose trajectories stage finished."""
        return [p for p, run in self.runs.items() if run is not None]

    @property
    def incomplete(self) -> list[str]:
        """Partitions holding trajectories of a run that did not finish, sorted."""
        return sorted(set(self.stored) - set(self.complete))


def trajectory_partition_runs(con: duckdb.DuckDBPyConnection, domain: str) -> TrajectoryPartitions:
    """The partitions of ``domain`` that hold trajectories, and which of them are complete."""
    return TrajectoryPartitions(
        {p: read_stage_run(con, "trajectories", domain, p) for p in trajectory_partitions(con, domain)}
    )


@dataclass(frozen=True)
class StoredTrajectories:
    """The stored trajectories of some partitions and the tasks stored now for those partitions."""

    records: list[TrajectoryRecord]
    tasks: list[dict[str, Any]]  # tau2 Task dicts, as stored
    task_hashes: dict[str, str]  # task id -> content hash of the task stored now


def read_stored_trajectories(
    con: duckdb.DuckDBPyConnection, domain: str, partitions: Sequence[str]
) -> StoredTrajectories:
    """Trajectories and tasks of ``partitions`` of ``domain``, in the order the partitions are given."""
    records = [r for p in partitions for r in read_trajectories(con, domain, p)]
    frames = [tasks_frame(con, domain, p) for p in partitions]
    return StoredTrajectories(
        records=records,
        tasks=[json.loads(t) for f in frames for t in f["task_json"]],
        task_hashes={tid: h for f in frames for tid, h in zip(f["task_id"], f["content_hash"])},
    )


def stale_partitions(stored: StoredTrajectories) -> list[str]:
    """Partitions (sorted) holding a conversation made from another version of its task than the
    one stored now: the tasks were re-made since, so pairing them with it would be wrong."""
    return sorted(
        {r.partition for r in stored.records if stored.task_hashes.get(r.task_id) != r.lineage.get("task_content_hash")}
    )


def trajectory_results(domain: str, stored: StoredTrajectories, runs: Sequence[StageRun]) -> dict[str, Any]:
    """The τ²-bench results dict of ``stored``, its limits the largest of the runs that made it and its
    seed theirs if they share one (else none)."""
    configs = [TrajectoryConfig.model_validate_json(r.config_json) for r in runs]
    seeds = {c.seed for c in configs}
    return tau2_results(
        domain,
        get_domain(domain).policy,
        stored.tasks,
        stored.records,
        max_steps=max(c.max_steps for c in configs),
        max_errors=max(c.max_errors for c in configs),
        seed=seeds.pop() if len(seeds) == 1 else None,
    )
