"""The LLM instruction rewriter, driven through a real loopback OpenAI-compatible server: a good
rewrite is accepted, a leaking one is retried, a fact-dropping one falls back to the rule-based
variant, and the counts say so."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llm_fakes import LoopbackServer, fake_openai_app

from writ_dagster.core.llm.openai_client import OpenAICompatibleBackend, RetryPolicy
from writ_dagster.core.users import check_script, make_scripts
from writ_dagster.core.users.check import secrets
from writ_dagster.core.users.rewrite import parse_rewrite, rewrite_scripts
from writ_dagster.core.users.rewrite_backend import backend_generate


def _instructions(body: dict[str, Any]) -> tuple[dict[str, str], bool]:
    text = body["messages"][-1]["content"]
    retry = "previous rewrite was rejected" in text
    payload = text.split("\n", 1)[1].split("\n\nA previous")[0]
    return json.loads(payload)["instructions"], retry


def _reworded(instr: dict[str, str]) -> dict[str, str]:
    # A faithful rewrite: frame words change, every line's content stays.
    new = {k: (v or "").replace("You want to", "You'd really like to").replace("You need to", "You have to")
           for k, v in instr.items()}
    new["task_instructions"] = "You speak plainly and get to the point.\n" + new["task_instructions"]
    return new


@pytest.fixture(scope="module")
def three(airline_batch):
    """Three scripted variants: one of a task with a secret id (to leak), two others."""
    _, batch = airline_batch
    records = {r.task_id: r for r in batch.tasks}
    with_secret = next(r for r in batch.tasks if secrets(r)[0])
    others = [r for r in batch.tasks if r.task_id != with_secret.task_id][:2]
    scripts = [make_scripts(r, 2, seed=5)[1] for r in (with_secret, *others)]
    return records, scripts, sorted(secrets(with_secret)[0])[0]


def test_good_leaking_and_fact_dropping_rewrites(three):
    records, scripts, secret = three
    leaky, good, dropping = scripts
    keys = {s.user_scenario["instructions"]["reason_for_call"]: name
            for s, name in ((leaky, "leaky"), (good, "good"), (dropping, "dropping"))}

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        instr, retry = _instructions(body)
        new = _reworded(instr)
        kind = keys[instr["reason_for_call"]]
        if kind == "leaky" and not retry:
            new["reason_for_call"] += f" The one you mean is {secret}."
        if kind == "dropping":
            new["reason_for_call"] = "You need some help with your trip."
        return {"content": "```json\n" + json.dumps(new) + "\n```"}

    app, seen = fake_openai_app(answer)
    with LoopbackServer(app) as server:
        backend = OpenAICompatibleBackend(server.base_url, "fake-rewriter", retry=RetryPolicy(max_retries=0))
        outcome = rewrite_scripts(records, scripts, backend_generate(backend, records, scripts, seed=3), max_tries=3)

    f = outcome.figures
    assert (f["rewrite_accepted_first_try"], f["rewrite_accepted_after_retry"], f["rewrite_fallback_rule_based"]) \
        == (1, 1, 1), f
    # rounds: 3 prompts, then the 2 rejected, then the one still rejected
    assert (f["rewrite_generation_calls"], f["rewrite_prompts"], len(seen)) == (3, 6, 6), f
    assert f["rewrite_rejections"]["leak"] == 1 and f["rewrite_rejections"]["lost fact"] == 3, f
    new_leaky, new_good, new_dropping = outcome.scripts
    assert "You speak plainly" in new_good.user_scenario["instructions"]["task_instructions"]
    assert new_good.user_scenario != good.user_scenario and new_good.lines == good.lines
    assert secret not in json.dumps(new_leaky.user_scenario)
    assert new_dropping == dropping  # fell back to the rule-based variant
    for script in outcome.scripts:
        assert check_script(records[script.task_id], script) == []
        assert script.content_hash == script.compute_hash()


def test_variant_zero_is_never_rewritten(three, airline_batch):
    records, _, _ = three
    record = airline_batch[1].tasks[0]
    scripts = make_scripts(record, 2, seed=5)
    asked: list[int] = []

    def generate(batch):
        asked.append(len(batch))
        return [None] * len(batch)  # unreadable answers: retried, then the rule-based variant stays

    outcome = rewrite_scripts(records, scripts, generate, max_tries=2)
    assert asked == [1, 1]
    assert outcome.scripts == scripts
    assert outcome.figures["rewrite_rejections"] == {"unreadable answer": 2}


def test_parse_rewrite_reads_fenced_json_and_refuses_prose():
    assert parse_rewrite('Sure!\n```json\n{"reason_for_call": "You want X.", "known_info": ["a", "b"]}\n```') == \
        {"reason_for_call": "You want X.", "known_info": "a\nb", "unknown_info": "", "task_instructions": ""}
    assert parse_rewrite("I cannot do that.") is None
    assert parse_rewrite('{"reason_for_call": ""}') is None


def test_user_scripts_asset_with_a_rewriter_model_counts_in_metadata(tmp_path):
    # The asset with `user_rewriter` at an OpenAI-compatible endpoint: one generation round for
    # the partition, every faithful rewrite accepted, the check still passes.
    import dagster as dg

    from writ_dagster.assets import tasks, user_scripts
    from writ_dagster.assets.trajectory_checks import user_scripts_valid
    from writ_dagster.partitions import BATCH_PARTITIONS_NAME, domain_batch_key
    from writ_dagster.resources import ModelRole, SimulationSettings, SynthesisSettings, WritStorage

    app, seen = fake_openai_app(lambda body: {"content": json.dumps(_reworded(_instructions(body)[0]))})
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0000"])
    with LoopbackServer(app) as server:
        rewriter = ModelRole(kind="openai-compatible", options={"base_urls": [server.base_url], "model": "fake"})
        resources = {"storage": WritStorage(database=str(tmp_path / "w.duckdb")),
                     "synthesis": SynthesisSettings(tasks_per_batch=4), "simulation": SimulationSettings(variants=3),
                     "user_rewriter": rewriter}
        result = dg.materialize([tasks, user_scripts, user_scripts_valid],
                                partition_key=domain_batch_key("airline", "b0000"), instance=instance,
                                resources=resources)
    assert result.success
    # the check on the rewritten scripts ran and passed (an empty list of evaluations would pass `all`)
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {"user_scripts_valid": True}
    meta = {k: getattr(v, "value", v) for k, v in
            result.asset_materializations_for_node("user_scripts")[0].metadata.items()}
    assert meta["rewriter"] == "openai-compatible"
    assert meta["rewrite_scripted"] == 8 and meta["rewrite_accepted_first_try"] == 8, meta
    assert meta["rewrite_generation_calls"] == 1 and len(seen) == 8


def test_writ_run_takes_the_rewriter_from_its_config_file(tmp_path):
    # `writ run --config` with a `user_rewriter:` mapping: the rewriter is the one the stored
    # scripts were rewritten by; a bad option in that mapping is refused before anything is written.
    import duckdb
    import yaml
    from writ_testing import writ_main

    from writ_dagster.core.storage.scripts import read_user_scripts

    def config(options: dict[str, Any]) -> str:
        path = tmp_path / f"run-{len(options)}.yaml"
        path.write_text(yaml.safe_dump({"tasks_per_batch": 3, "simulation": {"variants": 2},
                                        "user_rewriter": {"kind": "openai-compatible", "options": options}}))
        return str(path)

    refused_home = tmp_path / "refused"
    bad = writ_main(refused_home, "run", "--domain", "airline", "--until", "trajectories",
                    "--config", config({"base_urls": ["http://127.0.0.1:9/v1"], "model": "m", "temprature": 0.3}))
    assert bad.returncode == 2 and "invalid user_rewriter settings" in bad.stderr and "temprature" in bad.stderr, \
        bad.stderr
    assert not refused_home.exists()

    app, seen = fake_openai_app(lambda body: {"content": json.dumps(_reworded(_instructions(body)[0]))})
    home = tmp_path / "home"
    with LoopbackServer(app) as server:
        done = writ_main(home, "run", "--domain", "airline", "--until", "trajectories",
                         "--config", config({"base_urls": [server.base_url], "model": "fake-rewriter"}))
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(seen) == 3 and {s["body"]["model"] for s in seen} == {"fake-rewriter"}  # variant 1 of 3 tasks
    con = duckdb.connect(str(home / "writ.duckdb"), read_only=True)
    try:
        scripts = read_user_scripts(con, "airline")
    finally:
        con.close()
    rewritten = [s for s in scripts if "You speak plainly" in s.user_scenario["instructions"]["task_instructions"]]
    assert len(scripts) == 6 and len(rewritten) == 3 and all(s.variant == 1 for s in rewritten)
