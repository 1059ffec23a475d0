"""Task families beyond N writes: refusals alone, refusals mixed with writes, transfers to a human agent,
and questions answered by reads alone."""

from __future__ import annotations

import pytest
from tau2.data_model.tasks import Task
from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation
from writ_testing import tau2_reward_of_record

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.domains.verify import get_verifier, simulation_run
from writ_dagster.core.simulation import Job, OracleAgent, ScriptedUser, SimulationConfig, SimulationEngine
from writ_dagster.core.tasks.airline import policy
from writ_dagster.core.tasks.intent import InformationQuestion, RefusalRequest, TransferRequest
from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.core.tasks.synthesis import Synthesizer, summarize
from writ_dagster.core.users import make_scripts
from writ_dagster.core.users.check import check_script


@pytest.fixture(scope="module")
def family_batch():
    config = SynthesisConfig(tasks_per_batch=30, family_mix={"refusal": 0.3, "mixed": 0.3})
    return Synthesizer("airline", config).synthesize("f0000")


@pytest.fixture(scope="module")
def conversations(family_batch):
    jobs = [Job(t, s, seed=5) for t in family_batch.tasks if t.family != "writes" for s in make_scripts(t, 3, seed=5)]
    return jobs, SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig(max_concurrency=8)).run_all(jobs)


def _target(action: str) -> str:
    return action.split()[-1]


def _declined(t) -> str:
    """What the agent declines, hands over or answers in the task's one part beyond plain writes."""
    [part] = t.beyond_writes()
    assert isinstance(part, (RefusalRequest, TransferRequest, InformationQuestion))
    return part.declined


def test_batch_has_refusal_and_mixed_tasks_with_legal_gold_plans(family_batch):
    fams = {t.family for t in family_batch.tasks}
    assert {"refusal", "mixed"} <= fams
    base = get_domain("airline").base.db
    for t in family_batch.tasks:
        writes = [s for s in t.gold_actions if s.kind == "write"]
        if t.family == "writes":
            assert not t.beyond_writes() and writes
            continue
        [part] = t.beyond_writes()
        assert isinstance(part, RefusalRequest)
        assert (t.family == "refusal") == (not writes)
        rid = _target(part.declined)
        # The gold plan never touches the refused reservation, and the policy indeed forbids the request.
        assert all(s.arguments.get("reservation_id") != rid for s in writes)
        r = base.reservations[rid]
        if part.declined.startswith("cancel"):
            assert not policy.cancellation_reason(base, r, "change of plan")
        else:
            assert r.cabin == "basic_economy" and not policy.can_change_flights(base, r)
        assert t.task["evaluation_criteria"]["nl_assertions"]


def test_gold_trajectories_score_one_by_tau2(family_batch):
    verifier = get_verifier(get_domain("airline"))
    for t in family_batch.tasks:
        if t.family == "writes":
            continue
        run = verifier.execute([(s.name, s.arguments) for s in t.gold_actions])
        assert all(not s.error for s in run.steps)
        from writ_dagster.core.domains.verify import gold_messages
        from writ_dagster.core.tasks.synthesis import closing_message

        task = Task.model_validate(t.task)
        assert verifier.score(task, gold_messages(task, run, "Hi.", closing_message(task))) == 1.0


def test_scripted_conversations_refuse_with_the_reason_and_score_one(conversations):
    jobs, records = conversations
    assert records and all(r.reward == 1.0 for r in records), [(r.script_id, r.reward) for r in records if r.reward < 1]
    by_script = {j.script.script_id: j for j in jobs}
    scored_by_tau2: set[str] = set()
    for rec in records:
        job = by_script[rec.script_id]
        assert not check_script(job.record, job.script)
        [part] = job.record.beyond_writes()
        assert isinstance(part, RefusalRequest)
        said = " ".join(m.get("content") or "" for m in rec.messages if m["role"] == "assistant")
        assert part.declined in said and part.reason in said
        calls = [c for m in rec.messages if m["role"] == "assistant" for c in (m.get("tool_calls") or [])]
        rid = _target(part.declined)
        assert not any(c["name"] in ("cancel_reservation", "update_reservation_flights")
                       and c["arguments"].get("reservation_id") == rid for c in calls)
        # tau2's evaluator agrees on one conversation per task (it builds fresh environments: ~1 s each;
        # the engine's reward above is the verifier's, which test_verify.py holds equal to tau2's)
        if job.record.task_id not in scored_by_tau2:
            scored_by_tau2.add(job.record.task_id)
            assert tau2_reward_of_record(job.record, rec) == 1.0


def test_carrying_out_a_refused_request_fails_tau2(family_batch):
    verifier = get_verifier(get_domain("airline"))
    t = next(t for t in family_batch.tasks
             if t.family == "refusal" and _declined(t).startswith("cancel"))
    from writ_dagster.core.domains.verify import gold_messages

    task = Task.model_validate(t.task)
    plan = [(s.name, s.arguments) for s in t.gold_actions]
    plan.append(("cancel_reservation", {"reservation_id": _target(_declined(t))}))
    run = verifier.execute(plan)
    assert verifier.score(task, gold_messages(task, run, "Hi.", "Done.")) == 0.0


@pytest.mark.parametrize("domain", ["airline", "retail"])
def test_default_shares_keep_the_axes(domain):
    tasks = Synthesizer(domain, SynthesisConfig()).synthesize("b0000").tasks
    share = sum(t.family != "writes" for t in tasks) / len(tasks)
    assert share >= 0.10
    assert any(t.family == "transfer" for t in tasks)  # a default batch needs at least one transfer
    assert any(t.family == "information" for t in tasks)
    assert sum(t.family == "change_of_mind" for t in tasks) >= 2  # a batch owes two (MIN_PER_BATCH)
    s = summarize(tasks)
    assert s["share_ge3_writes"] >= 0.30 and s["share_ge6_reads_before_a_write"] >= 0.30
    # Write-only tasks are drawn exactly as before families existed: the family has its own RNG.
    plain = Synthesizer(domain, SynthesisConfig(family_mix={})).synthesize("b0000")
    before = {t.sources.attempt: [s.key() for s in t.gold_actions] for t in plain.tasks}
    same = [t for t in tasks if t.family == "writes" and t.sources.attempt in before]
    assert same and all([s.key() for s in t.gold_actions] == before[t.sources.attempt] for t in same)


def test_family_is_stored_and_a_schema_3_database_is_upgraded(tmp_path, family_batch):
    from writ_dagster.core.storage.schema import SCHEMA_VERSION, connect
    from writ_dagster.core.storage.tasks import read_tasks, write_partition

    path = tmp_path / "v3.duckdb"
    with connect(path) as con:
        write_partition(con, family_batch, SynthesisConfig(tasks_per_batch=30,
                                                           family_mix={"refusal": 0.3, "mixed": 0.3}))
        stored = read_tasks(con, "airline", "f0000")
        assert [(t.family, t.intent) for t in stored] == [(t.family, t.intent) for t in family_batch.tasks]
        assert con.execute("SELECT count(*) FROM tasks WHERE family = 'refusal'").fetchone()[0] >= 1
        con.execute("ALTER TABLE tasks DROP COLUMN family")
        con.execute("ALTER TABLE tasks DROP COLUMN intent_json")
        con.execute("UPDATE writ_meta SET value = '3' WHERE key = 'schema_version'")
    with connect(path, read_only=True) as con:  # read as it is: every task reads as plain writes
        assert {t.family for t in read_tasks(con, "airline", "f0000")} == {"writes"}
    with connect(path) as con:  # opened for writing: the columns come back, old rows default to writes
        assert con.execute("SELECT value FROM writ_meta").fetchall() == [(SCHEMA_VERSION,)]
        assert {r[0] for r in con.execute("SELECT DISTINCT family FROM tasks").fetchall()} == {"writes"}


def test_retail_refusals_are_legal_and_their_conversations_score_one():
    from writ_dagster.core.tasks.retail import policy as retail_policy

    batch = Synthesizer("retail", SynthesisConfig(tasks_per_batch=20,
                                                  family_mix={"refusal": 0.3, "mixed": 0.3})).synthesize("f0000")
    odd = [t for t in batch.tasks if t.family != "writes"]
    assert {t.family for t in odd} == {"refusal", "mixed"}
    base = get_domain("retail").base.db
    for t in odd:
        declined = _declined(t)
        oid = _target(declined) if declined.startswith("cancel") else declined.split()[-1]
        status = base.orders[oid].status
        if declined.startswith("cancel"):
            assert not retail_policy.can_cancel(status, "no longer needed")
        else:
            assert not retail_policy.can_return_or_exchange(status)
        assert all(s.arguments.get("order_id") != oid for s in t.gold_actions if s.kind == "write")
    jobs = [Job(t, s, seed=2) for t in odd for s in make_scripts(t, 2, seed=2)]
    records = SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig(max_concurrency=8)).run_all(jobs)
    assert all(r.reward == 1.0 for r in records), [(r.script_id, r.reward) for r in records if r.reward < 1]


# -- transfers: a request only a human agent may handle ------------------------------------------------

@pytest.fixture(scope="module")
def transfer_batch():
    return Synthesizer("airline", SynthesisConfig(tasks_per_batch=10, family_mix={"transfer": 0.5})).synthesize("x0000")


def test_transfer_tasks_end_with_the_transfer_and_are_scored_on_it(transfer_batch):
    """Cancelling a partly flown reservation: the policy says the agent cannot help and must transfer.
    The gold plan reads the reservation and its flights, then calls transfer_to_human_agents; the
    action check scores the call, so an agent that declines without transferring, or cancels, gets 0."""
    from writ_dagster.core.domains.verify import TRANSFER_MESSAGE, TRANSFER_TOOL, gold_messages
    from writ_dagster.core.tasks.synthesis import closing_message

    transfers = [t for t in transfer_batch.tasks if t.family == "transfer"]
    assert len(transfers) >= 2
    base = get_domain("airline").base.db
    verifier = get_verifier(get_domain("airline"))
    for t in transfers:
        [part] = t.beyond_writes()
        assert isinstance(part, TransferRequest) and t.gold_actions[-1].name == TRANSFER_TOOL
        criteria = t.task["evaluation_criteria"]
        assert "ACTION" in criteria["reward_basis"] and criteria["actions"][-1]["compare_args"] == []
        rid = _target(part.declined)
        r = base.reservations[rid]
        assert r.status != "cancelled" and policy.is_flown(base, r)  # the policy's transfer case
        assert all(s.arguments.get("reservation_id") != rid for s in t.gold_actions if s.kind == "write")
        task = Task.model_validate(t.task)
        plan = [(s.name, s.arguments) for s in t.gold_actions]
        closing = closing_message(task)
        assert closing.endswith(TRANSFER_MESSAGE)
        gold = gold_messages(task, verifier.execute(plan), "Hi.", closing)
        assert evaluate_simulation(simulation_run(task, gold), task, EvaluationType.ALL, False, "airline").reward == 1.0
        # declining without the transfer call: the DB is right, the action check is not
        without = gold_messages(task, verifier.execute(plan[:-1]), "Hi.", closing)
        assert evaluate_simulation(simulation_run(task, without), task, EvaluationType.ALL, False,
                                   "airline").reward == 0.0
        cancelled = gold_messages(task, verifier.execute([*plan, ("cancel_reservation", {"reservation_id": rid})]),
                                  "Hi.", closing)
        assert verifier.score(task, cancelled) == 0.0


def test_scripted_transfer_conversations_transfer_last_and_score_one_under_tau2(transfer_batch):
    from writ_dagster.core.domains.verify import TRANSFER_MESSAGE, TRANSFER_TOOL

    transfers = [t for t in transfer_batch.tasks if t.family == "transfer"]
    jobs = [Job(t, s, seed=3) for t in transfers for s in make_scripts(t, 3, seed=3)]
    assert all(not check_script(j.record, j.script) for j in jobs)
    records = SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig(max_concurrency=8)).run_all(jobs)
    by_script = {j.script.script_id: j for j in jobs}
    scored: set[str] = set()
    for rec in records:
        assert rec.reward == 1.0 and rec.termination_reason == "user_stop", (rec.script_id, rec.reward)
        calls = [c["name"] for m in rec.messages if m["role"] == "assistant" for c in (m.get("tool_calls") or [])]
        assert calls[-1] == TRANSFER_TOOL and calls.count(TRANSFER_TOOL) == 1  # every write came before it
        last_agent = [m for m in rec.messages if m["role"] == "assistant" and m.get("content")][-1]
        [part] = by_script[rec.script_id].record.beyond_writes()
        assert isinstance(part, TransferRequest)
        assert last_agent["content"].endswith(TRANSFER_MESSAGE) and part.reason in last_agent["content"]
        assert "###TRANSFER###" in rec.messages[-1]["content"]
        job = by_script[rec.script_id]
        if job.record.task_id not in scored:  # tau2 agrees, once per task
            scored.add(job.record.task_id)
            assert tau2_reward_of_record(job.record, rec) == 1.0


def test_retail_transfers_are_for_cancelled_orders_and_their_conversations_score_one():
    """Reinstating a cancelled order: no tool can, so the agent reads the order and transfers."""
    from writ_dagster.core.domains.verify import TRANSFER_TOOL

    batch = Synthesizer("retail", SynthesisConfig(tasks_per_batch=8, family_mix={"transfer": 0.6})).synthesize("x0000")
    transfers = [t for t in batch.tasks if t.family == "transfer"]
    assert transfers
    base = get_domain("retail").base.db
    for t in transfers:
        oid = _declined(t).split()[-1]
        assert base.orders[oid].status == "cancelled" and t.gold_actions[-1].name == TRANSFER_TOOL
        assert ("get_order_details", {"order_id": oid}) in [(s.name, s.arguments) for s in t.gold_actions]
    jobs = [Job(t, s, seed=4) for t in transfers for s in make_scripts(t, 2, seed=4)]
    records = SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig(max_concurrency=8)).run_all(jobs)
    assert all(r.reward == 1.0 for r in records), [(r.script_id, r.reward) for r in records if r.reward < 1]
    rec = records[0]
    assert tau2_reward_of_record(next(t for t in transfers if t.task_id == rec.task_id), rec) == 1.0


# -- information: a question answered by reads alone ---------------------------------------------------

@pytest.mark.parametrize("domain", ["airline", "retail"])
def test_information_tasks_are_answered_by_reads_and_scored_on_the_answer(domain):
    """No write: the gold plan only reads, communicate_info holds the answer the user asks for, and an
    agent that does the reads but never says it scores 0; the scripted conversations say it and score 1."""
    from writ_dagster.core.domains.verify import gold_messages

    batch = Synthesizer(domain, SynthesisConfig(tasks_per_batch=8, family_mix={"information": 0.6})).synthesize("i0000")
    questions = [t for t in batch.tasks if t.family == "information"]
    assert questions
    verifier = get_verifier(get_domain(domain))
    for t in questions:
        [part] = t.beyond_writes()
        assert isinstance(part, InformationQuestion)
        info = t.task["evaluation_criteria"]["communicate_info"]
        assert part.answer and info and all(s.kind == "read" for s in t.gold_actions)
        assert all(v in part.answer.replace(",", "") for v in info)  # the fact the agent states holds the value
        task = Task.model_validate(t.task)
        run = verifier.execute([(s.name, s.arguments) for s in t.gold_actions])
        said = gold_messages(task, run, "Hi.", f"Here is what I found: {part.answer}.")
        silent = gold_messages(task, run, "Hi.", "I have looked at it.")
        for messages, reward in ((said, 1.0), (silent, 0.0)):
            assert evaluate_simulation(simulation_run(task, messages), task, EvaluationType.ALL, False,
                                       domain).reward == reward
    jobs = [Job(t, s, seed=6) for t in questions for s in make_scripts(t, 2, seed=6)]
    assert all(not check_script(j.record, j.script) for j in jobs)
    records = SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig(max_concurrency=8)).run_all(jobs)
    for rec in records:
        [part] = next(t for t in questions if t.task_id == rec.task_id).beyond_writes()
        assert isinstance(part, InformationQuestion)
        assert rec.reward == 1.0, rec.script_id
        assert any(part.answer in (m.get("content") or "") for m in rec.messages if m["role"] == "assistant")
