"""Shared helpers of the storage, Dagster and CLI tests (tests/conftest.py belongs to the composers)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from writ_dagster.core.tasks.models import BatchResult, SynthesisConfig
from writ_dagster.core.tasks.synthesis import Synthesizer

SMALL = SynthesisConfig(tasks_per_batch=8)  # keeps the suite fast


@cache
def small_airline_batches() -> dict[str, BatchResult]:
    """Two small airline batches, b0000 and b0001 (built once per test session)."""
    synth = Synthesizer("airline", SMALL)
    return {b: synth.synthesize(b) for b in ("b0000", "b0001")}


def use_writ_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point WRIT_HOME at a fresh directory; unset DAGSTER_HOME so it defaults to WRIT_HOME/dagster."""
    home = tmp_path / "writ-home"
    monkeypatch.setenv("WRIT_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return home
