"""Records of task synthesis that cross a boundary (storage, Dagster, export)."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from writ_dagster.core.limits import (
    MAX_ATTEMPTS_PER_TASK,
    MAX_TASKS_PER_BATCH,
    SEED_MAX,
    SEED_MIN,
)
from writ_dagster.core.settings_model import SettingsModel
from writ_dagster.core.tasks.intent import IntentPart, TaskIntent
from writ_dagster.core.tasks.plan import Candidate as Candidate  # re-exported: where records are imported from
from writ_dagster.core.tasks.plan import Comparison as Comparison
from writ_dagster.core.tasks.plan import Condition as Condition
from writ_dagster.core.tasks.plan import PlanStep as PlanStep
from writ_dagster.core.tasks.plan import StepKind as StepKind

_MAXIMA = {"tasks_per_batch": MAX_TASKS_PER_BATCH, "max_attempts_per_task": MAX_ATTEMPTS_PER_TASK}
TrajectoryType = Literal["normal", "write-intensive", "read-heavy"]
Burden = Literal["low", "high"]
# What a task asks of the agent beyond "do N writes": "writes" only writes; "refusal" one request
# the policy forbids and nothing else; "mixed" writes and one refused request; "transfer" writes and
# one request only a human agent may handle; "information" one question answered by reads alone;
# "conditional" writes and one request the user wants only if a figure the agent looks up is on the
# right side of a limit they set (the DB decides whether its write is made).
# "change_of_mind" writes whose last one the user asks for only after taking back another write.
Family = Literal["writes", "refusal", "mixed", "transfer", "information", "conditional", "change_of_mind"]
FAMILIES = ("writes", "refusal", "mixed", "transfer", "information", "conditional", "change_of_mind")


class WriteMeasure(BaseModel):
    """The read-axis measurement of one write decision of a gold plan."""

    tool: str
    burden: Burden
    reads: int = Field(description="read calls the gold plan makes after the previous write and before this one")
    candidates: int = Field(description="candidate records the agent must compare to fix the arguments")
    evidence_chars: int = Field(description="characters of read-tool output in those reads")
    comparisons: list[Comparison] = Field(
        default_factory=list, description="comparisons that fixed the arguments (high burden)"
    )


class AxisMeasure(BaseModel):
    """Both WRIT axes for one task."""

    writes: int
    reads: int
    max_reads_before_write: int
    reads_per_write: float
    per_write: list[WriteMeasure]


class TaskSources(BaseModel):
    """Where a task came from: enough to rebuild it exactly."""

    entities: list[str] = Field(description="DB entity ids used, as 'table:key'")
    seed: int
    attempt: int
    config_hash: str
    code_version: str
    tau2_version: str


class SynthesisConfig(SettingsModel):
    """Typed configuration of one domain's task synthesis."""

    model_config = ConfigDict(extra="forbid")

    tasks_per_batch: int = Field(60, description="verified tasks to produce per batch partition")
    seed: int = Field(20260602, description="base seed; each batch and attempt derives its own")
    min_writes: int = Field(1, description="fewest write decisions in a task")
    max_writes: int = Field(5, description="most write decisions in a task")
    type_mix: dict[str, float] = Field(
        default_factory=lambda: {"normal": 0.25, "write-intensive": 0.4, "read-heavy": 0.35},
        description="share of each trajectory_type among attempts",
    )
    write_intensive_min_writes: int = Field(3, description="a write-intensive task has at least this many writes")
    read_heavy_min_reads: int = Field(7, description="a read-heavy write needs at least this many reads")
    max_attempts_per_task: int = Field(20, description="give up on a batch after this many attempts per wanted task")
    family_mix: dict[str, float] = Field(
        default_factory=lambda: {
            "refusal": 0.07,
            "mixed": 0.1,
            "transfer": 0.05,
            "information": 0.05,
            "conditional": 0.15,
            "change_of_mind": 0.06,
        },
        description="share of attempts of each task family beyond plain writes; the rest are 'writes'",
    )
    avoid_users_of: Literal["test", "base"] = Field(
        "test",
        description="τ²-bench tasks whose users, reservations and orders synthesis never uses: the "
        "test split's, or every base task's",
    )

    @field_validator(
        "tasks_per_batch",
        "min_writes",
        "max_writes",
        "max_attempts_per_task",
        "write_intensive_min_writes",
        "read_heavy_min_reads",
    )
    @classmethod
    def _positive(cls, value: int, info: Any) -> int:
        if value < 1:
            raise ValueError(f"{info.field_name} must be at least 1, got {value}")
        most = _MAXIMA.get(info.field_name)
        if most is not None and value > most:
            raise ValueError(f"{info.field_name} must be at most {most}, got {value}")
        return value

    @field_validator("seed")
    @classmethod
    def _seed_fits(cls, value: int) -> int:
        if not SEED_MIN <= value <= SEED_MAX:
            raise ValueError(f"seed must fit in a signed 64-bit integer ({SEED_MIN} to {SEED_MAX})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "SynthesisConfig":
        if self.max_writes < self.min_writes:
            raise ValueError(f"max_writes ({self.max_writes}) is below min_writes ({self.min_writes})")
        unknown = set(self.type_mix) - {"normal", "write-intensive", "read-heavy"}
        if unknown:
            raise ValueError(f"type_mix has unknown trajectory types: {sorted(unknown)}")
        odd = set(self.family_mix) - set(FAMILIES)
        if odd:
            raise ValueError(f"family_mix has unknown families: {sorted(odd)}")
        if any(w < 0 for w in self.family_mix.values()) or sum(self.family_mix.values()) > 1:
            raise ValueError("family_mix shares must be non-negative and sum to at most 1")
        if any(w < 0 for w in self.type_mix.values()) or sum(self.type_mix.values()) <= 0:
            raise ValueError("type_mix weights must be non-negative and not all zero")
        if self.type_mix.get("write-intensive", 0) > 0 and self.write_intensive_min_writes > self.max_writes:
            raise ValueError(
                f"write_intensive_min_writes ({self.write_intensive_min_writes}) exceeds max_writes ({self.max_writes})"
            )
        return self

    def content_hash(self) -> str:
        """Stable hash of the settings: part of every task's sources."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


class TaskRecord(BaseModel):
    """A verified synthesized task as stored: the tau2 Task plus WRIT's measurements."""

    task_id: str
    domain: str
    partition: str
    index: int = Field(description="position of the task in its batch")
    trajectory_type: TrajectoryType
    user_id: str
    task: dict[str, Any] = Field(description="the tau2 Task, as JSON-able dict")
    gold_actions: list[PlanStep]
    axes: AxisMeasure
    sources: TaskSources
    content_hash: str = Field(description="sha256 of the task JSON; stable across re-materialization")
    family: Family = Field("writes", description="what the task asks beyond writes (see Family)")
    intent: TaskIntent | None = Field(
        None, description="what the task asks, as data (None: stored before intents were, schema 4 or older)"
    )

    def beyond_writes(self) -> list[IntentPart]:
        """The parts of its intent that ask more than a plain write: refused, transferred, asked, conditional
        (made or not) or taken back; none for a task stored without an intent."""
        return [] if self.intent is None else [p for p in self.intent.parts if p.kind != "write"]


class Rejection(BaseModel):
    """A synthesis attempt that did not become a task, and why."""

    attempt: int
    reason: str
    detail: str = ""


class BatchResult(BaseModel):
    """What synthesizing one batch partition produced."""

    domain: str
    partition: str
    tasks: list[TaskRecord]
    rejections: list[Rejection]
    attempts: int


def tau2_task_dict(task: dict[str, Any]) -> dict[str, Any]:
    """A stored tau2 Task dict as WRIT exports it: null fields left out at every depth, so that
    releases of tau2 whose models lack an optional field still read the task."""
    return _drop_none(task)


# The field of an exported task that holds its intent: τ²-bench's Task ignores fields it does not know.
INTENT_FIELD = "writ_intent"


def exported_task(record: TaskRecord) -> dict[str, Any]:
    """A stored task as ``writ export-tasks`` writes it: the τ²-bench Task (see :func:`tau2_task_dict`) with
    the task's intent beside it, where it has one."""
    task = tau2_task_dict(record.task)
    if record.intent is not None:
        task[INTENT_FIELD] = _drop_none(record.intent.model_dump(mode="json"))
    return task


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
