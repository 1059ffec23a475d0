"""Synthesis settings as a Dagster resource, so a run's launchpad can change them."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from writ_dagster.core.home import upstream_tasks_dir
from writ_dagster.core.tasks.models import SynthesisConfig

_DEFAULTS = SynthesisConfig()


class SynthesisSettings(dg.ConfigurableResource):
    """The :class:`SynthesisConfig` fields, plus where upstream τ²-bench task sets live.

    Values are validated by ``SynthesisConfig`` when a run uses them, so an impossible
    setting fails the step before anything is written.
    """

    tasks_per_batch: int = Field(default=_DEFAULTS.tasks_per_batch, description="verified tasks per batch partition")
    seed: int = Field(default=_DEFAULTS.seed, description="base seed; each batch and attempt derives its own")
    min_writes: int = Field(default=_DEFAULTS.min_writes, description="fewest write decisions in a task")
    max_writes: int = Field(default=_DEFAULTS.max_writes, description="most write decisions in a task")
    type_mix: dict[str, float] | None = Field(
        default=None, description="share of each trajectory_type among attempts; default: SynthesisConfig's"
    )
    write_intensive_min_writes: int = Field(
        default=_DEFAULTS.write_intensive_min_writes, description="a write-intensive task has at least this many writes"
    )
    read_heavy_min_reads: int = Field(
        default=_DEFAULTS.read_heavy_min_reads, description="a read-heavy write needs at least this many reads"
    )
    max_attempts_per_task: int = Field(
        default=_DEFAULTS.max_attempts_per_task,
        description="give up on a batch after this many attempts per wanted task",
    )
    family_mix: dict[str, float] | None = Field(
        default=None,
        description="share of attempts of each task family beyond plain writes (refusal, mixed); "
        "default: SynthesisConfig's",
    )
    avoid_users_of: str = Field(
        default=_DEFAULTS.avoid_users_of,
        description="τ²-bench tasks whose users and entities are never used: test or base",
    )
    upstream_tasks_dir: str | None = Field(
        default=None, description="upstream τ²-bench task sets to decontaminate against; default $WRIT_UPSTREAM_TASKS"
    )

    def synthesis_config(self) -> SynthesisConfig:
        """The validated core configuration (raises pydantic's ValidationError on bad values)."""
        fields = self.model_dump(exclude={"upstream_tasks_dir", "type_mix", "family_mix"})
        if self.type_mix is not None:
            fields["type_mix"] = dict(self.type_mix)
        if self.family_mix is not None:
            fields["family_mix"] = dict(self.family_mix)
        return SynthesisConfig(**fields)

    def upstream_dir(self) -> str | None:
        """The upstream task-set directory: this resource's setting, else ``$WRIT_UPSTREAM_TASKS``."""
        return self.upstream_tasks_dir or upstream_tasks_dir()
