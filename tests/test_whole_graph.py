"""Acceptance: the README's main command runs the whole graph, tasks to evaluation, on the embedded
default, and the UI shows every asset materialized.

Shares the default run with the other default-run tests (``writ_testing.default_run_home``).
Needs the `llm` extra (TRL for the checkpoint, vLLM for the evaluation); without it the default
run stops after the SFT set and this module skips.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
from writ_testing import DEFAULT_RUN_ARGS, LLM_EXTRA, default_run_home, marked_processes

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not LLM_EXTRA, reason="the whole graph needs the `llm` extra")]

DOMAINS = ("airline", "retail")
MATERIALIZATIONS = """
query Mats($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset { assetMaterializations { partition runId metadataEntries { label
                   ... on MarkdownMetadataEntry { mdStr } } } }
  }
}"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert DEFAULT_RUN_ARGS == ()  # the README's main command, unchanged
    return default_run_home(tmp_path_factory, *DEFAULT_RUN_ARGS)


def _rows(home: Path, sql: str) -> list[dict]:
    con = duckdb.connect(str(home / "writ.duckdb"), read_only=True)
    try:
        return con.sql(sql).pl().to_dicts()
    finally:
        con.close()


def test_every_stage_reports_success(home: Path) -> None:
    out = (home / "run-stdout.txt").read_text()
    assert "FAILED" not in out and "skipped" not in out
    for domain in DOMAINS:
        assert f"{domain}/b0000: trajectories:" in out
        for label in ("base", "fine-tuned"):  # both models ran: measured, no conversation errored
            [line] = [x for x in out.splitlines() if x.startswith(f"evaluation: {domain} {label}: ")]
            assert line.startswith(f"evaluation: {domain} {label}: pass^1") and "; errors 0;" in line, line
    assert "sft: set " in out and "checkpoint: " in out


def test_the_checkpoint_trained_on_the_sft_set_and_its_loss_fell(home: Path) -> None:
    [ckpt] = _rows(home, "SELECT * FROM checkpoints")
    [sft] = _rows(home, "SELECT * FROM sft_sets")
    assert ckpt["sft_version"] == sft["sft_version"] and ckpt["train_rows"] == sft["n_train"]
    curve = json.loads(ckpt["loss_curve_json"])
    assert len(curve) >= 3 and curve[-1][0] == ckpt["steps"]
    assert curve[-1][1] < curve[0][1] - 1.0, curve  # the training loss falls, clearly
    path = Path(ckpt["path"])
    assert (path / "writ_checkpoint.json").is_file() and not Path(f"{path}.partial").exists()
    # the set was built for the recipe, counted with its tokenizer: the training's own count cut no row
    manifest = json.loads((path / "writ_checkpoint.json").read_text())
    assert json.loads(sft["lengths_json"])["counted"] and manifest["rows_at_max_length"] == 0
    assert "(0 cut at max_length)" in (home / "run-stdout.txt").read_text()


def test_evaluation_results_load_with_tau2_and_report_pass_k_and_tokens(home: Path) -> None:
    from tau2.data_model.simulation import Results
    from tau2.metrics.agent_metrics import compute_metrics

    rows = _rows(home, "SELECT * FROM evaluations ORDER BY domain, model_label")
    assert {(r["domain"], r["model_label"]) for r in rows} == {(d, m) for d in DOMAINS for m in ("base", "fine-tuned")}
    [ckpt] = _rows(home, "SELECT checkpoint_id, path, base_model FROM checkpoints")
    for row in rows:
        results = Results.load(Path(row["results_path"]))  # tau2's own loader
        assert len(results.simulations) == row["num_tasks"] * row["num_trials"]
        pass_k = {int(k): v for k, v in json.loads(row["pass_k_json"]).items()}
        assert sorted(pass_k) == list(range(1, row["num_trials"] + 1))
        assert all(0.0 <= v <= 1.0 for v in pass_k.values())
        metrics = compute_metrics(results)  # the benchmark's own figures agree with the stored ones
        assert pass_k == pytest.approx({int(k): v for k, v in metrics.pass_hat_ks.items()})
        assert row["avg_reward"] == pytest.approx(metrics.avg_reward)
        figures = json.loads(row["figures_json"])
        # Both models ran every conversation, so no error and tau2's figures agree. The untrained base answers
        # with newlines only: its conversations end at that empty reply, scored 0 (not a crash).
        assert figures["errors"] == 0 and figures["conversations_ran"] == row["n_simulations"], figures
        assert row["avg_agent_tokens"] > 0 and row["avg_agent_prompt_tokens"] > 0
        expected_model = ckpt["path"] if row["model_label"] == "fine-tuned" else ckpt["base_model"]
        assert row["model_path"] == expected_model
        assert row["checkpoint_id"] == (ckpt["checkpoint_id"] if row["model_label"] == "fine-tuned" else None)


def test_the_evaluation_served_three_models_talked_through_tau2_and_left_nothing_running(home: Path) -> None:
    """The checkpoint, its base and the SmolLM2 user were really served (a log each), their conversations
    are in tau2 results files beside them, no key reached those files, and no server outlived the run."""
    from tau2.data_model.simulation import Results

    from writ_dagster.assets.evaluation import EVALUATIONS_DIR

    assert marked_processes((home / "run-marker.txt").read_text()) == [], "a process outlived the run"
    rows = _rows(home, "SELECT * FROM evaluations")
    [evaluation_id] = {r["evaluation_id"] for r in rows}
    out_dir = home / EVALUATIONS_DIR / evaluation_id
    for log in ("user", "agent-base", "agent-fine-tuned"):
        assert (out_dir / "logs" / f"{log}.log").stat().st_size > 0
    for row in rows:
        path = Path(row["results_path"])
        assert path == out_dir / f"{row['model_label']}_{row['domain']}.json"
        results = Results.load(path)
        assert results.info.environment_info.domain_name == row["domain"]
        assert results.info.agent_info.llm.startswith("openai/") and "api_key" not in results.info.agent_info.llm_args
        assert "api_key" not in path.read_text()
        # Conversations really happened: the SmolLM2 user answered each model's agent in each.
        assert all(any(m.role == "user" and m.content for m in sim.messages) for sim in results.simulations)


def test_the_ui_shows_every_asset_materialized(home: Path, tmp_path: Path) -> None:
    """Boot `writ dev -h 127.0.0.1 -p PORT` on the run's own instance and ask its GraphQL API for each asset."""
    pytest.importorskip("requests")
    from dagster_dev import DagsterDev

    from writ_dagster.definitions import defs

    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "WRIT_HOME")}
    env.update(WRIT_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), DAGSTER_DISABLE_TELEMETRY="1")
    server = DagsterDev(Path(__file__).resolve().parents[1], env, tmp_path / "dagster-dev.log", via_writ=True)
    try:
        server.wait_loaded()
        keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
        assert {"tasks", "user_scripts", "trajectories", "sft_set", "checkpoint", "evaluation"} <= keys
        for key in sorted(keys):
            data = server.gql(MATERIALIZATIONS, {"key": {"path": [key]}})["assetOrError"]
            assert data["__typename"] == "Asset", (key, data)
            partitions = {m["partition"] for m in data["assetMaterializations"]}
            assert partitions, f"{key} has no materialization in the UI"
            if key == "domain_catalogue":
                assert set(DOMAINS) <= partitions
            elif key in ("tasks", "user_scripts", "trajectories"):
                assert {f"b0000|{d}" for d in DOMAINS} <= partitions, (key, partitions)
            elif key == "evaluation":  # the score table, one line per domain and model, as the UI shows it
                entries = {e["label"]: e for e in data["assetMaterializations"][0]["metadataEntries"]}
                table = entries["scores"]["mdStr"].splitlines()
                assert "pass^1" in table[0] and "pass^2" in table[0]
                assert [line.split("|")[1:3] for line in table[2:]] == [
                    [f" {d} ", f" {m} "] for d in DOMAINS for m in ("base", "fine-tuned")]
    finally:
        leftovers = server.stop()
    assert not leftovers, f"processes left running: {sorted(leftovers)}"
