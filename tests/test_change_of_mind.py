"""A change of mind: the user asks for write A, takes it back when the agent asks to confirm it, and asks
for write B on the same record instead. Only B is made; tau2 fails an agent that makes A."""

from __future__ import annotations

import json

import pytest
from tau2.data_model.simulation import TerminationReason
from tau2.data_model.tasks import Task
from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation
from writ_testing import tau2_reward_of_record

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.domains.verify import get_verifier, gold_messages, simulation_run
from writ_dagster.core.simulation import Job, OracleAgent, ScriptedUser, SimulationConfig, SimulationEngine
from writ_dagster.core.tasks.intent import ChangeOfMind, WriteRequest
from writ_dagster.core.tasks.models import SynthesisConfig, TaskRecord
from writ_dagster.core.tasks.synthesis import Synthesizer, closing_message
from writ_dagster.core.users import make_scripts
from writ_dagster.core.users.check import check_script
from writ_dagster.core.users.ordering import reorder_allowed
from writ_dagster.core.users.outline import outline_task

DOMAINS = ["airline", "retail"]
_RECORD = {"airline": ("reservation_id", "that reservation"), "retail": ("order_id", "that order")}


@pytest.fixture(scope="module", params=DOMAINS)
def changes(request) -> tuple[str, list[TaskRecord]]:
    config = SynthesisConfig(tasks_per_batch=8, family_mix={"change_of_mind": 0.6})
    batch = Synthesizer(request.param, config).synthesize("m0000")
    return request.param, [t for t in batch.tasks if t.family == "change_of_mind"]


def _tau2(domain: str, task: Task, messages, termination=TerminationReason.USER_STOP) -> float:
    return evaluate_simulation(simulation_run(task, messages, termination=termination), task, EvaluationType.ALL,
                               False, domain).reward


def _key(name: str, args: dict) -> tuple[str, str]:
    return name, json.dumps(args, sort_keys=True)


def test_gold_plans_make_the_second_write_on_the_same_record_and_never_the_first(changes):
    domain, tasks = changes
    assert len(tasks) >= 2
    key, that = _RECORD[domain]
    for t in tasks:
        [part] = t.beyond_writes()
        assert isinstance(part, ChangeOfMind)
        a = part.write
        writes = [s for s in t.gold_actions if s.kind == "write"]
        b = writes[-1]
        assert a is not None and a.kind == "write" and (a.name, a.arguments) != (b.name, b.arguments)
        assert all(_key(s.name, s.arguments) != _key(a.name, a.arguments) for s in t.gold_actions)
        assert a.arguments[key] == b.arguments[key]  # the same reservation or order
        # told in place: A's line right before B's, which opens with the moment A is taken back
        lines = t.task["user_scenario"]["instructions"]["reason_for_call"].split("\n")
        assert t.intent.parts.index(part) == len(lines) - 2 == len(writes) - 1
        # the intent holds both: A taken back, then B, which the user says without that moment
        taken, instead = t.intent.parts[-2:]
        assert isinstance(taken, ChangeOfMind) and taken.write == a
        assert isinstance(instead, WriteRequest) and instead.takes_back and instead.wording.line == lines[-1]
        said = instead.wording.sentence
        assert not lines[-1].startswith(said) and f": {said[0].lower()}{said[1:-1]}" in lines[-1]
        assert that in lines[-1] and a.arguments[key] not in lines[-1]


def test_tau2_scores_the_gold_one_and_an_agent_that_makes_the_first_write_zero(changes):
    domain, tasks = changes
    verifier = get_verifier(get_domain(domain))
    for t in tasks:
        task = Task.model_validate(t.task)
        plan = [(s.name, s.arguments) for s in t.gold_actions]
        [part] = t.beyond_writes()
        assert isinstance(part, ChangeOfMind)
        a = part.write
        closing = closing_message(task)
        assert _tau2(domain, task, gold_messages(task, verifier.execute(plan), "Hi.", closing)) == 1.0
        last = max(i for i, s in enumerate(t.gold_actions) if s.kind == "write")
        both = plan[:last] + [(a.name, a.arguments)] + plan[last:]  # A made, then B
        only_a = plan[:last] + [(a.name, a.arguments)]  # A made instead of B
        for wrong in (both, only_a):
            assert _tau2(domain, task, gold_messages(task, verifier.execute(wrong), "Hi.", closing)) < 1.0


def test_scripts_pass_the_checker_and_keep_the_change_of_mind_in_place(changes):
    _, tasks = changes
    for t in tasks:
        outline = outline_task(t)
        [part] = t.beyond_writes()
        assert isinstance(part, ChangeOfMind)
        k = t.intent.parts.index(part)
        assert outline.requests[k].declined is not None and outline.requests[k + 1].instead
        assert outline.requests[k].reads == outline.writes[-1].reads[: part.reads]
        n = len(outline.requests)
        assert not reorder_allowed(outline, list(range(n))[::-1]) or n == 1
        for script in make_scripts(t, 4, seed=11):
            assert not check_script(t, script), script.script_id
            assert script.telling_order == list(range(n))


def _calls(messages: list[dict]) -> list[tuple[int, dict]]:
    return [(i, c) for i, m in enumerate(messages) if m["role"] == "assistant" for c in (m.get("tool_calls") or [])]


def _act(m: dict) -> dict:
    return m.get("raw_data") or {}


def test_scripted_conversations_propose_the_first_write_hear_no_then_make_the_second_and_score_one(changes):
    domain, tasks = changes
    jobs = [Job(t, s, seed=9) for t in tasks for s in make_scripts(t, 3, seed=9)]
    records = SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig(max_concurrency=8)).run_all(jobs)
    by_task = {t.task_id: t for t in tasks}
    scored: set[str] = set()
    for rec in records:
        assert rec.reward == 1.0 and rec.termination_reason == "user_stop", rec.script_id
        t = by_task[rec.task_id]
        [part] = t.beyond_writes()
        assert isinstance(part, ChangeOfMind)
        k = t.intent.parts.index(part)
        a, b = part.write, [s for s in t.gold_actions if s.kind == "write"][-1]
        msgs = rec.messages
        calls = _calls(msgs)
        assert all(_key(c["name"], c["arguments"]) != _key(a.name, a.arguments) for _, c in calls)  # A never made
        proposal_a = next(i for i, m in enumerate(msgs) if m["role"] == "assistant" and _act(m).get("act") == "propose"
                          and _act(m).get("request") == k)
        no = next(i for i, m in enumerate(msgs) if m["role"] == "user" and _act(m).get("decline") == k)
        write_b = next(i for i, c in calls if _key(c["name"], c["arguments"]) == _key(b.name, b.arguments))
        assert proposal_a < no < write_b and no == proposal_a + 1  # the no answers A's proposal
        assert k + 1 in _act(msgs[no])["tell"]  # ... and says what the user wants instead
        said = [i for i, m in enumerate(msgs) if m["role"] == "assistant" and m.get("content")]
        after_no = next(i for i in said if i > no)
        assert "won't" in msgs[after_no]["content"] or "no need to" in msgs[after_no]["content"]
        # B has its own proposal and an explicit yes right before it is made, one call per message
        proposal_b = max(i for i in said if i < write_b)
        assert proposal_b > no and _act(msgs[proposal_b]).get("act") == "propose"
        assert _act(msgs[proposal_b + 1]).get("act") == "confirm" and "yes" in msgs[proposal_b + 1]["content"].lower()
        assert all(len(m.get("tool_calls") or []) <= 1 and not (m.get("tool_calls") and m.get("content"))
                   for m in msgs if m["role"] == "assistant")
        if rec.task_id not in scored:  # tau2 agrees, once per task
            scored.add(rec.task_id)
            assert tau2_reward_of_record(t, rec) == 1.0
    assert scored == set(by_task)
