"""The ``teacher`` and ``user_simulator`` resources: which model plays the agent and the user.

Each is a :class:`ModelRole`: ``kind`` picks one of the LLM resources of
:mod:`writ_dagster.resources.llm` and ``options`` are that class's fields, so the launchpad,
``writ run --config`` and Python all set them the same way:

- ``scripted`` (the default): nothing is started; ``simulation.agent_backend`` and
  ``simulation.user_backend`` choose the backends, scripted unless set otherwise;
- ``vllm-server``: a :class:`~writ_dagster.resources.llm.VLLMServerResource` started once per run
  (tensor/data parallel sizes, GPUs by ``cuda_visible_devices``) and stopped when the run ends,
  whether it succeeded or failed;
- ``openai-compatible``: an :class:`~writ_dagster.resources.llm.OpenAICompatibleResource`
  (servers run elsewhere; a key only by variable name);
- ``vllm-offline``: a :class:`~writ_dagster.resources.llm.VLLMOfflineResource`, its engine built
  once per run in the run's process and closed after it;
- ``teacher`` (``user_simulator`` only): the teacher's server or endpoints play the user too,
  with this role's sampling options.

Dagster sets a resource up only for runs whose steps use it, so a run without ``trajectories``
never starts a teacher.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Literal

import dagster as dg
from pydantic import Field, PrivateAttr

from writ_dagster.core.llm.openai_client import OpenAICompatibleBackend, RetryPolicy
from writ_dagster.core.llm.sampling import Sampling
from writ_dagster.core.secrets import check_no_secrets
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.resources.llm import OpenAICompatibleResource, VLLMOfflineResource, VLLMServerResource

RoleKind = Literal["scripted", "vllm-server", "openai-compatible", "vllm-offline", "teacher"]
Device = Literal["auto", "cpu", "gpu"]
BackendFactory = Callable[[], Any]

_CLASSES: dict[str, type[VLLMServerResource | OpenAICompatibleResource | VLLMOfflineResource]] = {
    "vllm-server": VLLMServerResource,
    "openai-compatible": OpenAICompatibleResource,
    "vllm-offline": VLLMOfflineResource,
}
# The registered backend name a record names for each kind: a managed server is reached with the
# same client as any endpoint.
_RECORDED_BACKEND = {
    "vllm-server": "openai-compatible",
    "openai-compatible": "openai-compatible",
    "vllm-offline": "vllm-offline",
    "teacher": "openai-compatible",
}
_SAMPLING = ("temperature", "top_p", "max_tokens", "seed", "reasoning_model")
_DEFAULTS = TrajectoryConfig()
_PROBE_TIMEOUT_S = 5.0


class ModelRole(dg.ConfigurableResource):
    """One conversation role played by a model: managed vLLM server, endpoints, offline vLLM, or scripted."""

    kind: RoleKind = Field(
        default="scripted",
        description="scripted | vllm-server | openai-compatible | vllm-offline | "
        "teacher (user_simulator only: the teacher's model plays the user)",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="fields of the chosen kind's resource "
        "(VLLMServerResource, OpenAICompatibleResource, VLLMOfflineResource; "
        "for 'teacher': the sampling fields)",
    )
    device: Device = Field(
        default="auto",
        description="'gpu': refuse to run without the GPUs the server needs "
        "(tensor × data parallel size); 'auto' and 'cpu' do not check",
    )

    _live: Any = PrivateAttr(default=None)

    @property
    def configured(self) -> bool:
        """Whether a model plays this role (else the simulation settings' backend does)."""
        return self.kind != "scripted"

    def spec(self) -> VLLMServerResource | OpenAICompatibleResource | VLLMOfflineResource | None:
        """The LLM resource this role is built from (None for ``scripted`` and ``teacher``).

        Raises ``ValueError`` naming an unknown option, pydantic's ``ValidationError`` on a bad value.
        """
        check_no_secrets("options", self.options)  # before the unknown-option error: it says what to use instead
        cls = _CLASSES.get(self.kind)
        allowed = set(cls.model_fields) if cls is not None else set(_SAMPLING) if self.kind == "teacher" else set()
        unknown = sorted(set(self.options) - allowed)
        if unknown:
            known = ", ".join(sorted(allowed)) or "none"
            raise ValueError(f"kind {self.kind!r} has no option(s) {', '.join(unknown)} (known: {known})")
        return cls(**self.options) if cls is not None else None

    def sampling(self) -> Sampling:
        """The role's sampling settings (the LLM resource's defaults where not set)."""
        spec = self.spec()
        if spec is not None:
            return spec.sampling_params()
        fields = VLLMServerResource.model_fields
        return Sampling(**{k: self.options.get(k, fields[k].default) for k in _SAMPLING})

    def gpus_needed(self) -> int:
        """GPUs this role's model needs on a GPU host (0 for endpoints and scripted roles)."""
        spec = self.spec()
        if isinstance(spec, VLLMServerResource):
            return spec.gpus_needed
        if isinstance(spec, VLLMOfflineResource):
            return spec.tensor_parallel_size
        return 0

    def missing(self, role: str, teacher: ModelRole | None = None) -> list[str]:
        """What this machine lacks to play the role, one short phrase each (empty: nothing)."""
        import importlib.util

        if self.kind == "scripted":
            return []
        if self.kind == "teacher":
            if teacher is None or not teacher.configured:
                return [f"{role}: kind 'teacher' needs a configured teacher (no teacher model)"]
            if teacher.kind == "vllm-offline":
                return [f"{role}: kind 'teacher' needs a teacher server or endpoint, not offline vLLM"]
            return []
        spec = self.spec()
        if isinstance(spec, OpenAICompatibleResource):
            return _endpoint_problems(role, spec)
        lacks = []
        if importlib.util.find_spec("vllm") is None:
            lacks.append(f"{role}: vllm is not installed (the `gpu` extra, or `llm` on CPU)")
        if self.device == "gpu":
            from writ_dagster.core.llm.devices import visible_gpus

            need, have = self.gpus_needed(), visible_gpus()
            if have < need:
                model = getattr(spec, "model", "?")
                lacks.append(f"{role}: vLLM for {model} needs {need} GPU{'s' * (need != 1)}, {have} visible")
        return lacks

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[ModelRole]:
        """Start what the role needs for the run (a server, an engine) and stop it when the run ends."""
        spec = self.spec()
        with ExitStack() as stack:
            if isinstance(spec, VLLMServerResource):
                self._live = stack.enter_context(spec.yield_for_execution(context))
            elif isinstance(spec, VLLMOfflineResource):
                backend = spec.backend()
                stack.callback(backend.close)
                self._live = backend
            else:
                self._live = spec
            try:
                yield self
            finally:
                self._live = None

    @property
    def server(self) -> VLLMServerResource:
        """The running managed server (``kind: vllm-server`` inside a run)."""
        if not isinstance(self._live, VLLMServerResource):
            raise RuntimeError(f"this role ({self.kind}) has no running vLLM server (use it inside a run)")
        return self._live

    def backend_factory(self, teacher: ModelRole | None = None) -> BackendFactory | None:
        """A no-argument factory of the role's backend for this run (None: the role is scripted)."""
        if self.kind == "scripted":
            return None
        if self.kind == "teacher":
            if teacher is None or not teacher.configured:
                raise ValueError("user_simulator kind 'teacher' needs a configured teacher")
            sampling = self.sampling()
            return lambda: teacher.client_with(sampling)
        live = self._live
        if live is None:
            raise RuntimeError(f"the {self.kind} role is not set up (use it inside a run)")
        if isinstance(live, (VLLMServerResource, OpenAICompatibleResource)):
            return live.backend
        return lambda: live  # one offline engine per run, shared by every use

    def client_with(self, sampling: Sampling) -> OpenAICompatibleBackend:
        """A client of this role's server or endpoints with other sampling settings (a second role on it)."""
        live = self._live
        if isinstance(live, VLLMServerResource):
            return OpenAICompatibleBackend(
                live.base_url,
                live.server.config.name,
                api_key_env=live.api_key_env,
                sampling=sampling,
                retry=RetryPolicy(max_retries=live.max_retries, timeout_s=live.timeout_s),
            )
        if isinstance(live, OpenAICompatibleResource):
            return OpenAICompatibleBackend(
                live.base_urls,
                live.model,
                api_key_env=live.api_key_env,
                sampling=sampling,
                retry=RetryPolicy(live.max_retries, live.backoff_s, live.backoff_max_s, live.timeout_s),
            )
        raise ValueError(f"a {self.kind} role cannot lend its model to another role")

    def recorded(self, teacher: ModelRole | None = None) -> tuple[str, dict[str, Any]]:
        """The backend name and options the stored simulation settings name for this role."""
        options: dict[str, Any] = {"resource": self.kind}
        if self.kind == "teacher" and teacher is not None:
            options.update(served_by=teacher.recorded()[1])
        spec = self.spec()
        if spec is not None:
            # where a managed server listens changes every run and says nothing about the rows
            options.update(
                spec.model_dump(
                    exclude={"port", "startup_timeout_s", "timeout_s", "max_retries", "backoff_s", "backoff_max_s"}
                )
            )
        options.update(self.sampling().as_dict())
        return _RECORDED_BACKEND[self.kind], options


def _endpoint_problems(role: str, spec: OpenAICompatibleResource) -> list[str]:
    import os

    if not spec.base_urls:
        return [f"{role}: no endpoint (options.base_urls is empty)"]
    if spec.api_key_env and not os.environ.get(spec.api_key_env):
        return [f"{role}: the endpoint's key variable {spec.api_key_env} is not set"]
    url = spec.base_urls[0].rstrip("/") + "/models"
    try:
        urllib.request.urlopen(url, timeout=_PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        pass  # it answered (401, 404...): the server is there
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return [f"{role}: endpoint {spec.base_urls[0]} does not answer ({reason})"]
    return []


def trajectory_backends(
    config: TrajectoryConfig,
    teacher: ModelRole,
    user_simulator: ModelRole,
) -> tuple[TrajectoryConfig, BackendFactory | None, BackendFactory | None]:
    """The settings a trajectories run stores and the agent and user factories it plays with.

    A configured role replaces the simulation settings' backend for that role (and is named in
    the stored settings); a scripted role leaves settings and backend as they were. Setting a
    role in both places is refused, so a run never silently ignores one of them.
    """
    updates: dict[str, Any] = {}
    for role, resource, field in (("teacher", teacher, "agent"), ("user_simulator", user_simulator, "user")):
        if not resource.configured:
            continue
        name = getattr(config, f"{field}_backend")
        if name != getattr(_DEFAULTS, f"{field}_backend") or getattr(config, f"{field}_options"):
            raise ValueError(
                f"the {field} is set twice: simulation.{field}_backend {name!r} and the {role} "
                f"resource ({resource.kind}); keep one"
            )
        if resource.kind == "teacher" and field == "agent":
            raise ValueError("kind 'teacher' is for the user_simulator resource only")
        backend, options = resource.recorded(teacher)
        updates[f"{field}_backend"], updates[f"{field}_options"] = backend, options
    if not updates:
        return config, None, None
    # Not re-validated: the recorded options describe the role's resource (already checked, secrets
    # included), not keyword options of the registry's factory, which check_options would refuse.
    recorded = config.model_copy(update=updates)
    return recorded, teacher.backend_factory(), user_simulator.backend_factory(teacher)
