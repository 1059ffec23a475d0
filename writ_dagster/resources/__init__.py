"""Dagster resources: configurable wrappers over the core's storage and synthesis settings."""

from writ_dagster.resources.storage import WritStorage
from writ_dagster.resources.synthesis import SynthesisSettings

__all__ = ["SynthesisSettings", "WritStorage"]
