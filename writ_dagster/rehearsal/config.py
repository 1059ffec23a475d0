"""Settings of the simulated serving fleet (``writ-simulated-fleet``), loadable from YAML or JSON.

Two kinds of setting, kept apart on purpose:

- **behaviour** (``teacher``, ``user``, ``identify``, ``seed``) decides *what* the fleet answers.
  It is fleet-wide: a reply is a deterministic function of the request's content and these
  settings, never of the replica that serves it or of timing, so a run killed and resumed gets
  byte-identical rows to an uninterrupted one whichever replica answers each retry;
- **serving** (``replica`` defaults, ``replicas`` overrides per replica, ``time_scale``) decides
  *when* and *whether* it answers: latency, capacity, faults. These may differ per replica.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from writ_dagster.core.config_files import read_config_file
from writ_dagster.core.simulation.settings import DEFAULT_SEED

TEACHER_MODEL = "simulated-teacher"
USER_MODEL = "simulated-user"
SERVER_NAME = "writ-simulated-fleet"
Reasoning = Literal["none", "think", "reasoning_content"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorWeights(_Strict):
    """How often each kind of teacher error is picked when the teacher errs (relative weights).

    The three write kinds share each write's opportunity by weight; ``missing_figure`` > 0 turns
    on one opportunity per figure the task must communicate (its size does not matter).
    """

    wrong_argument: float = Field(1.0, ge=0, description="a write made with one argument wrong")
    write_before_yes: float = Field(1.0, ge=0, description="a write made before the user's yes")
    two_calls: float = Field(
        1.0, ge=0, description="two tool calls in one message (the write, then a variant of it with one argument wrong)"
    )
    missing_figure: float = Field(
        1.0, ge=0, description="a figure the task must communicate left out of every message that would say it"
    )


class TeacherBehaviour(_Strict):
    """How the simulated teacher answers (fleet-wide: replies depend on it)."""

    pass_rate: float = Field(
        1.0,
        ge=0,
        le=1,
        description="share of conversations meant to pass under τ²'s "
        "scoring; 1.0 plays the oracle without errors (length "
        "cuts and exhausted retries fail on top of it)",
    )
    errors: ErrorWeights = Field(default_factory=ErrorWeights)
    reasoning: Reasoning = Field(
        "none",
        description="none | think (a <think> block in the content) | "
        "reasoning_content (a separate field, as vLLM's parsers)",
    )
    truncation_rate: float = Field(0.0, ge=0, le=1, description="share of replies cut with finish_reason 'length'")


class UserBehaviour(_Strict):
    """How the simulated user simulator answers (fleet-wide)."""

    reasoning: Reasoning = "none"
    truncation_rate: float = Field(0.0, ge=0, le=1)


class Identify(_Strict):
    """What the fleet needs to tell which conversation a request belongs to.

    The pipeline sends a per-turn ``seed`` derived from (the role's sampling seed, the
    conversation seed, the conversation id, the role, the turn). The fleet tries these
    candidates to recover the conversation seed, which seeds the oracle's wording as in
    process; with no match it uses the first conversation seed.
    """

    sampling_seeds: list[int] = Field(
        default_factory=lambda: [0], description="the roles' sampling seeds (options.seed; default 0)"
    )
    conversation_seeds: list[int] = Field(
        default_factory=lambda: [DEFAULT_SEED], description="simulation.seed values of the runs served"
    )
    max_attempts: int = Field(8, ge=1, le=64, description="attempts per (task, script) to recognise")


class Tau2Tasks(_Strict):
    """τ²-bench's own tasks the fleet also plays (for rehearsing the evaluation; see ``tau2_tasks``)."""

    domains: list[str] = Field(
        default_factory=list, description="τ² domains whose tasks it plays (none: only the WRIT home's)"
    )
    split: str = Field("base", description="τ² task split (tau2.run.get_tasks)")


class Latency(_Strict):
    """Time a GPU server would take: ttft + prompt/prefill rate + output/decode rate, with jitter."""

    ttft_s: float = Field(0.04, ge=0, description="time to first token")
    prefill_tokens_per_s: float = Field(20000.0, gt=0, description="prompt tokens per second per sequence")
    decode_tokens_per_s: float = Field(50.0, gt=0, description="output tokens per second per sequence")
    jitter: float = Field(0.1, ge=0, le=1, description="uniform ±share of the drawn time")


class Faults(_Strict):
    """Faults a replica injects, each at a rate per request (drawn at random: they change no reply)."""

    http_5xx_rate: float = Field(0.0, ge=0, le=1, description="answer HTTP 503")
    timeout_rate: float = Field(0.0, ge=0, le=1, description="hold the request for stall_s, then 504")
    reset_rate: float = Field(0.0, ge=0, le=1, description="close the connection without an answer")
    stall_s: float = Field(
        180.0,
        gt=0,
        description="how long a timed-out request is held (longer than the "
        "client's timeout_s); not scaled by time_scale",
    )


class ReplicaSettings(_Strict):
    """Serving settings of one replica."""

    capacity: int = Field(64, ge=1, description="concurrent sequences; more requests queue")
    latency: Latency = Field(default_factory=Latency)
    faults: Faults = Field(default_factory=Faults)


class ReplicaOverride(_Strict):
    """Per-replica changes to the defaults (only serving settings: replies never depend on them)."""

    port: int | None = Field(None, ge=0, le=65535)
    capacity: int | None = Field(None, ge=1)
    latency: Latency | None = None
    faults: Faults | None = None


class FleetConfig(_Strict):
    """The whole fleet: behaviour (fleet-wide) and serving (per replica)."""

    replica_count: int = Field(2, ge=1, le=64, description="replicas, each on its own port")
    host: str = "127.0.0.1"
    port_base: int | None = Field(
        None, ge=1, le=65535, description="replica i listens on port_base + i; None picks free ports"
    )
    replica: ReplicaSettings = Field(default_factory=ReplicaSettings, description="every replica's defaults")
    replicas: list[ReplicaOverride] = Field(default_factory=list, description="overrides, replica by replica")
    time_scale: float = Field(1.0, ge=0, description="multiplies every simulated latency (0.01 for CPU benches)")
    seed: int = Field(0, description="behaviour seed: the teacher's error draws")
    teacher: TeacherBehaviour = Field(default_factory=TeacherBehaviour)
    user: UserBehaviour = Field(default_factory=UserBehaviour)
    identify: Identify = Field(default_factory=Identify)
    tau2: Tau2Tasks = Field(default_factory=Tau2Tasks)
    models: list[str] = Field(
        default_factory=lambda: [TEACHER_MODEL, USER_MODEL],
        description="model ids served (any of them plays either role: the role is read "
        "from the request's system prompt)",
    )
    catalogue_refresh_s: float = Field(2.0, ge=0, description="least time between two catalogue reloads")
    state_cache_size: int = Field(100_000, ge=0, description="conversation states kept between turns")

    @model_validator(mode="after")
    def _overrides_fit(self) -> FleetConfig:
        if len(self.replicas) > self.replica_count:
            raise ValueError(f"{len(self.replicas)} replica overrides for {self.replica_count} replicas")
        return self

    def replica_settings(self, index: int) -> ReplicaSettings:
        """Replica ``index``'s serving settings: the defaults with its overrides applied."""
        base = self.replica
        if index >= len(self.replicas):
            return base
        o = self.replicas[index]
        return ReplicaSettings(
            capacity=o.capacity or base.capacity, latency=o.latency or base.latency, faults=o.faults or base.faults
        )

    def replica_port(self, index: int) -> int:
        """Replica ``index``'s port (0: the OS picks a free one)."""
        if index < len(self.replicas) and self.replicas[index].port is not None:
            return int(self.replicas[index].port)  # type: ignore[arg-type]  # not None: checked above
        return self.port_base + index if self.port_base else 0


def load_fleet_config(source: str | Path | dict[str, Any] | None) -> FleetConfig:
    """A :class:`FleetConfig` from a YAML or JSON file (read bounded and strict, as ``writ run
    --config`` files are), a mapping, or None (the defaults)."""
    if source is None:
        return FleetConfig()
    if isinstance(source, dict):
        return FleetConfig.model_validate(source)
    return FleetConfig.model_validate(read_config_file(source))
