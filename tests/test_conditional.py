"""The conditional family: a write the user wants only on one side of a limit on a figure the agent must
look up ("cancel it only if the refund is at least $200; otherwise keep it"), the branch fixed by the DB."""

from __future__ import annotations

from typing import Any

import pytest
from tau2.data_model.message import ToolCall
from tau2.data_model.tasks import Task
from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation
from writ_testing import tau2_reward_of_record

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.domains.verify import get_verifier, gold_messages, simulation_run
from writ_dagster.core.language.formats import money as spoken_money
from writ_dagster.core.simulation import Job, OracleAgent, ScriptedUser, SimulationConfig, SimulationEngine
from writ_dagster.core.tasks.blueprints import figure_text
from writ_dagster.core.tasks.conditions import MIN_GAP
from writ_dagster.core.tasks.intent import ConditionalWrite
from writ_dagster.core.tasks.models import Condition, SynthesisConfig, TaskRecord
from writ_dagster.core.tasks.synthesis import Synthesizer, closing_message
from writ_dagster.core.users import make_scripts
from writ_dagster.core.users.check import check_script, leaks, secrets
from writ_dagster.core.users.outline import contains_token

DOMAINS = ["airline", "retail"]


@pytest.fixture(scope="module", params=DOMAINS)
def conditionals(request) -> tuple[str, list[TaskRecord]]:
    domain = request.param
    batch = Synthesizer(domain, SynthesisConfig(tasks_per_batch=16, family_mix={"conditional": 0.6})).synthesize("c0000")
    return domain, [t for t in batch.tasks if t.family == "conditional"]


def _condition(t: TaskRecord) -> Condition:
    [condition] = [p.condition for p in t.beyond_writes() if isinstance(p, ConditionalWrite)]  # exactly one
    return condition


def _score(domain: str, t: TaskRecord, plan: list[tuple[str, dict[str, Any]]]) -> float:
    """tau2's own reward for a trajectory that makes ``plan`` and then states every figure to communicate."""
    task = Task.model_validate(t.task)
    run = get_verifier(get_domain(domain)).execute(plan)
    messages = gold_messages(task, run, "Hi.", closing_message(task))
    return evaluate_simulation(simulation_run(task, messages), task, EvaluationType.ALL, False, domain).reward


def _money_moved(domain: str, before: list[tuple[str, dict[str, Any]]], write: tuple[str, dict[str, Any]]) -> float:
    """What ``write`` moves, read off tau2's DB after running ``before``: the payments it adds to its record,
    or (retail exchanges and returns, which only request) the difference or the returned items' prices."""
    dom = get_domain(domain)
    fork = dom.base.fork()
    env = dom.environment(fork.db)
    for i, (name, args) in enumerate(before):
        assert not env.get_response(ToolCall(id=f"b{i}", name=name, arguments=args)).error
    name, args = write
    table, key = (fork.db.reservations, "reservation_id") if domain == "airline" else (fork.db.orders, "order_id")
    record = table[args[key]].model_copy(deep=True)
    assert not env.get_response(ToolCall(id="w", name=name, arguments=args)).error
    after = table[args[key]]
    added = after.payment_history[len(record.payment_history):]
    if added:
        return round(abs(sum(p.amount for p in added)), 2)
    if name == "exchange_delivered_order_items":
        return round(abs(after.exchange_price_difference), 2)
    prices = {i.item_id: i.price for i in record.items}
    return round(sum(prices[x] for x in args["item_ids"]), 2)


def test_conditionals_hold_both_branches_and_the_db_decides(conditionals):
    """Both branches occur; the gold plan makes the write exactly when the DB's figure is on the user's side
    of a round limit that is never close to it; the figure is what tau2's DB says the write moves."""
    domain, tasks = conditionals
    assert len(tasks) >= 4
    assert {_condition(t).holds for t in tasks} == {True, False}
    for t in tasks:
        c = _condition(t)
        plan = [(s.name, s.arguments) for s in t.gold_actions]
        write = (c.write.name, c.write.arguments)
        assert c.holds == (c.figure < c.limit if c.kind == "cost" else c.figure >= c.limit)
        assert abs(c.limit - c.figure) >= MIN_GAP * c.figure * 0.999 and c.limit % 5 == 0
        assert (plan[-1] == write) == c.holds and plan.count(write) == int(c.holds)
        before = plan[:-1] if c.holds else plan
        assert _money_moved(domain, before, write) == pytest.approx(c.figure, abs=0.01)
        line = t.task["user_scenario"]["instructions"]["reason_for_call"].split("\n")[-1]
        assert "only if" in line or "as long as" in line
        assert spoken_money(c.limit) in line
        assert t.task["evaluation_criteria"]["communicate_info"][-1] == figure_text(c.figure)


def test_gold_scores_one_and_the_other_branch_fails_under_tau2(conditionals):
    domain, tasks = conditionals
    for t in tasks:
        c = _condition(t)
        plan = [(s.name, s.arguments) for s in t.gold_actions]
        write = (c.write.name, c.write.arguments)
        assert _score(domain, t, plan) == 1.0
        other = plan[:-1] if c.holds else [*plan, write]
        assert _score(domain, t, other) < 1.0, (t.task_id, c.holds)


def test_the_figure_is_not_known_to_the_user_and_scripts_pass_the_checker(conditionals):
    _, tasks = conditionals
    for t in tasks:
        c = _condition(t)
        instr = t.task["user_scenario"]["instructions"]
        canonical = "\n".join(str(instr.get(k) or "") for k in ("reason_for_call", "known_info", "unknown_info",
                                                                 "task_instructions"))
        assert not contains_token(canonical, figure_text(c.figure)) and spoken_money(c.figure) not in canonical
        assert figure_text(c.figure) in secrets(t)[1]  # the checker treats it as found by evidence
        for script in make_scripts(t, 3, seed=9):
            assert not check_script(t, script), script.script_id
            assert not leaks(t, script.lines.spoken_text())


def test_scripted_conversations_state_the_figure_before_acting_and_score_one(conditionals):
    """The agent says the figure and its side of the limit before it proposes the write, or before it says
    it leaves things as they are; tau2 re-scores one conversation per task at 1.0."""
    domain, tasks = conditionals
    jobs = [Job(t, s, seed=9) for t in tasks for s in make_scripts(t, 2, seed=9)]
    records = SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig(max_concurrency=8)).run_all(jobs)
    by_task = {t.task_id: t for t in tasks}
    scored: set[str] = set()
    for rec in records:
        assert rec.reward == 1.0, rec.script_id
        t = by_task[rec.task_id]
        c = _condition(t)
        agent = [m for m in rec.messages if m["role"] == "assistant"]
        stated = [i for i, m in enumerate(agent) if spoken_money(c.figure) in (m.get("content") or "")
                  and spoken_money(c.limit) in (m.get("content") or "")]
        writes = [i for i, m in enumerate(agent) for x in (m.get("tool_calls") or [])
                  if (x["name"], x["arguments"]) == (c.write.name, c.write.arguments)]
        assert stated, rec.script_id
        assert len(writes) == int(c.holds)
        if c.holds:
            assert stated[0] < writes[0]
            assert "yes" in agent[stated[0]]["content"].lower()  # said in the proposal that asks for the yes
        if rec.task_id not in scored:
            scored.add(rec.task_id)
            assert tau2_reward_of_record(t, rec) == 1.0
    assert scored == set(by_task)


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_default_batch_holds_conditionals_of_both_branches(domain):
    tasks = Synthesizer(domain, SynthesisConfig()).synthesize("b0000").tasks
    conds = [t for t in tasks if t.family == "conditional"]
    assert len(conds) >= 3 and {_condition(t).holds for t in conds} == {True, False}


def test_the_condition_is_stored_and_read_back(tmp_path, conditionals):
    from writ_dagster.core.storage.schema import connect
    from writ_dagster.core.storage.tasks import read_tasks, write_partition
    from writ_dagster.core.tasks.models import BatchResult

    domain, tasks = conditionals
    batch = BatchResult(domain=domain, partition="c0000", tasks=tasks, rejections=[], attempts=len(tasks))
    with connect(tmp_path / "c.duckdb") as con:
        write_partition(con, batch, SynthesisConfig(tasks_per_batch=len(tasks)))
        stored = read_tasks(con, domain, "c0000")
    assert [(t.family, t.intent) for t in stored] == [(t.family, t.intent) for t in tasks]
