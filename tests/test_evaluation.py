"""τ²-bench evaluation: pass^k and token figures against tau2's own metrics, storage, settings, and the
real ``evaluation`` asset (vLLM-served tiny agent vs the SmolLM2 user, through tau2's harness)."""

from __future__ import annotations

import math
import os
import shutil
import uuid
from pathlib import Path

import dagster as dg
import pytest

import writ_dagster.core.runtime  # noqa: F401  (before tau2)
from writ_dagster.assets.evaluation import EVALUATIONS_DIR, evaluation
from writ_dagster.core.evaluation.harness import Endpoint, run_info, trial_seeds
from writ_dagster.core.evaluation.metrics import pass_hat_k, pass_k, score, score_table_markdown
from writ_dagster.core.evaluation.models import EvalConfig, ModelScore
from writ_dagster.core.storage.checkpoints import COMPLETE_MARKER, CheckpointRecord, register_checkpoint
from writ_dagster.core.storage.evaluations import latest_evaluation_id, read_scores, write_scores
from writ_dagster.core.storage.schema import connect
from writ_dagster.resources.evaluation import EvaluationSettings
from writ_dagster.resources.storage import WritStorage

# Rewards per (task index, trial) of the hand-made results: task 0 always solved, task 1 in 2 of 3
# trials (one reward 1 - 1e-7, which tau2 counts as solved), task 2 never (0.5 is partial credit).
REWARDS = {0: [1.0, 1.0, 1.0], 1: [1.0, 0.0, 1.0 - 1e-7], 2: [0.0, 0.5, 0.0]}
# By hand: pass^1 = (1 + 2/3 + 0)/3, pass^2 = (1 + C(2,2)/C(3,2) + 0)/3, pass^3 = (1 + 0 + 0)/3.
EXPECTED_PASS = {1: 5 / 9, 2: 4 / 9, 3: 1 / 3}


def _hand_results():
    """A tau2 Results with 3 airline base tasks × 3 trials; agent turns carry known token usage."""
    from tau2.data_model.message import AssistantMessage, ToolCall, ToolMessage, UserMessage
    from tau2.data_model.simulation import Results, RewardInfo, SimulationRun, TerminationReason
    from tau2.run import get_tasks

    config = EvalConfig(domains=["airline"], num_tasks=3, num_trials=3)
    tasks = get_tasks("airline", task_split_name="base", num_tasks=3)
    agent = Endpoint(model="agent", base_url="http://127.0.0.1:1/v1")
    user = Endpoint(model="user", base_url="http://127.0.0.1:2/v1")
    sims = []
    for i, task in enumerate(tasks):
        for trial, reward in enumerate(REWARDS[i]):
            n = 10 * (i + 1) + trial  # completion tokens of each of the two agent turns
            messages = [
                AssistantMessage(role="assistant", content="Hi! How can I help you today?"),  # fixed greeting: no usage
                UserMessage(role="user", content="I need help.", usage={"completion_tokens": 7, "prompt_tokens": 99}),
                AssistantMessage(role="assistant", content=None, usage={"completion_tokens": n, "prompt_tokens": 100},
                                 tool_calls=[ToolCall(id="c1", name="get_user_details", arguments={"user_id": "x"})]),
                ToolMessage(id="c1", role="tool", content="Error: not found", requestor="assistant", error=True),
                AssistantMessage(role="assistant", content="Sorry.", usage={"completion_tokens": n, "prompt_tokens": 200}),
            ]
            sims.append(SimulationRun(
                id=f"{task.id}-{trial}", task_id=task.id, start_time="t", end_time="t", duration=1.0,
                termination_reason=TerminationReason.USER_STOP if reward else TerminationReason.MAX_STEPS,
                reward_info=RewardInfo(reward=reward), messages=messages, trial=trial, seed=trial))
    return Results(info=run_info("airline", agent, user, config), tasks=tasks, simulations=sims)


def test_pass_k_and_tokens_match_hand_values_and_tau2(tmp_path: Path) -> None:
    from tau2.data_model.simulation import Results
    from tau2.metrics.agent_metrics import compute_metrics
    from tau2.metrics.agent_metrics import pass_hat_k as tau2_pass_hat_k

    results = _hand_results()
    # The file round-trips through tau2's own loader, and the secret-free llm_args say so.
    path = tmp_path / "r.json"
    results.save(path)
    loaded = Results.load(path)
    assert "api_key" not in loaded.info.agent_info.llm_args and "api_key" not in loaded.info.user_info.llm_args

    figures = score(loaded)
    assert set(figures.pass_k) == {1, 2, 3}
    for k, value in EXPECTED_PASS.items():
        assert figures.pass_k[k] == pytest.approx(value)
    tau2 = compute_metrics(loaded)  # the benchmark's own pandas implementation
    assert {k: pytest.approx(v) for k, v in figures.pass_k.items()} == tau2.pass_hat_ks
    assert figures.avg_reward == pytest.approx(tau2.avg_reward)
    for n, c in [(3, 2), (5, 5), (4, 0)]:
        for k in range(1, n + 1):
            assert pass_hat_k(n, c, k) == pytest.approx(tau2_pass_hat_k(n, c, k))
    with pytest.raises(ValueError, match="k=4"):
        pass_hat_k(3, 3, 4)

    # Tokens: two agent turns of n completion tokens, n = 10(i+1) + trial; prompts 100 + 200.
    per_sim = [2 * (10 * (i + 1) + t) for i in range(3) for t in range(3)]
    assert figures.avg_agent_completion_tokens == pytest.approx(sum(per_sim) / 9)  # 42
    assert figures.avg_agent_prompt_tokens == pytest.approx(300)
    assert figures.avg_user_completion_tokens == pytest.approx(7)
    assert figures.avg_agent_turns == pytest.approx(3)  # the greeting counts as a turn, as tau2 stores it
    assert figures.n_tasks == 3 and figures.n_simulations == 9
    assert figures.termination_reasons == {"user_stop": 6, "max_steps": 3}  # reward 0.5 ended by the user too

    # Fewer trials of one task: k stops at that task's count, as tau2 does.
    loaded.simulations = [s for s in loaded.simulations if not (s.task_id == loaded.tasks[0].id and s.trial == 2)]
    assert set(pass_k(loaded)) == {1, 2} == set(compute_metrics(loaded).pass_hat_ks)

    table = score_table_markdown([("airline", "fine-tuned", figures), ("airline", "base", figures)])
    lines = table.splitlines()
    assert "pass^3" in lines[0] and lines[2].startswith("| airline | base |") and "fine-tuned" in lines[3]


def test_trial_seeds_are_tau2s_and_leave_the_global_rng_alone() -> None:
    import random

    random.seed(1)
    before = random.random()
    random.seed(1)
    seeds = trial_seeds(300, 3)
    assert random.random() == before
    random.seed(300)
    assert seeds == [random.randint(0, 1000000) for _ in range(3)]  # what tau2.run.run_tasks draws


def test_settings_are_validated_with_clear_messages() -> None:
    assert EvaluationSettings().eval_config().num_trials >= 1
    with pytest.raises(ValueError, match="unknown domain"):
        EvaluationSettings(domains=["telecom", "airline"]).eval_config()
    with pytest.raises(ValueError, match="not in domains"):
        EvaluationSettings(domains=["airline"], task_ids={"retail": ["1"]}).eval_config()
    with pytest.raises(ValueError, match="num_trials"):
        EvaluationSettings(num_trials=0).eval_config()
    from writ_dagster.core.evaluation.harness import select_tasks

    with pytest.raises(ValueError, match="airline"):
        select_tasks("airline", EvalConfig(task_ids={"airline": ["no-such-task"]}))
    chosen = select_tasks("retail", EvalConfig(task_ids={"retail": ["3", "1"]}))
    assert sorted(t.id for t in chosen) == ["1", "3"]


def test_scores_round_trip_through_the_evaluations_table(tmp_path: Path) -> None:
    figures = score(_hand_results())
    rows = [ModelScore(evaluation_id="e1", domain="airline", model_label=label, checkpoint_id=ck, model_path="m",
                       user_model="u", task_split="base", num_tasks=3, num_trials=3, figures=figures,
                       results_path=f"/r/{label}.json", config_json="{}", timings={"conversations_s": 1.5})
            for label, ck in (("base", None), ("fine-tuned", "ck1"))]
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        write_scores(con, rows)
        write_scores(con, rows)  # same evaluation again: replaced, not doubled
        with pytest.raises(ValueError, match="duplicate"):
            write_scores(con, rows + rows[:1])
        assert latest_evaluation_id(con) == "e1"
        back = {s.score.model_label: s.score for s in read_scores(con, "e1")}
        raw = con.execute("SELECT model_label, pass_k_json, avg_agent_tokens FROM evaluations "
                          "ORDER BY model_label").fetchall()
    assert set(back) == {"base", "fine-tuned"} and len(raw) == 2
    assert back["fine-tuned"] == rows[1] and back["base"].checkpoint_id is None
    assert raw[0][2] == pytest.approx(42.0) and '"3"' in raw[0][1]


def test_asset_without_a_checkpoint_fails_before_serving_anything(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WRIT_HOME", str(tmp_path / "home"))
    db = tmp_path / "w.duckdb"
    result = dg.materialize([evaluation], raise_on_error=False, instance=dg.DagsterInstance.ephemeral(),
                            resources={"storage": WritStorage(database=str(db)),
                                       "evaluation_settings": EvaluationSettings()})
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "no registered checkpoint" in str(failure.step_failure_data.error)
    assert not (tmp_path / "home" / EVALUATIONS_DIR).exists()


# -- the real thing: vLLM servers, the SmolLM2 user, tau2's harness, Dagster ---------------------------

def _marked_processes(marker: str) -> list[int]:
    """Live processes (other than this one) whose environment carries ``marker``: everything we started."""
    found = []
    needle = f"WRIT_EVAL_TEST_MARKER={marker}".encode()
    for env in Path("/proc").glob("[0-9]*/environ"):
        pid = int(env.parent.name)
        if pid == os.getpid():
            continue
        try:
            state = (env.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z" and needle in env.read_bytes().split(b"\0"):
                found.append(pid)
        except (OSError, IndexError):
            continue
    return found


@pytest.mark.slow
def test_evaluation_asset_serves_plays_scores_and_stores(tmp_path: Path, monkeypatch, request) -> None:
    pytest.importorskip("vllm")
    pytest.importorskip("gguf")
    from tau2.data_model.simulation import Results
    from tau2.metrics.agent_metrics import compute_metrics

    from writ_dagster.core.llm.tiny_model import MODEL_DIR_ENV, ensure_tiny_model
    from writ_dagster.core.llm.user_models import MODELS_DIR_ENV, smollm2_gguf

    smollm2_gguf()  # the packaged weights must be there (fails with what to install)
    tiny = ensure_tiny_model(os.environ.get(MODEL_DIR_ENV) or request.config.cache.mkdir("writ-tiny-model") / "model")
    monkeypatch.setenv(MODELS_DIR_ENV, os.environ.get(MODELS_DIR_ENV)
                       or str(request.config.cache.mkdir("writ-user-models")))
    home = tmp_path / "home"
    monkeypatch.setenv("WRIT_HOME", str(home))
    marker = uuid.uuid4().hex
    monkeypatch.setenv("WRIT_EVAL_TEST_MARKER", marker)

    # The "fine-tuned" checkpoint is a complete copy of the tiny model; the base model is the tiny model.
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny, ckpt)
    (ckpt / COMPLETE_MARKER).write_text("{}")
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        register_checkpoint(con, CheckpointRecord(checkpoint_id="ck-test", sft_version="sft-test", recipe="cpu-tiny",
                                                  recipe_json="{}", base_model=str(tiny), path=str(ckpt), steps=1,
                                                  train_rows=1))

    settings = EvaluationSettings(num_tasks=1, num_trials=2, max_steps=10, max_errors=3, concurrency=2)
    result = dg.materialize([evaluation], instance=dg.DagsterInstance.ephemeral(),
                            resources={"storage": WritStorage(database=str(db)), "evaluation_settings": settings})
    assert result.success
    assert _marked_processes(marker) == [], "a server process outlived the asset"

    [mat] = result.asset_materializations_for_node("evaluation")
    meta = {k: v.value for k, v in mat.metadata.items()}
    evaluation_id = meta["evaluation_id"]
    table = meta["scores"].splitlines()
    assert "pass^1" in table[0] and "pass^2" in table[0] and len(table) == 2 + 4
    assert [line.split("|")[1:3] for line in table[2:]] == [
        [" airline ", " base "], [" airline ", " fine-tuned "], [" retail ", " base "], [" retail ", " fine-tuned "]]
    out_dir = home / EVALUATIONS_DIR / evaluation_id
    for log in ("user", "agent-base", "agent-fine-tuned"):  # three servers really ran
        assert (out_dir / "logs" / f"{log}.log").stat().st_size > 0

    with connect(db, read_only=True) as con:
        stored = [s.score for s in read_scores(con, evaluation_id)]
    assert sorted((s.domain, s.model_label) for s in stored) == [
        ("airline", "base"), ("airline", "fine-tuned"), ("retail", "base"), ("retail", "fine-tuned")]
    for s in stored:
        path = Path(s.results_path)
        assert path == out_dir / f"{s.model_label}_{s.domain}.json"
        results = Results.load(path)  # tau2's own loader
        assert results.info.environment_info.domain_name == s.domain and len(results.simulations) == 2
        assert results.info.agent_info.llm.startswith("openai/") and "api_key" not in results.info.agent_info.llm_args
        f = s.figures
        assert sorted(f.pass_k) == [1, 2] and all(0.0 <= v <= 1.0 for v in f.pass_k.values())
        tau2 = compute_metrics(results)
        assert {k: pytest.approx(v) for k, v in f.pass_k.items()} == tau2.pass_hat_ks
        assert math.isclose(f.avg_reward, tau2.avg_reward)
        assert f.avg_agent_completion_tokens > 0 and f.avg_agent_prompt_tokens > 0, (s.domain, s.model_label, f)
        assert f.failed_runs == 0, f
        assert s.checkpoint_id == ("ck-test" if s.model_label == "fine-tuned" else None)
        assert s.model_path == (str(ckpt) if s.model_label == "fine-tuned" else str(tiny))
        # Conversations really happened: the SmolLM2 user spoke and the agent answered.
        sim = results.simulations[0]
        assert any(m.role == "user" and m.content for m in sim.messages)
        assert sum(1 for m in sim.messages if m.role == "assistant" and m.usage) >= 1
