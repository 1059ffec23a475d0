"""Records of simulation that cross a boundary: configuration and finished trajectories."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from writ_dagster.core.limits import MAX_STEPS
from writ_dagster.core.settings_model import SettingsModel
from writ_dagster.core.tau2_adapter import (
    AssistantMessage,
    Message,
    SystemMessage,
    TerminationReason,
    ToolMessage,
    UserMessage,
)

# Our own ends of a conversation, beside tau2's TerminationReason values: a turn cut by the
# token limit. tau2 has no such reason; to its evaluator and in results files they are the
# error of the side that was cut (an unfinished turn is not a turn tau2 would score).
AGENT_TRUNCATED = "agent_truncated"
USER_TRUNCATED = "user_truncated"
TRUNCATED_REASONS = {AGENT_TRUNCATED: TerminationReason.AGENT_ERROR, USER_TRUNCATED: TerminationReason.USER_ERROR}
REASONING_KEY = "reasoning_content"  # where a message's reasoning text is kept, inside its raw_data


def tau2_termination(reason: str) -> TerminationReason:
    """The tau2 ``TerminationReason`` of a stored termination reason (ours map to tau2's errors)."""
    return TRUNCATED_REASONS.get(reason) or TerminationReason(reason)


class SimulationConfig(SettingsModel):
    """Limits and protocol choices of the conversation engine (tau2's defaults)."""

    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(
        200, ge=1, le=MAX_STEPS, description="tau2 orchestrator steps (agent, user, tool round) before MAX_STEPS"
    )
    max_errors: int = Field(10, ge=1, le=MAX_STEPS, description="tool errors before TOO_MANY_ERRORS")
    max_concurrency: int = Field(64, ge=1, description="conversations in flight at once")
    mixed_message: Literal["drop_content", "error"] = Field(
        "drop_content",
        description="an agent message with text and tool calls: keep the calls only (counted), "
        "or end the conversation as AGENT_ERROR (tau2 with validate_communication)",
    )
    agent_can_stop: bool = Field(
        False,
        description="whether '###STOP###' from the agent ends the run (tau2's LLMAgent never stops; the user does)",
    )
    deterministic_timestamps: bool = Field(
        True, description="stamp messages 1 s apart from a fixed start, so re-running gives identical rows"
    )

    def content_hash(self) -> str:
        """Hash of the settings that can change a trajectory (concurrency cannot)."""
        return hashlib.sha256(self.model_dump_json(exclude={"max_concurrency"}).encode()).hexdigest()[:16]


class ModelInfo(BaseModel):
    """Who played a role: a scripted backend or a model, with its sampling parameters."""

    name: str
    kind: Literal["scripted", "llm"]
    sampling: dict[str, Any] = Field(default_factory=dict)


class TokenUsage(BaseModel):
    """Token counts of a trajectory's generated messages.

    ``kind`` says what was counted: 'model' (reported by the model server), 'whitespace'
    (scripted text split on whitespace, a rough stand-in), or 'mixed'.
    """

    kind: Literal["model", "whitespace", "mixed", "none"]
    agent_prompt_tokens: int = 0
    agent_completion_tokens: int = 0
    user_prompt_tokens: int = 0
    user_completion_tokens: int = 0


class TrajectoryRecord(BaseModel):
    """One simulated conversation, scored, with its provenance."""

    trajectory_id: str = Field(description="deterministic from task_id, script_id and seed")
    task_id: str
    script_id: str
    domain: str
    partition: str
    seed: int
    variant: int
    attempt: int = Field(0, description="which attempt at this (task, script) it is; its seed derives from it")
    has_user_script: bool
    trajectory_type: str
    messages: list[dict[str, Any]] = Field(
        description="tau2 message dicts (model_dump mode=json), usage on each; "
        "a model's reasoning text in raw_data.reasoning_content"
    )
    reward: float = Field(description="tau2's evaluate_simulation reward, computed with the fast Verifier")
    score_error: str | None = Field(None, description="why scoring failed (reward is then 0)")
    backend_error: str | None = Field(
        None,
        description="why a backend gave no turn (endpoint down after retries, ...): the conversation then "
        "ended as AGENT_ERROR or USER_ERROR",
    )
    termination_reason: str = Field(
        description="tau2 TerminationReason value, or agent_truncated / user_truncated: a turn cut by the token limit"
    )
    n_turns: int = Field(description="user and assistant messages (tool results not counted)")
    n_tool_calls: int
    n_tool_errors: int
    n_steps: int = Field(description="tau2 orchestrator steps taken")
    malformed: dict[str, int] = Field(default_factory=dict, description="malformed model outputs by kind")
    usage: TokenUsage
    latency_s: float = Field(description="wall time of the conversation, backends included (not deterministic)")
    agent: ModelInfo
    user: ModelInfo
    lineage: dict[str, str] = Field(default_factory=dict)

    def tau2_messages(self) -> list[Message]:
        """The messages as tau2 objects (for tau2's evaluator or results files)."""
        return load_messages(self.messages)

    def content_hash(self) -> str:
        """sha256 of everything but the wall-clock latency: equal for equal conversations."""
        # attempt 0 hashes as before the field existed: a one-attempt run's rows stay the same
        body = self.model_dump(mode="json", exclude={"latency_s"} | ({"attempt"} if self.attempt == 0 else set()))
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def resume_key(self) -> str:
        """The inputs this record was made from (see :func:`resume_key`)."""
        return resume_key(
            self.lineage.get("task_content_hash", ""),
            self.lineage.get("script_content_hash", ""),
            self.seed,
            self.agent,
            self.user,
            self.lineage.get("engine_config_hash", ""),
        )


def trajectory_id(task_id: str, script_id: str, seed: int) -> str:
    """Deterministic trajectory id."""
    digest = hashlib.sha256(f"{task_id}\x1f{script_id}\x1f{seed}".encode()).hexdigest()[:20]
    return f"traj-{digest}"


def resume_key(task_hash: str, script_hash: str, seed: int, agent: ModelInfo, user: ModelInfo, engine_hash: str) -> str:
    """A digest of what determines a trajectory: task and script content, seed, both backends
    (name, kind, sampling) and the engine's limits.

    A stored trajectory counts as done on resume only if its key equals the planned job's, so
    a changed task, script, backend or limit is simulated again instead of silently kept. The
    code version is left out on purpose: editing code must not throw away costly model runs.
    """
    body = json.dumps(
        [task_hash, script_hash, seed, agent.model_dump(mode="json"), user.model_dump(mode="json"), engine_hash],
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()[:32]


_ROLES = {"assistant": AssistantMessage, "user": UserMessage, "tool": ToolMessage, "system": SystemMessage}


def load_messages(dicts: list[dict[str, Any]]) -> list[Message]:
    """tau2 messages from their JSON dicts."""
    return [_ROLES[d["role"]].model_validate(d) for d in dicts]


def dump_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """JSON dicts of tau2 messages."""
    return [json.loads(m.model_dump_json()) for m in messages]
