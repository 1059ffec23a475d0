"""How a vLLM server process is started.

- It dies with the run: `kill -9` of the process that launched it (no handler runs, nothing stops the
  server's own process group) still ends the server, through Linux's parent-death signal set by the
  launcher every vLLM server is started with.
- Two servers side by side on a CPU build get cores of their own (vLLM binds both to the same ones).
- The default dtype is the build's fastest: float32 on a CPU build over a CPU without bf16 instructions.
- On a CPU build one replica keeps its model in the engine's process (one torch import fewer) with the
  threads its worker would have had; GPU builds and parallel servers start as vLLM starts them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from writ_dagster.core.llm import dtype
from writ_dagster.core.llm.vllm_server import VLLMServerConfig, cpu_cores_for, omp_threads
from writ_dagster.core.processes import with_parent_death

LAUNCHER = """
import subprocess, sys, time
from writ_dagster.core.processes import with_parent_death
server = subprocess.Popen(with_parent_death([sys.executable, "-c", "import time; time.sleep(600)"]),
                          start_new_session=True)
print(server.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.timeout(60)
def test_a_server_dies_when_the_process_that_launched_it_is_killed() -> None:
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdout=subprocess.PIPE, text=True)
    assert launcher.stdout is not None
    server = int(launcher.stdout.readline())
    try:
        time.sleep(1.0)  # the launcher has exec'd into the server by now
        assert _alive(server)
        with open(f"/proc/{server}/cmdline", "rb") as f:
            assert b"time.sleep(600)" in f.read()  # the server's own command, not the launcher's
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(10)
        deadline = time.monotonic() + 10
        while _alive(server) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(server), "the server outlived the killed process that launched it"
    finally:
        launcher.kill()
        if _alive(server):
            os.kill(server, signal.SIGKILL)


def test_the_launcher_runs_the_command_unchanged(tmp_path) -> None:
    out = subprocess.run(with_parent_death([sys.executable, "-c", "import sys; print(sys.argv[1:])", "a b", "--x"]),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "['a b', '--x']"


def test_servers_side_by_side_get_cores_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4})
    assert cpu_cores_for(0, 2) == {"VLLM_CPU_OMP_THREADS_BIND": "0,1"}
    assert cpu_cores_for(1, 2) == {"VLLM_CPU_OMP_THREADS_BIND": "2,3"}
    assert cpu_cores_for(0, 1) == {}  # a server alone: vLLM's own binding
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {7})
    assert cpu_cores_for(1, 2) == {}  # fewer cores than servers: nothing to split
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    assert cpu_cores_for(1, 2) == {}  # the user's setting wins


@pytest.mark.parametrize(("cpu_build", "flags", "expected"), [
    (True, "fpu sse avx2", "float32"), (True, "fpu avx2 avx512f avx512_bf16", "bfloat16"),
    (True, "fpu avx2 amx_bf16", "bfloat16"), (False, "fpu sse avx2", "bfloat16")])
def test_the_default_dtype_is_the_builds_fastest(monkeypatch: pytest.MonkeyPatch, tmp_path, cpu_build: bool,
                                                 flags: str, expected: str) -> None:
    from importlib import metadata

    def distribution(name: str):
        if name == "vllm-cpu" and cpu_build:
            return object()
        raise metadata.PackageNotFoundError(name)

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor : 0\nflags : {flags}\n")
    real_path = dtype.Path
    monkeypatch.setattr(dtype.metadata, "distribution", distribution)
    monkeypatch.setattr(dtype, "Path", lambda p: cpuinfo if p == "/proc/cpuinfo" else real_path(p))
    dtype.platform_dtype.cache_clear()
    try:
        command = VLLMServerConfig(model="m").command(8000)
        assert command[command.index("--dtype") + 1] == expected
        explicit = VLLMServerConfig(model="m", dtype="bfloat16").command(8000)
        assert explicit[explicit.index("--dtype") + 1] == "bfloat16"  # an explicit dtype is kept
    finally:
        dtype.platform_dtype.cache_clear()


def _build(monkeypatch: pytest.MonkeyPatch, cpu: bool) -> None:
    def distribution(name: str):
        if name == "vllm-cpu" and not cpu:
            raise dtype.metadata.PackageNotFoundError(name)
        return object()

    monkeypatch.setattr(dtype.metadata, "distribution", distribution)


def test_a_cpu_build_keeps_one_replicas_model_in_the_engine_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    _build(monkeypatch, cpu=True)
    one = VLLMServerConfig(model="m", dtype="bfloat16", env={"VLLM_CPU_OMP_THREADS_BIND": "2-3"})
    command = one.command(8000)
    assert command[command.index("--distributed-executor-backend") + 1] == "uni"
    assert one.process_env()["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"  # the CPU build refuses "uni" otherwise
    assert one.process_env()["OMP_NUM_THREADS"] == "2"  # the two cores it was given, as its worker had
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert "OMP_NUM_THREADS" not in one.process_env()  # the user's own count is kept
    for parallel in (VLLMServerConfig(model="m", dtype="bfloat16", tensor_parallel_size=2),
                     VLLMServerConfig(model="m", dtype="bfloat16", data_parallel_size=2),
                     VLLMServerConfig(model="m", dtype="bfloat16", extra_args=("--distributed-executor-backend", "mp"))):
        assert parallel.command(8000).count("--distributed-executor-backend") == len(parallel.extra_args) // 2
        assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in parallel.process_env()


def test_a_gpu_build_starts_as_vllm_does(monkeypatch: pytest.MonkeyPatch) -> None:
    _build(monkeypatch, cpu=False)
    config = VLLMServerConfig(model="m", dtype="bfloat16")
    assert "--distributed-executor-backend" not in config.command(8000)
    assert config.process_env() == config.env


def test_thread_counts_follow_vllms_binding_forms() -> None:
    assert omp_threads("0-3,6") == 5 and omp_threads("1") == 1 and omp_threads("0-1|2-3") == 2
    assert omp_threads("nobind") is None
    assert omp_threads("auto") == max(1, len(os.sched_getaffinity(0)) - 1)
