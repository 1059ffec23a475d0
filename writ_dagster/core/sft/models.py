"""Configuration and records of SFT-set building."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from writ_dagster.core.settings_model import SettingsModel
from writ_dagster.core.training.lengths import LengthFigures

TRAJECTORY_TYPES = ("normal", "write-intensive", "read-heavy")


class SFTConfig(SettingsModel):
    """How trajectories become an SFT set: filters, mixture and split."""

    model_config = ConfigDict(extra="forbid")

    min_reward: float = Field(1.0, description="keep trajectories scoring at least this (tau2 reward)")
    max_messages: int = Field(120, ge=2, description="drop conversations longer than this many messages")
    max_chars: int = Field(120_000, ge=100, description="drop conversations whose text exceeds this")
    near_duplicate_jaccard: float = Field(
        0.9, gt=0, le=1, description="same gold plan and user-side text at least this similar: keep one"
    )
    targets: dict[str, int] | None = Field(
        None, description="rows wanted per 'domain/trajectory_type/scripted|plain' cell; None keeps all"
    )
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="share of tasks held out (split by task)")
    seed: int = 0
    policy_filter: bool = Field(
        True,
        description="drop conversations that break the policy's conduct rules: a write without an explicit "
        "yes to its stated details, several tool calls in one message, text with a tool call",
    )
    include_reasoning: bool = Field(
        False,
        description="keep the agent's reasoning in the rows, as a <think> block before each assistant "
        "message's content (default: reasoning is left out)",
    )
    drop_over_max_length: bool = Field(
        True,
        description="when the set is built for a training recipe whose tokenizer is at hand, drop the rows "
        "longer than the recipe's max_length (the trainer would cut their end, where the final "
        "writes are); off: they are kept and counted",
    )

    @field_validator("targets")
    @classmethod
    def _cells(cls, targets: dict[str, int] | None) -> dict[str, int] | None:
        for cell, n in (targets or {}).items():
            parts = cell.split("/")
            if len(parts) != 3 or parts[1] not in TRAJECTORY_TYPES or parts[2] not in ("scripted", "plain"):
                raise ValueError(f"mixture cell {cell!r} is not 'domain/<{'|'.join(TRAJECTORY_TYPES)}>/scripted|plain'")
            if n < 0:
                raise ValueError(f"mixture cell {cell!r} asks for a negative count ({n})")
        return targets

    def content_hash(self) -> str:
        """Hash of the settings; those added after sets were first published count only when set
        away from their default, so a set rebuilt from the same rows keeps its version."""
        later = {name for name in _ADDED_LATER if getattr(self, name) == type(self).model_fields[name].default}
        return hashlib.sha256(self.model_dump_json(exclude=later).encode()).hexdigest()[:16]


_ADDED_LATER = ("policy_filter", "include_reasoning", "drop_over_max_length")


class SFTRow(BaseModel):
    """One training conversation, in the columns trainers (and WRIT-2K) use, plus lineage."""

    domain: str
    trajectory_type: str
    has_user_script: bool
    messages: list[dict[str, Any]] = Field(description="OpenAI chat messages; tool-call arguments are JSON text")
    tools: str = Field(description="JSON text of the OpenAI function schemas (text, so `datasets` cannot merge them)")
    split: str
    trajectory_id: str
    task_id: str
    script_id: str
    partition: str
    sft_version: str
    family: str = Field(
        "writes",
        description="the task's family (writes, refusal, mixed, transfer, information, conditional, change_of_mind)",
    )
    # None in rows stored before these columns existed
    writes: int | None = Field(None, description="write actions in the task's gold plan (WRIT's write axis)")
    reads: int | None = Field(None, description="read actions in the task's gold plan")
    max_reads_before_write: int | None = Field(
        None, description="most reads any write of the task needs first (the read axis)"
    )
    tokens: int | None = Field(
        None,
        description="tokens under the training recipe the set was built for (its "
        "tokenizer and chat template); None where not counted",
    )


class RecipeLengths(BaseModel):
    """The rows' lengths under the training recipe the set was built for (its tokenizer and chat template)."""

    recipe: str
    tokenizer: str = Field(description="the tokenizer counted with (folder or hub id), or the one not at hand")
    max_length: int = Field(description="the recipe's max_length: longer rows are cut at the end by the trainer")
    counted: bool = Field(description="whether tokens were counted (False: the tokenizer was not at hand)")
    not_counted: str = Field("", description="why tokens were not counted")
    candidates: LengthFigures | None = Field(
        None, description="tokens of the rows that reached the length filter (passed every earlier one)"
    )
    rows: LengthFigures | None = Field(None, description="tokens of the set's rows")
    characters: LengthFigures = Field(description="characters of the set's rows (contents and tool-call arguments)")
    dropped: int = Field(0, description="rows left out for being longer than max_length")

    def line(self) -> str:
        """One line for logs and the stage's output."""
        if not self.counted:
            return f"token lengths: not counted ({self.not_counted}); {self.characters.text()}"
        over = self.rows.over_limit if self.rows else 0
        return (
            f"token lengths ({self.recipe}, max_length {self.max_length:,}): {self.dropped} rows over it dropped; "
            f"{self.rows.text() if self.rows else 'no rows'}" + (f" ({over} kept over the limit)" if over else "")
        )


class SFTBuild(BaseModel):
    """An SFT set and the account of how it was made."""

    version: str
    rows: list[SFTRow]
    considered: int
    dropped: dict[str, int] = Field(description="trajectories removed, by filter")
    cells: dict[str, int] = Field(description="rows per 'domain/type/scripted|plain'")
    policy_filter: bool = Field(False, description="whether the policy-compliance filter judged the trajectories")
    lengths: RecipeLengths | None = Field(
        None,
        description="the rows' lengths under the training recipe the set was built for (None: built for no recipe)",
    )
