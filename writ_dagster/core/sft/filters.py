"""Why a trajectory is left out of an SFT set: one name per filter, in the order the filters apply."""

from __future__ import annotations

from collections.abc import Mapping

from writ_dagster.core.sft.compliance import REASONS

NO_TASK = "task not found"
TASK_REMADE = "task re-made since simulated"
SCRIPT_REMADE = "user script re-made since simulated"
TRUNCATED = "turn cut at the token limit"
NOT_SCORED = "not scored (ended early or scoring failed)"
LOW_REWARD = "reward below threshold"
MALFORMED = "malformed tool calls"
TOO_MANY_MESSAGES = "too many messages"
TOO_LONG = "too long"
COLLIDES = "collides with a τ²-bench base task"
NEAR_DUPLICATE = "near-duplicate"
OVER_MAX_LENGTH = "longer than the training recipe's max_length"
OUTSIDE_MIXTURE = "outside the mixture"
FILTERS: tuple[str, ...] = (
    NO_TASK,
    TASK_REMADE,
    SCRIPT_REMADE,
    TRUNCATED,
    NOT_SCORED,
    LOW_REWARD,
    MALFORMED,
    TOO_MANY_MESSAGES,
    TOO_LONG,
    *REASONS,
    COLLIDES,
    NEAR_DUPLICATE,
    OVER_MAX_LENGTH,
    OUTSIDE_MIXTURE,
)


def every_filter(dropped: Mapping[str, int]) -> dict[str, int]:
    """``dropped`` with every filter named, zeros included, in the order the filters apply."""
    return {name: dropped.get(name, 0) for name in FILTERS} | {k: v for k, v in dropped.items() if k not in FILTERS}
