"""What a trajectories run is configured with: backends, script variants, seed, concurrency.

One validated model for the CLI, the Dagster resource and notebooks. Impossible values
(no variants, no concurrency, an unknown backend) are refused here, before anything runs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from writ_dagster.core.limits import (
    MAX_ATTEMPTS_PER_TASK,
    MAX_CONCURRENCY,
    MAX_STEPS,
    MAX_VARIANTS,
    MAX_WORKERS,
    SEED_MAX,
    SEED_MIN,
)
from writ_dagster.core.secrets import check_no_secrets, is_secret_name, redact_url
from writ_dagster.core.settings_model import SettingsModel
from writ_dagster.core.simulation.attempts import AttemptPolicy
from writ_dagster.core.simulation.records import SimulationConfig
from writ_dagster.core.simulation.registry import check_options, get_backend_spec

DEFAULT_SEED = 20260602
_MAXIMA = {
    "variants": MAX_VARIANTS,
    "workers": MAX_WORKERS,
    "max_concurrency": MAX_CONCURRENCY,
    "max_steps": MAX_STEPS,
    "max_errors": MAX_STEPS,
    "attempts": MAX_ATTEMPTS_PER_TASK,
}
_ENGINE = SimulationConfig()


class TrajectoryConfig(SettingsModel):
    """Settings of user-script generation and simulation for one domain × batch partition."""

    model_config = ConfigDict(extra="forbid")

    agent_backend: str = Field("scripted-oracle", description="registered agent backend name")
    user_backend: str = Field("scripted-user", description="registered user backend name")
    agent_options: dict[str, Any] = Field(default_factory=dict, description="keyword options of the agent backend")
    user_options: dict[str, Any] = Field(default_factory=dict, description="keyword options of the user backend")
    variants: int = Field(2, description="user scripts per task, variant 0 (the canonical instruction) included")
    seed: int = Field(DEFAULT_SEED, description="seed of the user scripts and of every conversation")
    max_concurrency: int = Field(_ENGINE.max_concurrency, description="conversations in flight at once")
    workers: int = Field(1, description="worker processes for CPU-bound (scripted) backends; 1 = this process")
    max_steps: int = Field(_ENGINE.max_steps, description="tau2 steps before a conversation ends as MAX_STEPS")
    max_errors: int = Field(_ENGINE.max_errors, description="tool errors before TOO_MANY_ERRORS")
    attempts: int = Field(
        1,
        description="tries per (task, user script), each with its own seed derived from the "
        "script seed and the attempt index",
    )
    stop_on_pass: bool = Field(
        True, description="stop a (task, script) at its first passing attempt; False: run all its attempts"
    )
    keep_passing: int | None = Field(
        None, description="stop a (task, script) once this many attempts pass (overrides stop_on_pass; for diversity)"
    )
    pass_needs_compliance: bool = Field(
        True,
        description="an attempt passes only if it scores 1.0 *and* keeps the "
        "policy rules the SFT filter enforces (one call per message, "
        "a stated yes before each write); False: reward alone",
    )
    resume: bool = Field(
        True,
        description="keep stored trajectories made from the same inputs and backends "
        "and simulate only the missing ones; False re-simulates the partition",
    )

    @field_validator("variants", "max_concurrency", "workers", "max_steps", "max_errors", "attempts", "keep_passing")
    @classmethod
    def _at_least_one(cls, value: int | None, info: Any) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"{info.field_name} must be at least 1, got {value}")
        most = _MAXIMA.get(info.field_name)
        if most is not None and value is not None and value > most:  # (fields with a maximum are never None)
            raise ValueError(f"{info.field_name} must be at most {most}, got {value}")
        return value

    @field_validator("seed")
    @classmethod
    def _seed_fits(cls, value: int) -> int:
        if not SEED_MIN <= value <= SEED_MAX:
            raise ValueError(f"seed must fit in a signed 64-bit integer ({SEED_MIN} to {SEED_MAX})")
        return value

    @field_validator("agent_backend")
    @classmethod
    def _known_agent(cls, name: str) -> str:
        get_backend_spec(name, "agent")  # UnknownBackendError is a ValueError: pydantic reports it
        return name

    @field_validator("user_backend")
    @classmethod
    def _known_user(cls, name: str) -> str:
        get_backend_spec(name, "user")
        return name

    @model_validator(mode="after")
    def _known_options(self) -> "TrajectoryConfig":
        # Checked here, not when the trajectories step creates the backends: nothing is written first.
        check_no_secrets("agent_options", self.agent_options)
        check_no_secrets("user_options", self.user_options)
        check_options(self.agent_backend, "agent", self.agent_options)
        check_options(self.user_backend, "user", self.user_options)
        return self

    def engine_config(self) -> SimulationConfig:
        """The conversation engine's limits."""
        return SimulationConfig(
            max_steps=self.max_steps, max_errors=self.max_errors, max_concurrency=self.max_concurrency
        )

    def attempt_policy(self) -> AttemptPolicy:
        """How many attempts each (task, script) may take and how many passes it keeps."""
        wanted = self.keep_passing if self.keep_passing is not None else 1 if self.stop_on_pass else self.attempts
        # compliance only decides whether to try again: with one attempt there is nothing to decide
        return AttemptPolicy(
            attempts=self.attempts,
            wanted_passes=min(wanted, self.attempts),
            needs_compliance=self.pass_needs_compliance and self.attempts > 1,
        )

    def content_hash(self) -> str:
        """Hash of the settings that can change stored rows (not concurrency, workers or resume)."""
        exclude = {"max_concurrency", "workers", "resume"}
        # attempt settings left at their defaults hash as before they existed (same stage-run rows)
        exclude |= {f for f in _ATTEMPT_FIELDS if getattr(self, f) == type(self).model_fields[f].default}
        body = self.model_dump(mode="json", exclude=exclude)
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    def public_json(self) -> str:
        """The settings as JSON for storage, with option values that look like secrets masked."""
        body = self.model_dump(mode="json")
        for key in ("agent_options", "user_options"):
            body[key] = {k: ("***" if is_secret_name(k) else _redact(v)) for k, v in body[key].items()}
        return json.dumps(body, sort_keys=True)


_ATTEMPT_FIELDS = ("attempts", "stop_on_pass", "keep_passing", "pass_needs_compliance")


def _redact(value: Any) -> Any:
    """A stored option value with any URL's credentials removed (the validator refuses them; this
    also covers settings built without it, e.g. ``model_construct``)."""
    if isinstance(value, str):
        return redact_url(value) if "://" in value else value
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value
