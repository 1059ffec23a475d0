"""Shared fixtures: synthesized batches are costly enough to build once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from writ_dagster.core.tasks.models import BatchResult, SynthesisConfig  # noqa: E402
from writ_dagster.core.tasks.synthesis import Synthesizer  # noqa: E402


@pytest.fixture(scope="session")
def airline_batch() -> tuple[Synthesizer, BatchResult]:
    synth = Synthesizer("airline", SynthesisConfig(tasks_per_batch=40))
    return synth, synth.synthesize("t0000")


@pytest.fixture(scope="session")
def retail_batch() -> tuple[Synthesizer, BatchResult]:
    synth = Synthesizer("retail", SynthesisConfig(tasks_per_batch=40))
    return synth, synth.synthesize("t0000")
