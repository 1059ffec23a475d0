"""The fast verifier gives tau2's evaluator's verdicts, on gold and on broken plans."""

from __future__ import annotations

import random

import pytest
from tau2.data_model.message import ToolMessage
from tau2.data_model.tasks import Task
from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation

from writ_dagster.core.domains.verify import gold_messages, simulation_run
from writ_dagster.core.tasks.mutations import MUTATIONS, mutate
from writ_dagster.core.tasks.synthesis import closing_message


@pytest.mark.parametrize("domain_name,batch", [("airline", "airline_batch"), ("retail", "retail_batch")])
def test_scores_agree_with_tau2(domain_name: str, batch: str, request: pytest.FixtureRequest) -> None:
    synth, result = request.getfixturevalue(batch)
    rng = random.Random(11)
    verdicts = []
    for rec in result.tasks[:8]:
        task = Task.model_validate(rec.task)
        for plan in [rec.gold_actions] + [mutate(rec.gold_actions, k, rng) for k in MUTATIONS]:
            if plan is None:
                continue
            run = synth.verifier.execute([(s.name, s.arguments) for s in plan], track_changes=False)
            msgs = gold_messages(task, run, "hello", closing_message(task))
            ours = synth.verifier.score(task, msgs)
            theirs = evaluate_simulation(simulation_run(task, msgs), task, EvaluationType.ALL, False,
                                         domain_name).reward
            assert ours == theirs, (rec.task_id, [s.name for s in plan])
            verdicts.append(ours)
    # both outcomes must occur, or the comparison proves little
    assert 1.0 in verdicts and 0.0 in verdicts


def test_missing_communication_scores_zero(airline_batch) -> None:
    synth, result = airline_batch
    rec = next(r for r in result.tasks if r.task["evaluation_criteria"]["communicate_info"])
    task = Task.model_validate(rec.task)
    run = synth.verifier.execute([(s.name, s.arguments) for s in rec.gold_actions])
    msgs = gold_messages(task, run, "hello", "All done.")
    assert synth.verifier.score(task, msgs) == 0.0
    assert evaluate_simulation(simulation_run(task, msgs), task, EvaluationType.ALL, False, "airline").reward == 0.0


def test_tampered_tool_output_is_refused_like_tau2(airline_batch) -> None:
    synth, result = airline_batch
    rec = result.tasks[0]
    task = Task.model_validate(rec.task)
    run = synth.verifier.execute([(s.name, s.arguments) for s in rec.gold_actions])
    msgs = gold_messages(task, run, "hello", closing_message(task))
    i = next(i for i, m in enumerate(msgs) if isinstance(m, ToolMessage))
    msgs[i] = msgs[i].model_copy(update={"content": '{"tampered": true}'})
    with pytest.raises(ValueError):
        synth.verifier.score(task, msgs)
    with pytest.raises(ValueError):
        evaluate_simulation(simulation_run(task, msgs), task, EvaluationType.ALL, False, "airline")


def test_unscored_termination_gets_zero(airline_batch) -> None:
    from tau2.data_model.simulation import TerminationReason

    synth, result = airline_batch
    rec = result.tasks[0]
    task = Task.model_validate(rec.task)
    run = synth.verifier.execute([(s.name, s.arguments) for s in rec.gold_actions])
    msgs = gold_messages(task, run, "hello", closing_message(task))
    assert synth.verifier.score(task, msgs, TerminationReason.MAX_STEPS) == 0.0
    assert synth.verifier.score(task, msgs) == 1.0
