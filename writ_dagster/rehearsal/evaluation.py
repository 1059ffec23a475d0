"""The evaluation stage rehearsed against the simulated fleet: τ²'s protocol with no model and no GPU.

:func:`rehearse_evaluation` runs the ``evaluation`` stage's own code
(:func:`writ_dagster.core.stages.evaluation.evaluate_checkpoint`: τ²'s harness through litellm,
one tau2 results file per model and domain, the stage's figures) with the evaluated model and the
user simulator served by ``writ-simulated-fleet`` (``agent_base_urls`` / ``user_base_url``, so no
vLLM server is started). The stage reads which checkpoint to evaluate from the database; a
rehearsal has none (training needs the GPUs), so the checkpoint it evaluates is
:data:`SIMULATED_CHECKPOINT`, a record that says it is the fleet and is never registered anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from writ_dagster.core.storage.checkpoints import CheckpointRecord
from writ_dagster.rehearsal.config import TEACHER_MODEL

SIMULATED_CHECKPOINT = CheckpointRecord(
    checkpoint_id="writ-simulated-fleet",
    sft_version="none: a simulation",
    recipe="simulated",
    recipe_json='{"simulated": true}',
    base_model=TEACHER_MODEL,
    path=TEACHER_MODEL,
    steps=0,
    train_rows=0,
)


def rehearse_evaluation(config: Any, out_dir: Path, log: Callable[[str], None] | None = None) -> Any:
    """Run the evaluation stage's :func:`evaluate_checkpoint` for ``config`` (an ``EvalConfig`` whose
    endpoints are the fleet's) into ``out_dir``; returns its ``EvaluationRun``.

    Refuses a config that would start a vLLM server here: every evaluated model and the user simulator
    must be endpoints."""
    from writ_dagster.core.stages.evaluation import (
        evaluate_checkpoint,
        models_to_evaluate,
    )

    served_here = [
        label for label, _ in models_to_evaluate(SIMULATED_CHECKPOINT, config) if label not in config.agent_endpoints
    ]
    if served_here or config.user.served_here:
        who = ", ".join([*served_here, *(["the user simulator"] if config.user.served_here else [])])
        raise ValueError(
            f"a rehearsal starts no vLLM server, but no endpoint is set for {who} "
            "(evaluation.agent_base_urls / agent_base_url / user_base_url)"
        )
    return evaluate_checkpoint(SIMULATED_CHECKPOINT, config, out_dir, log=log)


def point_at(config: Any, agent_url: str, user_url: str) -> Any:
    """``config`` with the evaluated models and the user simulator at these URLs (a fleet on free ports)."""
    endpoints = {
        label: spec.model_copy(update={"base_url": agent_url}) for label, spec in config.agent_endpoints.items()
    }
    user = config.user.model_copy(update={"base_url": user_url})
    return config.model_copy(update={"agent_endpoints": endpoints, "user": user})
