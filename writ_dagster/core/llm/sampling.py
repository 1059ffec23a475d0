"""Sampling settings shared by the LLM backends, and the per-turn seed that makes runs repeatable."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from writ_dagster.core.simulation.protocol import ConversationView
from writ_dagster.core.tasks.synthesis import derive_seed

# What an OpenAI-style request may carry for sampling; the names an endpoint can refuse.
SAMPLING_REQUEST_KEYS = ("temperature", "top_p", "seed", "max_tokens", "max_completion_tokens")


@dataclass(frozen=True)
class Sampling:
    """How a model is sampled. ``seed`` is mixed with each conversation and turn, so a
    conversation's turns are reproducible whatever else is in the batch or in flight.

    ``reasoning_model``: the endpoint serves a reasoning model that, like OpenAI's, refuses
    ``max_tokens`` and sampling settings: requests then carry ``max_completion_tokens`` (set
    to ``max_tokens``) and no temperature, top_p or seed, so the model samples its own way.
    """

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int = 0
    reasoning_model: bool = False

    def as_dict(self) -> dict[str, Any]:
        """What the model was sampled with, as recorded with each trajectory.

        Without ``reasoning_model`` this is exactly the four settings, as before the option
        existed, so stored trajectories keep their resume keys.
        """
        if self.reasoning_model:
            return {"reasoning_model": True, "max_completion_tokens": self.max_tokens}
        body = asdict(self)
        del body["reasoning_model"]
        return body


def request_sampling(sampling: Sampling, view: ConversationView) -> dict[str, Any]:
    """The sampling part of one chat-completions request (see :class:`Sampling`)."""
    if sampling.reasoning_model:
        return {"max_completion_tokens": sampling.max_tokens}
    return {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        "seed": turn_seed(sampling, view),
    }


def turn_seed(sampling: Sampling, view: ConversationView) -> int:
    """The seed of one request: (backend seed, conversation seed, conversation id, turn)."""
    return derive_seed(sampling.seed, view.seed, view.conv_id, view.role, len(view.messages)) & 0x7FFFFFFF


def usage_of(prompt_tokens: int | None, completion_tokens: int | None) -> dict[str, int] | None:
    """A ``Reply.usage`` dict, or None when the model reported nothing."""
    if prompt_tokens is None and completion_tokens is None:
        return None
    return {"prompt_tokens": int(prompt_tokens or 0), "completion_tokens": int(completion_tokens or 0)}


def model_label(model: str | Path) -> str:
    """A model's name in records: the folder's name, plus the build digest of a locally built
    tiny model (so a rebuilt model is a different backend to resume logic)."""
    path = Path(model)
    try:
        digest = json.loads((path / "writ-tiny-model.json").read_text())["digest"]
    except (OSError, ValueError, KeyError):
        return path.name
    return f"{path.name}@{digest}"
