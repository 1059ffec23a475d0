"""The Dagster code location: ``dagster dev -m writ_dagster.definitions`` (or ``-w workspace.yaml``)."""

from __future__ import annotations

import dagster as dg

from writ_dagster.assets import domain_catalogue, task_checks, tasks
from writ_dagster.partitions import domain_batch_partitions, domain_partitions
from writ_dagster.resources import SynthesisSettings, WritStorage

CATALOGUE_JOB = "catalogue_job"
TASKS_JOB = "tasks_job"

catalogue_job = dg.define_asset_job(
    CATALOGUE_JOB, selection=dg.AssetSelection.assets(domain_catalogue), partitions_def=domain_partitions,
    description="Describe one domain: policy, tools, DB sizes, base tasks.")
tasks_job = dg.define_asset_job(
    TASKS_JOB, selection=dg.AssetSelection.assets(tasks), partitions_def=domain_batch_partitions,
    description="Synthesize, store and check one domain × batch of WRIT tasks.")


def build_definitions(storage: WritStorage | None = None,
                      synthesis: SynthesisSettings | None = None) -> dg.Definitions:
    """WRIT's definitions, with the given resources (default: WRIT_HOME's database, default settings)."""
    return dg.Definitions(
        assets=[domain_catalogue, tasks],
        asset_checks=task_checks,
        jobs=[catalogue_job, tasks_job],
        resources={"storage": storage or WritStorage(), "synthesis": synthesis or SynthesisSettings()},
        # DuckDB allows one writer process: run every step in the run's own process, one at a time.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
