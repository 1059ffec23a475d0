"""Simulation settings as a Dagster resource: backends, script variants, seed, concurrency.

The fields are :class:`~writ_dagster.core.simulation.settings.TrajectoryConfig`'s; a run
validates them there (an unknown backend, 0 variants or a concurrency below 1 fail the
step before anything is written). Backend names are looked up in the core's registry, so
a backend registered later (an LLM client) is selected here by name, without code changes.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field

from writ_dagster.core.simulation.audit import MODEL_SUCCESS_FLOOR
from writ_dagster.core.simulation.settings import TrajectoryConfig

_D = TrajectoryConfig.model_fields


def _doc(name: str) -> str:
    return _D[name].description or ""


class SimulationSettings(dg.ConfigurableResource):
    """How user scripts are made and conversations are simulated for each domain × batch."""

    agent_backend: str = Field(default=_D["agent_backend"].default, description=_doc("agent_backend"))
    user_backend: str = Field(default=_D["user_backend"].default, description=_doc("user_backend"))
    agent_options: dict[str, Any] = Field(default_factory=dict, description=_doc("agent_options"))
    user_options: dict[str, Any] = Field(default_factory=dict, description=_doc("user_options"))
    variants: int = Field(default=_D["variants"].default, description=_doc("variants"))
    seed: int = Field(default=_D["seed"].default, description=_doc("seed"))
    max_concurrency: int = Field(default=_D["max_concurrency"].default, description=_doc("max_concurrency"))
    workers: int = Field(default=_D["workers"].default, description=_doc("workers"))
    max_steps: int = Field(default=_D["max_steps"].default, description=_doc("max_steps"))
    max_errors: int = Field(default=_D["max_errors"].default, description=_doc("max_errors"))
    attempts: int = Field(default=_D["attempts"].default, description=_doc("attempts"))
    stop_on_pass: bool = Field(default=_D["stop_on_pass"].default, description=_doc("stop_on_pass"))
    keep_passing: int | None = Field(default=None, description=_doc("keep_passing"))
    resume: bool = Field(default=_D["resume"].default, description=_doc("resume"))

    # judged by the check `trajectories_success_rate`, not by the simulation: not in TrajectoryConfig
    model_success_floor: float = Field(
        default=MODEL_SUCCESS_FLOOR,
        ge=0.0,
        le=1.0,
        description="with a model as agent or user, the share of a partition's conversations that must score "
        "1.0 for the success-rate check to pass (a warning); scripted backends must reach 0.95",
    )

    def trajectory_config(self) -> TrajectoryConfig:
        """The validated core configuration (raises pydantic's ValidationError on bad values)."""
        return TrajectoryConfig(**self.model_dump(exclude={"model_success_floor"}))
