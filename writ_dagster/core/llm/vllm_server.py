"""A vLLM OpenAI-compatible server managed as a child process group.

``VLLMServer(config).start()`` runs ``python -m vllm.entrypoints.openai.api_server`` on a
loopback port with tool calling on (``--enable-auto-tool-choice --tool-call-parser``), waits
for ``/health``, and :meth:`VLLMServer.stop` ends the whole process group (the API server
and its engine workers), first with SIGTERM, then SIGKILL. The child starts in its own
session so a stop never reaches this process; a server started for a run is recorded for it
(:mod:`~writ_dagster.core.llm.server_registry`), so that it is stopped should the run end without
it. The module form is used because the ``vllm`` console script of the CPU build does not start;
it works for the GPU build too.

An API key, if wanted, is handed over in ``VLLM_API_KEY`` (read by vLLM) from the variable
named in the config, so it never appears on a command line or in a log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from writ_dagster.core.llm import server_registry
from writ_dagster.core.llm.dtype import PLATFORM_DTYPE, cpu_build, resolve_dtype
from writ_dagster.core.llm.openai_client import api_key_from_env
from writ_dagster.core.llm.sampling import model_label
from writ_dagster.core.llm.server_registry import ServerOwner


@dataclass(frozen=True)
class VLLMServerConfig:
    """How to start the server; ``port=0`` picks a free loopback port."""

    model: str
    served_model_name: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    tool_call_parser: str = "hermes"
    reasoning_parser: str | None = None  # e.g. "qwen3": think blocks come back as reasoning_content
    chat_template: str | None = None  # default: the model folder's chat_template.jinja, if any
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    dtype: str = PLATFORM_DTYPE  # see platform_dtype
    max_model_len: int | None = None
    enforce_eager: bool = True
    seed: int = 0
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=lambda: {"VLLM_CPU_KVCACHE_SPACE": "2"})  # GiB; ignored on GPUs
    api_key_env: str | None = None
    startup_timeout_s: float = 300.0
    python: str = sys.executable

    @property
    def name(self) -> str:
        """The model name clients send (default: the folder's name, with a tiny model's digest)."""
        return self.served_model_name or model_label(self.model)

    def command(self, port: int) -> list[str]:
        """The server's command line."""
        cmd = [
            self.python,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            self.model,
            "--served-model-name",
            self.name,
            "--host",
            self.host,
            "--port",
            str(port),
            "--enable-auto-tool-choice",
            "--tool-call-parser",
            self.tool_call_parser,
            "--tensor-parallel-size",
            str(self.tensor_parallel_size),
            "--data-parallel-size",
            str(self.data_parallel_size),
            "--dtype",
            resolve_dtype(self.dtype),
            "--seed",
            str(self.seed),
        ]
        template = self.chat_template or _default_template(self.model)
        if template:
            cmd += ["--chat-template", template]
        if self.reasoning_parser:
            cmd += ["--reasoning-parser", self.reasoning_parser]
        if self.max_model_len:
            cmd += ["--max-model-len", str(self.max_model_len)]
        if self.enforce_eager:
            cmd.append("--enforce-eager")
        if self.one_worker_process():
            cmd += ["--distributed-executor-backend", "uni"]
        return cmd + list(self.extra_args)

    def one_worker_process(self) -> bool:
        """Whether the model runs inside the engine's process, not in a worker process of its own: on the
        CPU build, for one replica without tensor parallelism (and unless the user chose an executor).

        Each of vLLM's processes imports torch and vLLM again (~20 s of a core here): the CPU build's
        default starts three (API server, engine, worker) where two do the same work. Measured on the
        tiny model, same seed: the same tokens and tool calls, and the server ready 15-25 s sooner."""
        return (
            cpu_build()
            and self.tensor_parallel_size == 1
            and self.data_parallel_size == 1
            and not any(a.startswith("--distributed-executor-backend") for a in self.extra_args)
        )

    def process_env(self) -> dict[str, str]:
        """The server's environment beyond this process's: the configured variables, and for a model kept
        in the engine's process the setting the CPU build needs for it (it refuses otherwise) and the
        thread count its worker process would have had (see :func:`omp_threads`)."""
        if not self.one_worker_process():
            return dict(self.env)
        single = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
        merged = {**os.environ, **self.env}
        threads = omp_threads(merged.get("VLLM_CPU_OMP_THREADS_BIND", "auto"))
        if "OMP_NUM_THREADS" not in merged and threads is not None:
            single["OMP_NUM_THREADS"] = str(threads)
        return {**single, **self.env}


def usable_cores() -> list[int]:
    """The cores this process may run on (its affinity where the OS tells it, else every core)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def omp_threads(bind: str) -> int | None:
    """The compute threads vLLM's CPU worker process gets for ``VLLM_CPU_OMP_THREADS_BIND``: the cores it
    lists (``"0-3,6"``), or for ``auto`` every core this process may use but one, kept for the API server
    and engine; ``None`` for ``nobind`` (OpenMP's own default). A model kept in the engine's process
    has no worker to bind, so without this its threads would take every core, two servers side by side
    (the user simulator and an evaluated model) fighting over the same ones."""
    if bind == "nobind":
        return None
    if bind == "auto":
        return max(1, len(usable_cores()) - 1)
    count = 0
    for part in bind.split("|")[0].split(","):
        first, _, last = part.strip().partition("-")
        count += int(last) - int(first) + 1 if last else 1
    return max(1, count)


def _default_template(model: str) -> str | None:
    path = Path(model) / "chat_template.jinja"
    return str(path) if path.is_file() else None


def cpu_cores_for(slot: int, slots: int) -> dict[str, str]:
    """Environment that pins a CPU-build server's compute threads to its own share of the cores, for
    ``slots`` servers running side by side (the user simulator and an evaluated model).

    vLLM's CPU build binds every server's threads to the same first cores by default, so two servers
    on one machine fight over one core while the others idle; a variable set by the user wins.
    Ignored by GPU builds."""
    if "VLLM_CPU_OMP_THREADS_BIND" in os.environ or slots < 2:
        return {}
    cores = usable_cores()
    if len(cores) < slots:
        return {}
    share = len(cores) // slots
    mine = cores[slot * share : (slot + 1) * share]
    return {"VLLM_CPU_OMP_THREADS_BIND": ",".join(map(str, mine))}


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerStartError(RuntimeError):
    """The server exited or did not become healthy in time (the message ends with its log)."""


class VLLMServer:
    """A running (or stopped) vLLM server; a context manager that stops it on exit."""

    def __init__(
        self, config: VLLMServerConfig, log_path: str | Path | None = None, owner: ServerOwner | None = None
    ) -> None:
        self.config = config
        self.owner = owner  # the run it is started for: recorded, so that it is stopped should the run end without it
        self.port = config.port or 0
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.startup_s: float | None = None
        self._started = 0.0

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``http://host:port/v1``)."""
        return f"http://{self.config.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> "VLLMServer":
        """Start the server and wait until ``/health`` answers 200."""
        if self.running:
            return self
        self.launch()
        return self.wait_ready()

    def launch(self) -> "VLLMServer":
        """Start the server process without waiting for it. It dies with the thread that calls this
        (Linux's parent-death signal), so call it from the thread that outlives the server's use."""
        if self.running:
            return self
        self.port = self.config.port or free_port(self.config.host)
        env = {**os.environ, **self.config.process_env()}
        if self.config.api_key_env:
            env["VLLM_API_KEY"] = api_key_from_env(self.config.api_key_env)
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="vllm-server-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self._log = open(self.log_path, "ab")
        self._started = time.perf_counter()
        self.process = server_registry.launch(
            self.config.command(self.port), env=env, stdout=self._log, owner=self.owner, port=self.port
        )
        return self

    def wait_ready(self) -> "VLLMServer":
        """Wait until the launched server's ``/health`` answers 200 (stopping it if it never does)."""
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.perf_counter() - self._started
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout_s
        url = f"http://{self.config.host}:{self.port}/health"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServerStartError(f"vLLM server exited with {self.process.returncode}\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.5)
        raise ServerStartError(f"vLLM server not healthy after {self.config.startup_timeout_s:.0f}s\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log (for error messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:] if self.log_path else ""
        except OSError:
            return ""

    def stop(self, grace_s: float = 20.0) -> None:
        """End the server's whole process group: SIGTERM, then SIGKILL after ``grace_s`` (see
        :func:`~writ_dagster.core.processes.end_group`), and take it off its run's record."""
        proc, self.process = self.process, None
        if proc is not None:
            server_registry.stop(proc, self.owner, grace_s)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "VLLMServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
