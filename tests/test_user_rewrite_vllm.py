"""Slow: the instruction rewriter on a real in-process vLLM (CPU) with the locally built tiny model.

The tiny model cannot write a faithful rewrite, so this checks the plumbing a real model goes
through: one ``LLM.chat`` call per round for the whole batch, every answer judged by the checker,
every script either accepted or the rule-based variant, the counts adding up.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vllm is not installed (the 'llm' extra: pip install -e '.[llm]')"),
]

from writ_dagster.core.llm.sampling import Sampling  # noqa: E402
from writ_dagster.core.users import check_script, make_scripts  # noqa: E402
from writ_dagster.core.users.rewrite import rewrite_scripts  # noqa: E402
from writ_dagster.core.users.rewrite_backend import backend_generate  # noqa: E402


def test_rewriter_on_offline_vllm_batches_each_round_and_falls_back(airline_batch, request):
    from writ_dagster.core.llm.tiny_model import MODEL_DIR_ENV, ensure_tiny_model
    from writ_dagster.core.llm.vllm_offline import VLLMOfflineBackend

    model = ensure_tiny_model(os.environ.get(MODEL_DIR_ENV) or request.config.cache.mkdir("writ-tiny-model") / "model")
    records = {r.task_id: r for r in airline_batch[1].tasks}
    scripts = [s for r in airline_batch[1].tasks[:3] for s in make_scripts(r, 3, seed=2)]
    backend = VLLMOfflineBackend(model, sampling=Sampling(temperature=0.7, top_p=0.95, max_tokens=96, seed=1))
    try:
        outcome = rewrite_scripts(records, scripts, backend_generate(backend, records, scripts, seed=2), max_tries=2)
    finally:
        backend.close()
    f = outcome.figures
    assert f["rewrite_scripted"] == 6
    assert f["rewrite_accepted_first_try"] + f["rewrite_accepted_after_retry"] + f["rewrite_fallback_rule_based"] == 6
    assert backend.calls == f["rewrite_generation_calls"] <= 2  # one engine call per round, all prompts in it
    for script in outcome.scripts:
        assert check_script(records[script.task_id], script) == []
