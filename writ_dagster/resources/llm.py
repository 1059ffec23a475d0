"""LLM resources: an OpenAI-compatible client, a managed vLLM server and offline vLLM.

Thin pydantic-configured wrappers over ``writ_dagster.core.llm``; each builds the core
backend the simulation engine drives. Secrets are never config values: a key is named by
its environment variable (``api_key_env``) and read when the backend is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from writ_dagster.core.llm.dtype import DTYPE_DOC, PLATFORM_DTYPE
from writ_dagster.core.llm.openai_client import OpenAICompatibleBackend, RetryPolicy
from writ_dagster.core.llm.registration import resolve_model
from writ_dagster.core.llm.sampling import Sampling


class _SamplingFields(dg.ConfigurableResource):
    temperature: float = Field(default=0.0, description="sampling temperature (0 = greedy)")
    top_p: float = Field(default=1.0, description="nucleus sampling mass")
    max_tokens: int = Field(default=256, description="most tokens generated per turn")
    seed: int = Field(default=0, description="base seed, mixed with each conversation and turn")
    reasoning_model: bool = Field(
        default=False,
        description="a reasoning model behind an OpenAI-style API: send "
        "max_tokens as max_completion_tokens, and no temperature, "
        "top_p or seed (ignored by offline vLLM)",
    )

    def sampling_params(self) -> Sampling:
        return Sampling(self.temperature, self.top_p, self.max_tokens, self.seed, self.reasoning_model)


class OpenAICompatibleResource(_SamplingFields):
    """A client of one or more OpenAI-compatible servers (round-robin, retries with backoff)."""

    base_urls: list[str] = Field(description="server base URLs, e.g. http://127.0.0.1:8000/v1")
    model: str = Field(description="model name the servers serve")
    api_key_env: str | None = Field(default=None, description="NAME of the environment variable holding the API key")
    max_retries: int = Field(default=4, description="retries of a failed turn before the conversation fails")
    backoff_s: float = Field(default=0.25, description="first retry delay; doubles each retry")
    backoff_max_s: float = Field(default=8.0, description="longest retry delay")
    timeout_s: float = Field(default=120.0, description="per-request timeout")

    def backend(self) -> OpenAICompatibleBackend:
        """A new async backend for the simulation engine."""
        return OpenAICompatibleBackend(
            self.base_urls,
            self.model,
            api_key_env=self.api_key_env,
            sampling=self.sampling_params(),
            retry=RetryPolicy(self.max_retries, self.backoff_s, self.backoff_max_s, self.timeout_s),
        )


class VLLMServerResource(_SamplingFields):
    """A vLLM server started for the run on a loopback port and stopped after it.

    ``model="tiny"`` serves the locally built tiny model. Use :meth:`backend` for an
    :class:`OpenAICompatibleBackend` pointed at it.
    """

    model: str = Field(default="tiny", description='model folder, or "tiny" for the locally built tiny model')
    served_model_name: str | None = Field(default=None, description="name clients use (default: the folder name)")
    port: int = Field(default=0, description="loopback port; 0 picks a free one")
    tool_call_parser: str = Field(default="hermes", description="vLLM --tool-call-parser")
    reasoning_parser: str | None = Field(
        default=None, description="vLLM --reasoning-parser (e.g. qwen3): reasoning comes back apart from the content"
    )
    chat_template: str | None = Field(
        default=None, description="--chat-template (default: the model's chat_template.jinja)"
    )
    tensor_parallel_size: int = Field(default=1, description="--tensor-parallel-size")
    data_parallel_size: int = Field(default=1, description="--data-parallel-size")
    dtype: str = Field(default=PLATFORM_DTYPE, description=f"--dtype; {DTYPE_DOC}")
    max_model_len: int | None = Field(default=None, description="--max-model-len")
    enforce_eager: bool = Field(
        default=True, description="--enforce-eager: no CUDA graphs (needed on CPUs; GPUs run faster without it)"
    )
    extra_args: list[str] = Field(default_factory=list, description="more vLLM arguments")
    cpu_kv_cache_gib: int = Field(default=2, description="VLLM_CPU_KVCACHE_SPACE for the CPU build (ignored on GPUs)")
    cuda_visible_devices: str | None = Field(
        default=None, description="CUDA_VISIBLE_DEVICES of the server, e.g. '0,1,2,3' (default: every GPU of the step)"
    )
    api_key_env: str | None = Field(
        default=None, description="NAME of the variable whose value the server requires as key"
    )
    startup_timeout_s: float = Field(default=300.0, description="seconds to wait for /health")
    max_retries: int = Field(default=4, description="client retries of a failed turn")
    timeout_s: float = Field(default=120.0, description="client per-request timeout")

    _server: Any = PrivateAttr(default=None)

    @property
    def gpus_needed(self) -> int:
        """GPUs one server uses on a GPU host: tensor × data parallel size."""
        return self.tensor_parallel_size * self.data_parallel_size

    def server_config(self) -> Any:
        """The core :class:`~writ_dagster.core.llm.vllm_server.VLLMServerConfig`."""
        from writ_dagster.core.llm.vllm_server import VLLMServerConfig

        env = {"VLLM_CPU_KVCACHE_SPACE": str(self.cpu_kv_cache_gib)}
        if self.cuda_visible_devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.cuda_visible_devices
        return VLLMServerConfig(
            model=resolve_model(self.model),
            served_model_name=self.served_model_name,
            port=self.port,
            tool_call_parser=self.tool_call_parser,
            reasoning_parser=self.reasoning_parser,
            chat_template=self.chat_template,
            tensor_parallel_size=self.tensor_parallel_size,
            data_parallel_size=self.data_parallel_size,
            dtype=self.dtype,
            max_model_len=self.max_model_len,
            enforce_eager=self.enforce_eager,
            extra_args=tuple(self.extra_args),
            env=env,
            api_key_env=self.api_key_env,
            startup_timeout_s=self.startup_timeout_s,
        )

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[VLLMServerResource]:
        """Start the server for the run and stop its whole process group afterwards."""
        from writ_dagster.core.llm.server_registry import ServerOwner
        from writ_dagster.core.llm.vllm_server import VLLMServer

        owner = None
        if context.instance is not None and context.run_id:  # stopped by a sweep if the run ends without it
            owner = ServerOwner.for_run(context.run_id, context.instance.root_directory)
        server = VLLMServer(self.server_config(), owner=owner)
        server.start()
        if context.log is not None:
            context.log.info(
                f"vLLM server ready at {server.base_url} in {server.startup_s:.1f}s (log {server.log_path})"
            )
        self._server = server
        try:
            yield self
        finally:
            server.stop()
            self._server = None

    @property
    def server(self) -> Any:
        """The running :class:`~writ_dagster.core.llm.vllm_server.VLLMServer`."""
        if self._server is None or not self._server.running:
            raise RuntimeError("the vLLM server is not running (use the resource inside a run)")
        return self._server

    @property
    def base_url(self) -> str:
        """The running server's OpenAI base URL."""
        return self.server.base_url

    def backend(self) -> OpenAICompatibleBackend:
        """An async backend talking to this server."""
        return OpenAICompatibleBackend(
            self.base_url,
            self.server.config.name,
            api_key_env=self.api_key_env,
            sampling=self.sampling_params(),
            retry=RetryPolicy(max_retries=self.max_retries, timeout_s=self.timeout_s),
        )


class VLLMOfflineResource(_SamplingFields):
    """In-process vLLM (``LLM.chat``): a batched backend, one call per engine step."""

    model: str = Field(default="tiny", description='model folder, or "tiny" for the locally built tiny model')
    dtype: str = Field(default=PLATFORM_DTYPE, description=f"vLLM dtype; {DTYPE_DOC}")
    max_model_len: int | None = Field(default=None, description="context length (default: the model's)")
    tensor_parallel_size: int = Field(default=1, description="GPUs per engine (1 on CPUs)")
    enforce_eager: bool = Field(default=True, description="skip graph capture (needed on CPUs; faster start)")

    def backend(self) -> Any:
        """A new batched backend (the engine starts on first use)."""
        from writ_dagster.core.llm.vllm_offline import VLLMOfflineBackend

        extra: dict[str, Any] = (
            {"tensor_parallel_size": self.tensor_parallel_size} if self.tensor_parallel_size != 1 else {}
        )
        return VLLMOfflineBackend(
            resolve_model(self.model),
            sampling=self.sampling_params(),
            dtype=self.dtype,
            max_model_len=self.max_model_len,
            enforce_eager=self.enforce_eager,
            **extra,
        )
