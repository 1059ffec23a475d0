"""Fine-tuned checkpoints: recipes, the assistant-only mask, and the `checkpoint` asset trained for
real with TRL on CPU through Dagster Pipes, registered only when complete.

The trainer tests need the `llm` extra (torch, transformers, trl) and skip without it; the recipe
and import tests run in the core environment too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from writ_dagster.core.home import writ_home
from writ_dagster.core.training import COMPLETE_MARKER
from writ_dagster.core.training.lengths import TokenCounter, length_figures
from writ_dagster.core.training.recipes import RECIPES, get_recipe
from writ_dagster.core.training.tiny_base import TINY_BASE

STEPS = 24  # cpu-tiny steps for the asset test: the loss falls well within them (~30 s on 2 cores)


# -- recipes and the training program's imports (no trl needed) ---------------------------------

def test_recipes_hold_the_documented_hyperparameters_and_refuse_bad_overrides() -> None:
    gpu, lora, cpu = RECIPES["gpu-qwen3-4b"], RECIPES["gpu-qwen3-4b-lora"], RECIPES["cpu-tiny"]
    assert gpu.base_model == lora.base_model == "Qwen/Qwen3-4B-Instruct-2507"
    assert gpu.bf16 and gpu.dtype == "bfloat16" and gpu.lora is None and not gpu.packing and gpu.assistant_only_loss
    assert lora.lora is not None and lora.lora.r == 64 and lora.learning_rate > gpu.learning_rate
    assert cpu.base_model == TINY_BASE and cpu.device == "cpu" and not cpu.bf16 and cpu.max_steps > 0
    assert get_recipe("cpu-tiny", {"max_steps": 3, "lora": {"r": 4}}).lora.r == 4
    assert get_recipe("gpu-qwen3-4b-lora", {"lora": {"r": 8}}).lora.alpha == 128  # nested overrides merge
    with pytest.raises(ValueError, match="unknown training recipe 'gpu-llama'.*cpu-tiny"):
        get_recipe("gpu-llama")
    with pytest.raises(ValueError, match="unknown training recipe field.*'learnin_rate'"):
        get_recipe("cpu-tiny", {"learnin_rate": 1e-3})
    with pytest.raises(ValueError, match="bf16 needs a GPU"):
        get_recipe("cpu-tiny", {"bf16": True})
    with pytest.raises(ValueError, match="packing"):
        get_recipe("gpu-qwen3-4b", {"packing": True})
    assert get_recipe("cpu-tiny").digest() != get_recipe("cpu-tiny", {"seed": 1}).digest()


def test_training_program_imports_neither_tau2_vllm_dagster_nor_duckdb() -> None:
    # what lets it run on a GPU host or pod that has only the training stack and dagster-pipes;
    # nor the LLM wing or the simulation, which would pull tau2 in sooner or later
    code = ("import sys, writ_dagster.core.training.pipes_main, writ_dagster.core.training.sft_train, "
            "writ_dagster.core.training.recipes, writ_dagster.core.training.tiny_base\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'tau2', 'vllm', 'dagster', 'duckdb', 'polars', 'litellm'} "
            "or m.startswith(('writ_dagster.core.llm', 'writ_dagster.core.simulation')))\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_training_settings_build_the_launch_command() -> None:
    pytest.importorskip("dagster")
    from writ_dagster.resources.training import TRAINING_MODULE, TrainingSettings

    assert TrainingSettings().command()[-2:] == ["-m", TRAINING_MODULE]
    acc = TrainingSettings(launcher="accelerate", num_processes=4, python="/opt/py").command()
    assert acc[:3] == ["/opt/py", "-m", "accelerate.commands.launch"]
    assert acc[acc.index("--num_processes") + 1] == "4" and "--multi_gpu" in acc and acc[-1] == TRAINING_MODULE
    with pytest.raises(ValueError, match="unknown training recipe"):
        TrainingSettings(recipe="nope").training_recipe()


# -- a real SFT set in a real database ----------------------------------------------------------

_SCORED: dict = {}  # the scored conversations sft_home's set was built from

@pytest.fixture(scope="module")
def sft_home(tmp_path_factory):
    """WRIT_HOME with a small real SFT set (scripted conversations, both domains) in its DuckDB."""
    pytest.importorskip("trl", reason="the 'llm' extra is not installed")
    from writ_dagster.core.sft.curate import build_sft
    from writ_dagster.core.sft.export import write_sft
    from writ_dagster.core.sft.models import SFTConfig
    from writ_dagster.core.simulation.engine import Job, SimulationEngine
    from writ_dagster.core.simulation.oracle import OracleAgent
    from writ_dagster.core.simulation.records import SimulationConfig
    from writ_dagster.core.simulation.scripted_user import ScriptedUser
    from writ_dagster.core.storage.schema import connect
    from writ_dagster.core.storage.sft import write_sft_set
    from writ_dagster.core.tasks.models import SynthesisConfig
    from writ_dagster.core.tasks.synthesis import Synthesizer
    from writ_dagster.core.users.scripts import make_scripts

    home = tmp_path_factory.mktemp("writ-home")
    tasks, jobs = {}, []
    for domain in ("airline", "retail"):
        for rec in Synthesizer(domain, SynthesisConfig(tasks_per_batch=5)).synthesize("t0000").tasks:
            tasks[rec.task_id] = rec
            jobs += [Job(rec, s, seed=0, partition="t0000") for s in make_scripts(rec, 2, 0)]
    records = list(SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig()).run(jobs))
    _SCORED.update(tasks=tasks, records=records)  # for a set built for a recipe (its lengths counted)
    config = SFTConfig(validation_fraction=0.2)
    build = build_sft(records, tasks, config)
    directory = home / "sft" / build.version
    write_sft(build, directory)
    with connect(home / "writ.duckdb") as con:
        info = write_sft_set(con, build, config, directory, trajectories_digest="test")
    assert info.n_train >= 8
    return home, info


def _resources(home: Path, **overrides):
    import dagster as dg

    from writ_dagster.resources.storage import WritStorage
    from writ_dagster.resources.training import TrainingSettings

    return {"storage": WritStorage(database=str(home / "writ.duckdb")),
            "training": TrainingSettings(recipe="cpu-tiny", overrides=overrides,
                                         checkpoints_root=str(home / "checkpoints"),
                                         models_root=str(home / "models")),
            "pipes_subprocess_client": dg.PipesSubprocessClient()}


def _checkpoint_rows(home: Path) -> list[dict]:
    from writ_dagster.core.storage.schema import connect

    with connect(home / "writ.duckdb") as con:
        return con.sql("SELECT * FROM checkpoints ORDER BY written_at").pl().to_dicts()


@pytest.mark.slow
def test_checkpoint_asset_trains_through_pipes_and_registers_a_complete_checkpoint(sft_home) -> None:
    import dagster as dg
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from writ_dagster.assets.checkpoints import ROWS_CUT_CHECK, checkpoint
    from writ_dagster.core.storage.checkpoints import latest_checkpoint
    from writ_dagster.core.storage.schema import connect

    home, info = sft_home
    started = time.perf_counter()
    # at 1024 tokens (4 a step, as before), most of this set's rows are cut: the check has something to warn about
    result = dg.materialize([checkpoint], resources=_resources(home, max_steps=STEPS, max_length=1024,
                                                               per_device_train_batch_size=4),
                            instance=dg.DagsterInstance.ephemeral())
    elapsed = time.perf_counter() - started
    assert result.success
    meta = result.asset_materializations_for_node("checkpoint")[0].metadata
    path = writ_home() / meta["checkpoint_path"].value  # relative to the home where it lies inside it
    curve = [(r.data["step"], r.data["loss"]) for r in meta["loss_curve"].value.records]
    print(f"\ncheckpoint asset: {meta['steps'].value} steps in {elapsed:.0f}s, loss {curve[0][1]:.3f} -> "
          f"{curve[-1][1]:.3f} over {len(curve)} points, {meta['train_rows'].value} rows")

    # the training loss falls; every logged point was streamed back through Pipes
    assert meta["steps"].value == STEPS and meta["recipe"].value == "cpu-tiny"
    assert curve[-1][1] < curve[0][1] - 1.0

    # this set was built for no recipe: the training's own count of the rows it cut (their end untrained)
    # is reported, and the check warns since more than 1% were cut
    tok = AutoTokenizer.from_pretrained(meta["base_model"].value)
    count = TokenCounter(tok)
    rows = pq.read_table(info.train_path).to_pylist()
    over = sum(count(r["messages"], r["tools"]) > 1024 for r in rows)
    assert meta["max_length_tokens"].value == 1024 and meta["rows_cut_at_max_length"].value == over > 0
    assert meta["rows_cut_share"].value == round(over / len(rows), 4)
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == ROWS_CUT_CHECK and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["figures"].value["rows_cut"] == over and f"{over} of {len(rows)}" in \
        check.metadata["details"].value
    assert meta["loss_points_streamed"].value == len(curve) >= 3
    assert meta["sft_version"].value == info.sft_version and meta["train_rows"].value == info.n_train

    # the folder is whole: marker (manifest) present, no .partial left, loads with transformers
    manifest = json.loads((path / COMPLETE_MARKER).read_text())
    assert manifest["steps"] == STEPS and manifest["sft_version"] == info.sft_version
    assert {f["path"] for f in manifest["files"]} >= {"config.json", "model.safetensors", "tokenizer.json",
                                                     "chat_template.jinja", "generation_config.json"}
    assert not path.with_name(path.name + ".partial").exists()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert "<tool_call>" in tok.chat_template
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                     return_dict=True, return_tensors="pt")
    assert model.generate(**prompt, max_new_tokens=4, do_sample=False).shape[1] > prompt["input_ids"].shape[1]

    # the DuckDB row names this folder, with its curve
    with connect(home / "writ.duckdb") as con:
        row = latest_checkpoint(con, info.sft_version)
    assert row is not None and row.path == str(path) and row.steps == STEPS and row.recipe == "cpu-tiny"
    assert row.loss_curve == [tuple(p) for p in manifest["loss_curve"]] and row.final_loss == curve[-1][1]


def _training_children() -> list:
    import psutil

    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "writ_dagster.core.training.pipes_main" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:  # a child that ended (or is a zombie) between the listing and the look
            continue
    return found


@pytest.mark.slow
def test_a_training_killed_midway_registers_nothing(sft_home) -> None:
    import dagster as dg

    from writ_dagster.assets.checkpoints import checkpoint

    home, _ = sft_home
    before = _checkpoint_rows(home)
    overrides = {"max_steps": 400, "logging_steps": 1, "seed": 7}  # far more steps than it gets to run
    recipe = get_recipe("cpu-tiny", overrides)
    outcome: dict = {}

    def run() -> None:
        outcome["result"] = dg.materialize([checkpoint], resources=_resources(home, **overrides),
                                           instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)

    thread = threading.Thread(target=run)
    thread.start()
    killed = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and thread.is_alive():
        logs = list((home / "checkpoints").glob(f"*-cpu-tiny-{recipe.digest()[:8]}.partial/training_log.jsonl"))
        if logs and len(logs[0].read_text().splitlines()) >= 2:  # two steps trained and logged: midway
            children = _training_children()
            assert len(children) == 1, children
            children[0].kill()  # SIGKILL: no cleanup of its own
            killed = children[0].pid
            break
        time.sleep(0.2)
    thread.join(timeout=120)
    assert killed is not None, "the training never reached its second step"
    assert not outcome["result"].success

    # no row was added, no folder without the marker is registered, and no half-checkpoint is left
    rows = _checkpoint_rows(home)
    assert [r["checkpoint_id"] for r in rows] == [r["checkpoint_id"] for r in before]
    assert all((Path(r["path"]) / COMPLETE_MARKER).is_file() for r in rows)
    assert not list((home / "checkpoints").glob(f"*-{recipe.digest()[:8]}*"))


@pytest.mark.slow
def test_lora_variant_trains_and_merges_into_a_plain_checkpoint(sft_home, tmp_path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from writ_dagster.core.llm.tiny_model import ensure_tiny_base
    from writ_dagster.core.training.sft_train import TrainJob, train_checkpoint

    home, info = sft_home
    recipe = get_recipe("cpu-tiny", {"max_steps": 6, "logging_steps": 2, "learning_rate": 2e-2,
                                     "lora": {"r": 8, "alpha": 16, "dropout": 0.0}})
    job = TrainJob(recipe=recipe, train_path=str(info.train_path), out=str(tmp_path / "lora"),
                   sft_version=info.sft_version, base_model=str(ensure_tiny_base(home / "models", recipe.tiny_base)))
    result = train_checkpoint(job)
    assert result.steps == 6 and result.loss_curve
    files = {f["path"] for f in result.files}
    assert "model.safetensors" in files and not any("adapter" in f for f in files)  # merged, not an adapter
    tuned = AutoModelForCausalLM.from_pretrained(tmp_path / "lora")
    base = AutoModelForCausalLM.from_pretrained(result.base_model)
    changed = [n for n, p in tuned.named_parameters() if not torch.equal(p, dict(base.named_parameters())[n])]
    assert any("proj" in n for n in changed)  # the adapters' updates landed in the linear layers


def test_assistant_only_mask_trains_the_agent_turns_and_nothing_else(sft_home, tmp_path) -> None:
    from datasets import Dataset

    from writ_dagster.core.llm.tiny_model import ensure_tiny_base
    from writ_dagster.core.training.sft_train import TrainJob, build_trainer, resolve_base_model

    home, info = sft_home
    # a window long enough for whole conversations, so every assistant turn is in the sequence
    recipe = get_recipe("cpu-tiny", {"max_length": 32768})
    job = TrainJob(recipe=recipe, train_path=str(info.train_path), out=str(tmp_path / "unused"),
                   sft_version=info.sft_version, base_model=str(ensure_tiny_base(home / "models", recipe.tiny_base)))
    trainer = build_trainer(job, resolve_base_model(job), output_dir=tmp_path / "trainer")
    tok = trainer.processing_class
    source = Dataset.from_parquet(str(info.train_path))
    checked = 0
    for i, row in enumerate(trainer.train_dataset):
        ids, labels = row["input_ids"], row["labels"]
        assert all(lab in (-100, tid) for lab, tid in zip(labels, ids))
        spans, current = [], []
        for tid, lab in zip(ids, labels):
            if lab != -100:
                current.append(tid)
            elif current:
                spans.append(tok.decode(current))
                current = []
        if current:
            spans.append(tok.decode(current))
        assistant = [m for m in source[i]["messages"] if m["role"] == "assistant"]
        assert len(spans) == len(assistant)  # one trained span per agent turn
        for span, message in zip(spans, assistant):
            assert span.endswith("<|im_end|>")  # the model learns to stop
            assert "<|im_start|>" not in span and "<tool_response>" not in span
            if message["content"]:
                assert span.startswith(message["content"])
            for call in message["tool_calls"] or []:
                assert f'"name": "{call["function"]["name"]}", "arguments": {call["function"]["arguments"]}' in span
        untrained = tok.decode([t for t, lab in zip(ids, labels) if lab == -100])
        for m in source[i]["messages"]:
            if m["role"] in ("user", "tool") and m["content"]:
                assert m["content"] in untrained  # user and tool turns are context only
        checked += 1
    assert checked == info.n_train


def test_the_training_counts_lengths_as_its_trainer_renders_them(sft_home, tmp_path) -> None:
    """The count the SFT stage and the training program share is the trainer's own rendering: a row's
    count is the length of the sequence TRL builds from it (uncut), and the rows over max_length are those
    the trainer cuts."""
    from writ_dagster.core.llm.tiny_model import ensure_tiny_base
    from writ_dagster.core.training.sft_train import TrainJob, build_trainer, resolve_base_model, train_lengths

    home, info = sft_home
    recipe = get_recipe("cpu-tiny", {"max_length": 32768})  # nothing cut: the trainer's sequences are whole
    job = TrainJob(recipe=recipe, train_path=str(info.train_path), out=str(tmp_path / "unused"),
                   sft_version=info.sft_version, base_model=str(ensure_tiny_base(home / "models", recipe.tiny_base)))
    trainer = build_trainer(job, resolve_base_model(job), output_dir=tmp_path / "trainer")
    trained = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    rows = pq.read_table(info.train_path).to_pylist()
    count = TokenCounter(trainer.processing_class)
    assert [count(r["messages"], r["tools"]) for r in rows] == trained
    assert train_lengths(job, trainer) == length_figures(trained, "tokens", 32768)
    at_1024 = job.model_copy(update={"recipe": get_recipe("cpu-tiny", {"max_length": 1024})})
    assert train_lengths(at_1024, trainer).over_limit == sum(n > 1024 for n in trained) > 0


def test_the_rows_cut_check_warns_above_one_percent() -> None:
    pytest.importorskip("dagster")
    import dagster as dg

    from writ_dagster.assets.checkpoints import rows_cut_result
    from writ_dagster.core.training.sft_train import TrainResult

    def manifest(cut: int, rows: int) -> TrainResult:
        return TrainResult(checkpoint="c", recipe="gpu-qwen3-4b", recipe_digest="d", recipe_json={"max_length": 16384},
                           base_model="b", sft_version="v", steps=1, train_rows=rows, rows_at_max_length=cut,
                           split_rows=rows, final_loss=None, mean_loss=None, loss_curve=[], seconds=0.0, files=[],
                           versions={})

    assert rows_cut_result(manifest(0, 2000)).passed
    assert rows_cut_result(manifest(20, 2000)).passed  # 1.0%: at the limit
    over = rows_cut_result(manifest(21, 2000))
    assert not over.passed and over.severity == dg.AssetCheckSeverity.WARN
    assert "21 of 2000 train rows (1.1%) are longer than 16384 tokens" in over.metadata["details"].value


@pytest.mark.slow
def test_a_set_built_for_the_recipe_trains_with_no_row_cut(sft_home, tmp_path) -> None:
    """Built for the recipe with its tokenizer at hand, the set holds no row the trainer cuts: the training's
    own count finds none, and the rows-cut check passes."""
    from writ_dagster.assets.checkpoints import rows_cut_result
    from writ_dagster.core.sft.curate import OVER_MAX_LENGTH, build_sft
    from writ_dagster.core.sft.export import write_sft
    from writ_dagster.core.sft.models import SFTConfig
    from writ_dagster.core.stages.sft import recipe_limit
    from writ_dagster.core.training.sft_train import TrainJob, train_checkpoint

    home, _ = sft_home
    recipe = get_recipe("cpu-tiny", {"max_steps": 2, "logging_steps": 1, "eval_at_end": False})
    assert recipe.max_length == 4096
    limit = recipe_limit(recipe, home / "models")
    build = build_sft(_SCORED["records"], _SCORED["tasks"], SFTConfig(validation_fraction=0.2), limit=limit)
    assert build.lengths.counted and build.dropped[OVER_MAX_LENGTH] > 0 and build.lengths.rows.over_limit == 0
    write_sft(build, tmp_path / "set")
    job = TrainJob(recipe=recipe, train_path=str(tmp_path / "set" / "train.parquet"), out=str(tmp_path / "ckpt"),
                   sft_version=build.version, base_model=str(home / "models" / limit.tokenizer))
    result = train_checkpoint(job)
    assert result.rows_at_max_length == 0 and result.split_rows == result.train_rows == \
        sum(r.split == "train" for r in build.rows)
    assert result.token_lengths.max <= 4096 and result.token_lengths.max == max(
        limit.count(r.messages, r.tools) for r in build.rows if r.split == "train")
    assert rows_cut_result(result).passed
