"""Dagster resources: configurable wrappers over the core's storage, synthesis and simulation settings."""

from writ_dagster.resources.simulation import SimulationSettings
from writ_dagster.resources.storage import WritStorage
from writ_dagster.resources.synthesis import SynthesisSettings

__all__ = ["SimulationSettings", "SynthesisSettings", "WritStorage"]
