"""Thin Dagster assets: read inputs, call the core, write rows, attach metadata and checks."""

from writ_dagster.assets.catalogue import domain_catalogue
from writ_dagster.assets.checks import task_checks
from writ_dagster.assets.tasks import tasks

__all__ = ["domain_catalogue", "task_checks", "tasks"]
