"""Dagster resources: configurable wrappers over the core's storage and the settings of each stage."""

from writ_dagster.resources.evaluation import EvaluationSettings
from writ_dagster.resources.roles import ModelRole
from writ_dagster.resources.sft import SFTSettings
from writ_dagster.resources.simulation import SimulationSettings
from writ_dagster.resources.storage import WritStorage
from writ_dagster.resources.synthesis import SynthesisSettings
from writ_dagster.resources.training import TrainingSettings

__all__ = [
    "EvaluationSettings",
    "ModelRole",
    "SFTSettings",
    "SimulationSettings",
    "SynthesisSettings",
    "TrainingSettings",
    "WritStorage",
]
