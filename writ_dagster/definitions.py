"""The Dagster code location: ``dagster dev -m writ_dagster.definitions`` (or ``-w workspace.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from writ_dagster.assets import (
    checkpoint,
    domain_catalogue,
    evaluation,
    sft_checks,
    sft_set,
    task_checks,
    tasks,
    trajectories,
    trajectory_checks,
    user_scripts,
)
from writ_dagster.orphans import orphaned_runs_sensor
from writ_dagster.partitions import domain_batch_partitions, domain_partitions
from writ_dagster.resources import (
    EvaluationSettings,
    ModelRole,
    SFTSettings,
    SimulationSettings,
    SynthesisSettings,
    TrainingSettings,
    WritStorage,
)
from writ_dagster.schedules import daily_batch_schedule

CATALOGUE_JOB = "catalogue_job"
TASKS_JOB = "tasks_job"
TRAJECTORIES_JOB = "trajectories_job"
PARTITION_JOB = "partition_job"
SFT_JOB = "sft_job"
CHECKPOINT_JOB = "checkpoint_job"
EVALUATION_JOB = "evaluation_job"

catalogue_job = dg.define_asset_job(
    CATALOGUE_JOB,
    selection=dg.AssetSelection.assets(domain_catalogue),
    partitions_def=domain_partitions,
    description="Describe one domain: policy, tools, DB sizes, base tasks.",
)
tasks_job = dg.define_asset_job(
    TASKS_JOB,
    selection=dg.AssetSelection.assets(tasks),
    partitions_def=domain_batch_partitions,
    description="Synthesize, store and check one domain × batch of WRIT tasks.",
)
trajectories_job = dg.define_asset_job(
    TRAJECTORIES_JOB,
    selection=dg.AssetSelection.assets(user_scripts, trajectories),
    partitions_def=domain_batch_partitions,
    description="Make user scripts for one domain × batch's stored tasks and simulate (or resume) its trajectories.",
)
partition_job = dg.define_asset_job(
    PARTITION_JOB,
    selection=dg.AssetSelection.assets(tasks, user_scripts, trajectories),
    partitions_def=domain_batch_partitions,
    description="Everything for one domain × batch: tasks, user scripts, trajectories, with their checks.",
)
sft_job = dg.define_asset_job(
    SFT_JOB,
    selection=dg.AssetSelection.assets(sft_set),
    description="Curate every stored trajectory partition into one SFT set (Parquet + card), with lineage checks.",
)
checkpoint_job = dg.define_asset_job(
    CHECKPOINT_JOB,
    selection=dg.AssetSelection.assets(checkpoint),
    description="Fine-tune the training recipe's base model on the latest SFT set (TRL, via Dagster Pipes).",
)
evaluation_job = dg.define_asset_job(
    EVALUATION_JOB,
    selection=dg.AssetSelection.assets(evaluation),
    description="Serve the latest checkpoint and its base model with vLLM and score both on τ²-bench base tasks.",
)


def build_definitions(
    storage: WritStorage | None = None,
    synthesis: SynthesisSettings | None = None,
    simulation: SimulationSettings | None = None,
    sft: SFTSettings | None = None,
    training: TrainingSettings | None = None,
    evaluation_settings: EvaluationSettings | None = None,
    teacher: ModelRole | None = None,
    user_simulator: ModelRole | None = None,
    user_rewriter: ModelRole | None = None,
    loggers: Mapping[str, dg.LoggerDefinition] | None = None,
) -> dg.Definitions:
    """WRIT's definitions, with the given resources (default: WRIT_HOME's database, default settings,
    scripted agent and user) and run loggers (default: Dagster's console logger)."""
    return dg.Definitions(
        assets=[domain_catalogue, tasks, user_scripts, trajectories, sft_set, checkpoint, evaluation],
        asset_checks=[*task_checks, *trajectory_checks, *sft_checks],
        jobs=[catalogue_job, tasks_job, trajectories_job, partition_job, sft_job, checkpoint_job, evaluation_job],
        schedules=[daily_batch_schedule(partition_job)],
        sensors=[orphaned_runs_sensor],
        resources={
            "storage": storage or WritStorage(),
            "synthesis": synthesis or SynthesisSettings(),
            "simulation": simulation or SimulationSettings(),
            # models in the agent and user roles of `trajectories`, started once per run that uses them
            "teacher": teacher or ModelRole(),
            "user_simulator": user_simulator or ModelRole(),
            # a model that rewrites user_scripts' instructions; scripted (off) by default
            "user_rewriter": user_rewriter or ModelRole(),
            "sft": sft or SFTSettings(),
            # training runs outside this process, through Dagster Pipes
            "training": training or TrainingSettings(),
            "pipes_subprocess_client": dg.PipesSubprocessClient(),
            "evaluation_settings": evaluation_settings or EvaluationSettings(),
        },
        # DuckDB allows one writer process: run every step in the run's own process, one at a time.
        executor=dg.in_process_executor,
        loggers=loggers,
    )


defs = build_definitions()
