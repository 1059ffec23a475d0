"""The shipped scale-out configuration (deploy/, docs/scale-out.md) and the local instance's pool
limits load with the real validators: Dagster's instance schema, dagster-k8s's launcher and tag
schemas, accelerate's config loader, WRIT's own resource classes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import validate_config  # the validator DagsterInstance uses for its own config
from dagster._core.instance.config import dagster_instance_config

from writ_dagster.definitions import defs
from writ_dagster.instance import DAGSTER_YAML, GPU_POOL, ensure_dagster_home
from writ_dagster.k8s import K8S_CONFIG_TAG, gpu_k8s_config, gpu_op_tags
from writ_dagster.resources.llm import VLLMServerResource
from writ_dagster.resources.simulation import SimulationSettings

ROOT = Path(__file__).resolve().parents[1]
K8S_INSTANCE = ROOT / "deploy" / "k8s" / "dagster.yaml"
HELM_VALUES = ROOT / "deploy" / "k8s" / "values.yaml"
ACCELERATE = ROOT / "deploy" / "accelerate" / "multi-gpu.yaml"
DOC = ROOT / "docs" / "scale-out.md"


def _instance_config(text: str, tmp_path: Path) -> dict:
    """``text`` as a dagster.yaml, validated exactly as an instance loads it (raises on any error)."""
    home = tmp_path / "instance"
    home.mkdir()
    (home / "dagster.yaml").write_text(text)
    config, custom_class = dagster_instance_config(str(home))
    assert custom_class is None
    return dict(config)


def test_local_instance_limits_gpu_pool_to_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRIT_HOME", str(tmp_path / "writ"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = ensure_dagster_home()
    assert (home / "dagster.yaml").read_text() == DAGSTER_YAML
    config = _instance_config(DAGSTER_YAML, tmp_path)
    assert config["concurrency"] == {"runs": {"max_concurrent_runs": 1}, "pools": {"default_limit": 1}}
    # A real instance from that home: the gpu pool (never configured by hand) is limited to 1.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        info = instance.event_log_storage.get_concurrency_info(GPU_POOL)
        assert info.limit == 1 and info.using_default_limit
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


def test_bad_pool_config_is_rejected(tmp_path: Path) -> None:
    """The validation above can fail: a pool limit out of range is refused by Dagster."""
    bad = DAGSTER_YAML.replace("default_limit: 1", "default_limit: -3")
    with pytest.raises(dg.DagsterInvalidConfigError, match="default_limit"):
        _instance_config(bad, tmp_path)


def test_k8s_instance_config_passes_dagster_schema(tmp_path: Path) -> None:
    config = _instance_config(K8S_INSTANCE.read_text(), tmp_path)
    assert set(config["storage"]) == {"postgres"}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 1  # DuckDB: one writer
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")


def test_k8s_run_launcher_config_passes_dagster_k8s_schema(tmp_path: Path) -> None:
    dagster_k8s = pytest.importorskip("dagster_k8s")
    launcher = yaml.safe_load(K8S_INSTANCE.read_text())["run_launcher"]
    result = validate_config(dagster_k8s.K8sRunLauncher.config_type(), launcher["config"])
    assert result.success, [e.message for e in result.errors]
    value = result.value
    assert "WRIT_HOME=/writ" in value["env_vars"]
    [mount] = value["volume_mounts"]
    assert mount["mount_path"] == "/writ"
    # The same check catches a misspelt key.
    broken = {**launcher["config"], "volume_mount": value["volume_mounts"]}
    assert not validate_config(dagster_k8s.K8sRunLauncher.config_type(), broken).success


def test_helm_values_match_the_instance_config() -> None:
    """No helm here: check the values parse and say the same as deploy/k8s/dagster.yaml."""
    values = yaml.safe_load(HELM_VALUES.read_text())
    instance = yaml.safe_load(K8S_INSTANCE.read_text())
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert k8s["envVars"] == instance["run_launcher"]["config"]["env_vars"]
    assert k8s["volumeMounts"][0]["mountPath"] == instance["run_launcher"]["config"]["volume_mounts"][0]["mount_path"]
    assert values["concurrency"]["runs"]["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    assert values["concurrency"]["pools"]["defaultLimit"] == instance["concurrency"]["pools"]["default_limit"]
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "writ_dagster.definitions"]


def test_gpu_tags_pass_dagster_k8s_tag_schema() -> None:
    tags = gpu_op_tags(4)
    assert json.loads(tags[K8S_CONFIG_TAG]) == gpu_k8s_config(4)
    job_module = pytest.importorskip("dagster_k8s.job")
    parsed = job_module.get_user_defined_k8s_config(tags)  # what the launcher and the executor call
    assert parsed.container_config["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert parsed.pod_spec_config["tolerations"][0]["key"] == "nvidia.com/gpu"
    with pytest.raises(ValueError, match="at least 1 GPU"):
        gpu_k8s_config(0)


def test_gpu_assets_use_the_gpu_pool() -> None:
    """Where the GPU assets exist, they are in the `gpu` pool the instance limits."""
    graph = defs.resolve_asset_graph()
    present = [key for key in (dg.AssetKey("checkpoint"), dg.AssetKey("evaluation")) if graph.has(key)]
    if not present:
        pytest.skip("checkpoint/evaluation are not in the definitions yet")
    for key in present:
        assert defs.get_assets_def(key).get_op_def_for_asset_key(key).pool == GPU_POOL, key


def test_accelerate_config_loads_with_accelerate() -> None:
    config = yaml.safe_load(ACCELERATE.read_text())
    assert config["distributed_type"] == "MULTI_GPU" and config["num_processes"] >= 2
    config_args = pytest.importorskip("accelerate.commands.config.config_args")
    loaded = config_args.ClusterConfig.from_yaml_file(str(ACCELERATE))
    assert str(loaded.distributed_type).endswith("MULTI_GPU") and loaded.num_processes == config["num_processes"]
    assert str(loaded.mixed_precision).endswith("bf16") and loaded.use_cpu is False


def _doc_blocks() -> dict[str, dict]:
    """The YAML blocks of docs/scale-out.md marked ``<!-- check: KIND NAME -->``."""
    text = DOC.read_text()
    blocks = re.findall(r"<!-- check: (\S+) (\S+) -->\n```yaml\n(.*?)```", text, flags=re.S)
    return {f"{kind} {name}": yaml.safe_load(body) for kind, name, body in blocks}


def test_doc_blocks_are_found() -> None:
    assert set(_doc_blocks()) == {"run-config trajectories_job", "resource VLLMServerResource"}


def test_doc_run_config_for_several_vllm_servers_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    run_config = _doc_blocks()["run-config trajectories_job"]
    job = defs.get_job_def("trajectories_job")
    assert dg.validate_run_config(job, run_config)  # Dagster's own check of the launchpad config
    settings = SimulationSettings(**run_config["resources"]["simulation"]["config"])
    config = settings.trajectory_config()  # the core's validation (known backend, limits)
    assert config.agent_backend == "openai-compatible"
    from writ_dagster.core.llm.registration import openai_compatible

    monkeypatch.setenv(config.agent_options["api_key_env"], "test-key-not-real")
    backend = openai_compatible(**config.agent_options)  # the factory the registry calls
    urls = config.agent_options["base_urls"]
    assert len(urls) == 4 and backend.base_urls == urls  # round robin over all four


def test_doc_tensor_parallel_teacher_loads() -> None:
    resource = VLLMServerResource(**_doc_blocks()["resource VLLMServerResource"])
    command = resource.server_config().command(port=8000)
    at = command.index("--tensor-parallel-size")
    assert command[at + 1] == "8"
    assert "--enable-auto-tool-choice" in command and resource.served_model_name == "teacher"


def test_deploy_files_name_no_local_paths() -> None:
    for path in (K8S_INSTANCE, HELM_VALUES, ACCELERATE, DOC):
        text = path.read_text()
        assert "/work/" not in text and "/root/" not in text, path
