"""configs/writ-2k.yaml, WRIT's recipe: it loads into the real resource classes with tau2's
evaluation protocol, and on a machine without its GPUs `writ run` refuses in one line before
writing anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from writ_dagster.core.sft.models import SFTConfig
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.resources import EvaluationSettings, ModelRole, TrainingSettings
from writ_dagster.resources.llm import VLLMServerResource

ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "configs" / "writ-2k.yaml"
SECTIONS = ("simulation", "sft", "training", "evaluation", "teacher", "user_simulator", "batches")


def _preset() -> dict:
    return yaml.safe_load(PRESET.read_text())


def test_preset_loads_into_the_real_resources_with_tau2s_protocol() -> None:
    data = _preset()
    synthesis = SynthesisConfig(**{k: v for k, v in data.items() if k not in SECTIONS})
    simulation = TrajectoryConfig(**data["simulation"])
    # rejection sampling: several teacher samples per (task, script), the first passing one kept
    policy = simulation.attempt_policy()
    assert policy.attempts == 4 and policy.wanted_passes == 1

    teacher, user = ModelRole(**data["teacher"]), ModelRole(**data["user_simulator"])
    server = teacher.spec()
    assert isinstance(server, VLLMServerResource) and teacher.device == "gpu"
    assert server.tensor_parallel_size >= 2 and teacher.gpus_needed() == server.tensor_parallel_size
    cmd = server.server_config().command(8000)
    assert cmd[cmd.index("--model") + 1] == server.model and "--enforce-eager" not in cmd
    assert user.kind == "teacher" and user.spec() is None and user.sampling().max_tokens >= 512

    sft = SFTConfig(**data["sft"])
    assert 1900 <= sum(sft.targets.values()) <= 2100
    assert {cell.split("/")[0] for cell in sft.targets} == {"airline", "retail"}
    # enough conversations for the mixture: each cell can be filled about twice over
    per_domain = data["batches"] * synthesis.tasks_per_batch * (data["simulation"]["variants"])
    assert per_domain >= 2 * max(sum(n for c, n in sft.targets.items() if c.startswith(d)) for d in ("airline/", "retail/"))

    training = TrainingSettings(**data["training"])
    assert training.training_recipe().name == "gpu-qwen3-4b"

    evaluation = EvaluationSettings(**data["evaluation"]).eval_config()
    assert evaluation.task_split == "base" and evaluation.num_tasks is None  # every base task
    assert (evaluation.num_trials, evaluation.max_steps, evaluation.max_errors) == (4, 200, 10)
    assert evaluation.agent_max_tokens >= server.max_tokens  # room for a teacher-length turn
    assert evaluation.user.served_here and evaluation.user.model == server.model  # the strong model as user


def test_writ_run_with_the_preset_refuses_on_a_machine_without_gpus(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "WRIT_UPSTREAM_TASKS")}
    env.update(WRIT_HOME=str(home), CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "writ_dagster.cli", "run", "--config", str(PRESET)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and proc.stdout == "", proc.stderr
    [line] = lines
    assert line.startswith("writ: error: this machine cannot run it:")
    assert "teacher: vLLM for Qwen/" in line and "needs 8 GPUs, 0 visible" in line
    assert "training: recipe gpu-qwen3-4b needs a GPU" in line and "openai-compatible" in line
    assert not home.exists()  # no database, no Dagster home


def test_a_layered_config_points_the_preset_at_endpoints_without_editing_it(tmp_path: Path) -> None:
    """`--config preset --config overlay --set ...`: each layer merged over the ones before, each key validated."""
    from writ_dagster.cli.parser import build_parser
    from writ_dagster.cli.settings import load_config, role_settings, simulation_settings

    overlay = tmp_path / "endpoints.yaml"
    overlay.write_text("teacher:\n  kind: openai-compatible\n  options: {base_urls: ['http://127.0.0.1:9/v1'], "
                       "model: m}\nsimulation: {max_concurrency: 16}\n")
    before = PRESET.read_text()
    args = build_parser().parse_args(["run", "--config", str(PRESET), "--config", str(overlay),
                                      "--set", "simulation.attempts=2", "--set", "batches=1"])
    merged = load_config(args)
    assert merged["batches"] == 1 and merged["tasks_per_batch"] == 60  # the preset's, kept
    # a role that changes kind is replaced whole: no vLLM option leaks into the endpoint's options
    assert merged["teacher"] == {"kind": "openai-compatible", "options": {"base_urls": ["http://127.0.0.1:9/v1"],
                                                                         "model": "m"}}
    simulation = simulation_settings(args)
    assert (simulation.attempts, simulation.keep_passing, simulation.max_concurrency, simulation.variants) == (2, 1, 16, 3)
    assert role_settings(args)["teacher"].kind == "openai-compatible"
    assert PRESET.read_text() == before


def test_a_bad_layer_is_refused_in_one_line_naming_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "WRIT_UPSTREAM_TASKS")}
    env.update(WRIT_HOME=str(home), PYTHONPATH=str(ROOT))
    for extra, says in ((["--set", "simulation.attemps=4"], "attemps"), (["--set", "simulation"], "KEY=VALUE"),
                        (["--set", "simulation=3"], "'simulation' must be a mapping")):
        proc = subprocess.run([sys.executable, "-m", "writ_dagster.cli", "run", "--config", str(PRESET), *extra],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2 and len(lines) == 1 and says in lines[0], proc.stderr
    assert not home.exists()


def test_the_single_gpu_layer_moves_the_teacher_to_an_endpoint_and_trains_lora_on_one_gpu(tmp_path: Path) -> None:
    """configs/writ-2k-1gpu.yaml over the preset, through `writ run`'s own loader and the real resources."""
    from writ_dagster.cli.parser import build_parser
    from writ_dagster.cli.settings import evaluation_settings, role_settings, simulation_settings, training_settings

    layer = ROOT / "configs" / "writ-2k-1gpu.yaml"
    args = build_parser().parse_args(["run", "--config", str(PRESET), "--config", str(layer),
                                      "--set", "teacher.options.base_urls=[http://127.0.0.1:9/v1]",
                                      "--set", "teacher.options.model=big-teacher"])
    roles = role_settings(args)
    teacher, user = roles["teacher"], roles["user_simulator"]
    assert teacher.kind == "openai-compatible" and teacher.gpus_needed() == 0
    assert teacher.options["base_urls"] == ["http://127.0.0.1:9/v1"] and teacher.options["model"] == "big-teacher"
    assert teacher.options["api_key_env"] == "TEACHER_API_KEY" and user.kind == "teacher"
    simulation = simulation_settings(args)
    assert (simulation.attempts, simulation.keep_passing, simulation.max_concurrency) == (4, 1, 32)  # preset's sampling
    training = training_settings(args)
    recipe = training.training_recipe()
    assert recipe.name == "gpu-qwen3-4b-lora" and recipe.lora is not None and training.num_processes == 1
    evaluation = evaluation_settings(args).eval_config()
    assert not evaluation.user.served_here and evaluation.user.api_key_env == "TEACHER_API_KEY"
    assert evaluation.server.tensor_parallel_size == 1 and (evaluation.num_trials, evaluation.max_steps) == (4, 200)
