"""Shared fixtures: synthesized batches are costly enough to build once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers share the cores: one OpenMP thread per worker (and per process it starts), or torch's
    # spinning threads oversubscribe them (a training test ran 4x slower beside another worker).
    os.environ.setdefault("OMP_NUM_THREADS", "1")

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


FIRST = ("test_default_run_gold", "test_model_roles_vllm", "test_dagster_webserver", "test_stop_signals",
         "test_one_writer", "test_training", "test_llm_vllm", "test_user_rewrite_vllm")
LAST = ("test_trace", "test_show", "test_labels", "test_whole_graph")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the session, and start the `gpu` extra's network-bound resolution now and run its test last
    (test_gpu_extra.py).

    Under pytest-xdist every worker collects the same items; only the first starts pip."""
    # Longest first, so two workers end together: the default run (~6 min) starts at once beside the rest,
    # the other modules that read it come last (by then it is there, no worker waits on its lock).
    rank = {name: i for i, name in enumerate(FIRST)} | {name: len(FIRST) + 1 + i for i, name in enumerate(LAST)}
    items.sort(key=lambda item: rank.get(item.module.__name__, len(FIRST)))  # stable: the rest keep their order
    late = [item for item in items if item.module.__name__ == "test_gpu_extra"]
    if not late or config.option.collectonly:
        return
    items[:] = [item for item in items if item not in late] + late
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") == "gw0":
        from test_gpu_extra import resolution_dir, start_resolution

        start_resolution(resolution_dir(config))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the background resolution if its test did not run to the end (deselected, -x, Ctrl-C); under
    xdist, only once every worker is done (in the controlling process)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if getattr(session.config, "_tmp_path_factory", None) is None or session.config._tmp_path_factory._basetemp is None:
        return  # no temporary folder was made this session, so no resolution was started in one
    from test_gpu_extra import resolution_dir, stop_resolution

    stop_resolution(resolution_dir(session.config))
