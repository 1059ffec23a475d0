"""Thin Dagster assets: read inputs, call the core, write rows, attach metadata and checks."""

from writ_dagster.assets.catalogue import domain_catalogue
from writ_dagster.assets.checkpoints import checkpoint
from writ_dagster.assets.checks import task_checks
from writ_dagster.assets.evaluation import evaluation
from writ_dagster.assets.sft import sft_checks, sft_set
from writ_dagster.assets.tasks import tasks
from writ_dagster.assets.trajectories import trajectories
from writ_dagster.assets.trajectory_checks import trajectory_checks
from writ_dagster.assets.user_scripts import user_scripts

__all__ = [
    "checkpoint",
    "domain_catalogue",
    "evaluation",
    "sft_checks",
    "sft_set",
    "task_checks",
    "tasks",
    "trajectories",
    "trajectory_checks",
    "user_scripts",
]
