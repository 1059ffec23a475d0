"""SFT-set settings as a Dagster resource: filters, mixture targets and split.

The fields are :class:`~writ_dagster.core.sft.models.SFTConfig`'s; a run validates them
there (an unknown mixture cell, a negative target or a validation share of 1 or more fail
the step before anything is written).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from writ_dagster.core.home import writ_home
from writ_dagster.core.sft.models import SFTConfig

_D = SFTConfig.model_fields


def _doc(name: str) -> str:
    return _D[name].description or ""


class SFTSettings(dg.ConfigurableResource):
    """How stored trajectories become an SFT set, and where its files go."""

    min_reward: float = Field(default=_D["min_reward"].default, description=_doc("min_reward"))
    max_messages: int = Field(default=_D["max_messages"].default, description=_doc("max_messages"))
    max_chars: int = Field(default=_D["max_chars"].default, description=_doc("max_chars"))
    near_duplicate_jaccard: float = Field(
        default=_D["near_duplicate_jaccard"].default, description=_doc("near_duplicate_jaccard")
    )
    targets: dict[str, int] | None = Field(default=None, description=_doc("targets"))
    validation_fraction: float = Field(
        default=_D["validation_fraction"].default, description=_doc("validation_fraction")
    )
    seed: int = Field(default=_D["seed"].default, description="seed of the mixture pick and the task split")
    policy_filter: bool = Field(default=_D["policy_filter"].default, description=_doc("policy_filter"))
    include_reasoning: bool = Field(default=_D["include_reasoning"].default, description=_doc("include_reasoning"))
    drop_over_max_length: bool = Field(
        default=_D["drop_over_max_length"].default, description=_doc("drop_over_max_length")
    )
    output_dir: str | None = Field(default=None, description="folder of the sets' files; default $WRIT_HOME/sft")

    def sft_config(self) -> SFTConfig:
        """The validated core configuration (raises pydantic's ValidationError on bad values)."""
        return SFTConfig(**self.model_dump(exclude={"output_dir"}))

    @property
    def root(self) -> Path:
        """Where each set's folder ``<sft_version>/`` is written (resolved when used)."""
        return Path(self.output_dir).expanduser().resolve() if self.output_dir else writ_home() / "sft"
