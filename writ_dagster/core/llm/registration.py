"""The LLM backends under names in the simulation's backend registry.

``TrajectoryConfig(agent_backend="vllm-offline", agent_options={"model": "tiny"})`` and
``agent_backend="openai-compatible", agent_options={"base_urls": [...], "model": ...,
"api_key_env": "MY_KEY_VAR"}`` select them. ``model="tiny"`` means the locally built tiny
model (:func:`~writ_dagster.core.llm.tiny_model.ensure_tiny_model`). Options are plain JSON
values, so they can come from run config; secrets only by variable name.
"""

from __future__ import annotations

from typing import Any, Sequence

from writ_dagster.core.llm.openai_client import OpenAICompatibleBackend, RetryPolicy
from writ_dagster.core.llm.sampling import Sampling

TINY = "tiny"


def resolve_model(model: str) -> str:
    """A model path, with ``"tiny"`` standing for the locally built tiny model."""
    if model == TINY:
        from writ_dagster.core.llm.tiny_model import ensure_tiny_model

        return str(ensure_tiny_model())
    return model


def vllm_offline(
    model: str = TINY,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_tokens: int = 256,
    seed: int = 0,
    **engine_kwargs: Any,
):
    """Factory of :class:`~writ_dagster.core.llm.vllm_offline.VLLMOfflineBackend`."""
    from writ_dagster.core.llm.vllm_offline import VLLMOfflineBackend

    return VLLMOfflineBackend(
        resolve_model(model), sampling=Sampling(temperature, top_p, max_tokens, seed), **engine_kwargs
    )


def openai_compatible(
    base_urls: str | Sequence[str],
    model: str,
    api_key_env: str | None = None,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_tokens: int = 256,
    seed: int = 0,
    max_retries: int = 4,
    backoff_s: float = 0.25,
    backoff_max_s: float = 8.0,
    timeout_s: float = 120.0,
    max_connections: int = 256,
    reasoning_model: bool = False,
) -> OpenAICompatibleBackend:
    """Factory of :class:`~writ_dagster.core.llm.openai_client.OpenAICompatibleBackend`.

    ``reasoning_model=True`` sends ``max_tokens`` as ``max_completion_tokens`` and leaves out
    temperature, top_p and seed, which OpenAI's reasoning models refuse.
    """
    if not isinstance(reasoning_model, bool):  # options come from YAML/JSON: "false" must not mean True
        raise ValueError(f"reasoning_model must be true or false, got {reasoning_model!r}")
    return OpenAICompatibleBackend(
        base_urls,
        model,
        api_key_env=api_key_env,
        sampling=Sampling(temperature, top_p, max_tokens, seed, reasoning_model),
        retry=RetryPolicy(max_retries, backoff_s, backoff_max_s, timeout_s),
        max_connections=max_connections,
    )


def register() -> None:
    """Register both backends (idempotent)."""
    from writ_dagster.core.simulation.registry import register_backend

    register_backend(
        "vllm-offline",
        vllm_offline,
        replace=True,
        description="in-process vLLM (LLM.chat), one batched call per engine step",
    )
    register_backend(
        "openai-compatible",
        openai_compatible,
        replace=True,
        description="OpenAI-compatible chat server(s), round-robin, retries with backoff",
    )
