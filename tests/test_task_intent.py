"""Issue 18.1: a task's intent is data made by synthesis, stored with the task and exported beside τ²'s
Task; the outline the scripted user and agent follow is built from it, never from the instruction prose."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from tau2.data_model.tasks import Task

from writ_dagster.core.simulation import Job, OracleAgent, ScriptedUser, SimulationConfig, SimulationEngine
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.stages import MissingInputError
from writ_dagster.core.stages.user_scripts import run_user_scripts
from writ_dagster.core.storage.schema import SCHEMA_VERSION, connect
from writ_dagster.core.storage.tasks import read_tasks, write_partition
from writ_dagster.core.tasks.intent import (
    ChangeOfMind,
    ConditionalWrite,
    InformationQuestion,
    RefusalRequest,
    TaskIntent,
    TransferRequest,
    WriteRequest,
)
from writ_dagster.core.tasks.models import INTENT_FIELD, BatchResult, SynthesisConfig, TaskRecord, exported_task
from writ_dagster.core.tasks.synthesis import Synthesizer, summarize
from writ_dagster.core.users import make_scripts
from writ_dagster.core.users.outline import MissingIntentError, outline_task

# Every family in one small batch per domain.
MIX = {"refusal": 0.12, "mixed": 0.12, "transfer": 0.12, "information": 0.12, "conditional": 0.2, "change_of_mind": 0.12}
CONFIG = SynthesisConfig(tasks_per_batch=14, family_mix=MIX)
KIND = {
    WriteRequest: "write",
    ConditionalWrite: "conditional",
    RefusalRequest: "refusal",
    TransferRequest: "transfer",
    InformationQuestion: "information",
    ChangeOfMind: "change_of_mind",
}


@pytest.fixture(scope="module", params=["airline", "retail"])
def batch(request) -> BatchResult:
    return Synthesizer(request.param, CONFIG).synthesize("i0000")


def _outline(record: TaskRecord) -> dict:
    # parsed: a stored task's tool arguments come back with their keys sorted
    return json.loads(outline_task(record).model_dump_json(exclude={"domain"}))


def _reworded(record: TaskRecord) -> TaskRecord:
    """The record with every instruction field said in other words (and lines in another order)."""
    task = json.loads(json.dumps(record.task))
    instr = task["user_scenario"]["instructions"]
    for key in ("reason_for_call", "known_info", "unknown_info", "task_instructions"):
        if instr.get(key):
            instr[key] = "\n".join(reversed(instr[key].replace("You", "The caller").split("\n"))) + "\nPlease hurry."
    return record.model_copy(update={"task": task})


def test_every_part_kind_is_made_and_matches_the_gold_plan(batch: BatchResult) -> None:
    kinds: Counter[str] = Counter()
    for t in batch.tasks:
        assert t.intent is not None
        parts = t.intent.parts
        kinds.update(KIND[type(p)] for p in parts)
        assert [p.kind for p in parts] == [KIND[type(p)] for p in parts]
        # One line of reason_for_call per part, said as the intent keeps it.
        lines = t.task["user_scenario"]["instructions"]["reason_for_call"].split("\n")
        assert [p.wording.line for p in parts] == lines
        # The writes the intent makes are the gold plan's, in order; a write taken back or a condition that
        # does not hold is not in it.
        made = [p.write for p in parts if isinstance(p, WriteRequest)]
        made += [p.condition.write for p in parts if isinstance(p, ConditionalWrite) and p.condition.holds]
        gold = [s for s in t.gold_actions if s.kind == "write"]
        assert sorted(s.key() for s in made) == sorted(s.key() for s in gold)
        for p in parts:
            if isinstance(p, ChangeOfMind) or (isinstance(p, ConditionalWrite) and not p.condition.holds):
                step = p.write if isinstance(p, ChangeOfMind) else p.condition.write
                assert step.key() not in {s.key() for s in t.gold_actions}
        # Who the user is: what they can tell the agent is in the gold identification reads.
        ident = t.intent.identity
        id_args = {k: v for s in t.gold_actions[: ident.reads] for k, v in s.arguments.items()}
        assert ident.user_id == t.user_id and ident.knows and all(id_args[k] == v for k, v in ident.knows.items())
    assert set(kinds) == set(KIND.values()), kinds


def test_the_outline_ignores_the_instruction_prose_and_follows_the_intent(batch: BatchResult) -> None:
    for t in batch.tasks:
        assert _outline(_reworded(t)) == _outline(t), t.task_id
    # ... and it does follow the intent: a part picked out by a comparison is no longer told by id.
    t = next(t for t in batch.tasks if t.intent and any(p.comparisons for p in t.intent.parts))
    assert t.intent is not None
    i = next(i for i, p in enumerate(t.intent.parts) if p.comparisons)
    parts = list(t.intent.parts)
    parts[i] = parts[i].model_copy(update={"comparisons": []})
    edited = t.model_copy(update={"intent": t.intent.model_copy(update={"parts": parts})})
    assert not outline_task(t).requests[i].by_id and outline_task(edited).requests[i].by_id


def test_each_figure_is_said_with_the_write_whose_request_asks_for_it(batch: BatchResult) -> None:
    for t in batch.tasks:
        assert t.intent is not None
        outline = outline_task(t)
        for w in outline.writes:
            part = t.intent.parts[w.request]
            assert isinstance(part, (WriteRequest, ConditionalWrite))
            assert [f.value for f in w.figures] == [v for v in part.figures if v not in outline.unassigned_figures]
        # by id exactly when nothing picks the target out: no motive or condition word decides it
        for r, p in zip(outline.requests, t.intent.parts):
            assert r.by_id == (not p.comparisons and not (isinstance(p, WriteRequest) and p.takes_back))


def test_the_scripted_user_and_agent_follow_the_outline_to_reward_one(batch: BatchResult) -> None:
    jobs = [Job(t, s, seed=1) for t in batch.tasks for s in make_scripts(t, 2, 1)]
    records = SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig(max_concurrency=8)).run_all(jobs)
    assert len(records) == len(jobs) and all(r.reward == 1.0 for r in records)


def test_an_exported_task_loads_into_tau2_and_gives_back_its_intent(batch: BatchResult) -> None:
    for t in batch.tasks:
        raw = json.loads(json.dumps(exported_task(t)))
        assert Task.model_validate(raw).model_dump(mode="json", exclude_none=True) == t.task
        assert TaskIntent.model_validate(raw[INTENT_FIELD]) == t.intent
        assert {k: v for k, v in raw.items() if k != INTENT_FIELD} == t.task


def test_the_tasks_table_round_trips_the_intent_and_a_schema_4_home_stays_readable(
    tmp_path: Path, batch: BatchResult
) -> None:
    path = tmp_path / "writ.duckdb"
    domain, key = batch.domain, batch.partition
    with connect(path) as con:
        write_partition(con, batch, CONFIG)
        stored = read_tasks(con, domain, key)
        assert [t.intent for t in stored] == [t.intent for t in batch.tasks]
        assert [_outline(t) for t in stored] == [_outline(t) for t in batch.tasks]
        # As a home of schema 4 has it: no intent column.
        con.execute("ALTER TABLE tasks DROP COLUMN intent_json")
        con.execute("UPDATE writ_meta SET value = '4' WHERE key = 'schema_version'")
    with connect(path, read_only=True) as con:  # read as it is: the tasks, without intents
        old = read_tasks(con, domain, key)
        assert [t.task for t in old] == [t.task for t in batch.tasks] and {t.intent for t in old} == {None}
    with pytest.raises(MissingIntentError, match="run its tasks partition"):
        outline_task(old[0])
    with connect(path) as con:  # opened for writing: upgraded in place, rows kept
        assert con.execute("SELECT value FROM writ_meta").fetchall() == [(SCHEMA_VERSION,)] == [("6",)]
        assert [t.task for t in read_tasks(con, domain, key)] == [t.task for t in batch.tasks]
        with pytest.raises(MissingInputError, match="materialize `tasks` again"):
            run_user_scripts(con, domain, key, TrajectoryConfig(variants=1))
        write_partition(con, batch, CONFIG)  # the tasks made again carry their intents
        assert [t.intent for t in read_tasks(con, domain, key)] == [t.intent for t in batch.tasks]


def _columns(con) -> list[str]:
    query = "SELECT column_name FROM information_schema.columns WHERE table_name = 'tasks' ORDER BY ordinal_position"
    return [r[0] for r in con.execute(query).fetchall()]


def test_a_schema_5_home_drops_its_refusals_column_and_keeps_every_other_value(
    tmp_path: Path, batch: BatchResult
) -> None:
    """Schema 6 drops tasks.refusals_json, which repeated the intent's parts beyond plain writes."""
    path = tmp_path / "writ.duckdb"
    domain, key = batch.domain, batch.partition
    with connect(path) as con:
        write_partition(con, batch, CONFIG)
        made = _columns(con)
        rows = con.execute("SELECT * FROM tasks ORDER BY task_id").fetchall()
        # As a home of schema 5 has it: the parts beyond plain writes in a column of their own too.
        con.execute("ALTER TABLE tasks ADD COLUMN refusals_json VARCHAR DEFAULT '[]'")
        con.execute("UPDATE writ_meta SET value = '5' WHERE key = 'schema_version'")
    with connect(path, read_only=True) as con:  # read as it is: the column is there and nothing reads it
        assert "refusals_json" in _columns(con)
        assert [t.intent for t in read_tasks(con, domain, key)] == [t.intent for t in batch.tasks]
    with connect(path) as con:  # opened for writing: upgraded in place, the column gone, the rest kept
        assert con.execute("SELECT value FROM writ_meta").fetchall() == [(SCHEMA_VERSION,)] == [("6",)]
        assert _columns(con) == made and "refusals_json" not in made
        assert con.execute("SELECT * FROM tasks ORDER BY task_id").fetchall() == rows


def test_summaries_count_the_intent_parts_beyond_plain_writes(batch: BatchResult) -> None:
    figures = summarize(batch.tasks)
    n = len(batch.tasks)
    beyond = [[p for p in t.intent.parts if not isinstance(p, WriteRequest)] for t in batch.tasks if t.intent]
    assert figures["share_beyond_writes"] == round(sum(bool(b) for b in beyond) / n, 4) > 0
    refused = sum(any(isinstance(p, RefusalRequest) for p in b) for b in beyond)
    assert figures["share_with_refusal"] == round(refused / n, 4) > 0
    assert all(bool(t.beyond_writes()) == (t.family != "writes") for t in batch.tasks)
