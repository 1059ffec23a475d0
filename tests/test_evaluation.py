"""τ²-bench evaluation: pass^k and token figures against tau2's own metrics, storage, settings, and the
asset's refusal without a checkpoint. The real thing (vLLM-served checkpoint and base model vs the
SmolLM2 user, through tau2's harness) is the default run's evaluation, checked in test_whole_graph.py."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from writ_dagster.assets.evaluation import EVALUATIONS_DIR, evaluation
from writ_dagster.core.evaluation.harness import Endpoint, run_info, trial_seeds
from writ_dagster.core.evaluation.metrics import pass_hat_k, pass_k, score, score_table_markdown
from writ_dagster.core.evaluation.models import EvalConfig, ModelScore
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


def test_rows_stored_before_errors_were_counted_apart_still_read() -> None:
    """Older rows' figures say ``failed_runs`` (then scored 0 within pass^k): read as errors, and every
    other simulation as one that ran."""
    from writ_dagster.core.evaluation.models import ScoreFigures

    old = {"pass_k": {"1": 0.0}, "avg_reward": 0.0, "n_tasks": 2, "n_simulations": 4, "avg_agent_completion_tokens": 0.0,
           "avg_agent_prompt_tokens": 0.0, "failed_runs": 4}
    figures = ScoreFigures.model_validate(old)
    assert (figures.errors, figures.conversations_ran, figures.measured) == (4, 0, False)
    figures = ScoreFigures.model_validate(old | {"failed_runs": 1})
    assert (figures.errors, figures.conversations_ran, figures.first_error) == (1, 3, None)
