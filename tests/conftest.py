"""Shared fixtures: synthesized batches are costly enough to build once per session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the `gpu` extra's network-bound resolution now and run its test last (test_gpu_extra.py)."""
    late = [item for item in items if item.module.__name__ == "test_gpu_extra"]
    if not late or config.option.collectonly:
        return
    from test_gpu_extra import start_resolution

    folder = Path(tempfile.mkdtemp(prefix="writ-gpu-extra-"))
    config._writ_gpu_resolution = start_resolution(folder)  # type: ignore[attr-defined]
    items[:] = [item for item in items if item not in late] + late


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the background resolution if its test did not run to the end (deselected, -x, Ctrl-C)."""
    started = getattr(session.config, "_writ_gpu_resolution", None)
    if started is not None and started[0].poll() is None:
        started[0].kill()
        started[0].wait()
