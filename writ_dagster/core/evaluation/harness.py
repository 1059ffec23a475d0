"""One model on one τ²-bench domain, played by tau2's own harness, saved as a tau2 results file.

Each conversation is ``tau2.run.run_task``: tau2's ``LLMAgent`` and ``UserSimulator`` talk
through its ``Orchestrator`` and ``evaluate_simulation`` scores the result, calling the models
through litellm at OpenAI-compatible endpoints. Around it we do what ``tau2.run.run_tasks``
does, minus its side effects on the process (it replaces loguru's handlers, prints to the
console and asks on stdin when the file exists): the same task selection (``get_tasks``),
the same per-trial seeds, a thread pool of ``concurrency`` conversations, and a ``Results`` that
``Results.load`` reads. A conversation that raises is kept as tau2's ``skip_failed_samples`` keeps
it (``skipped``, reward 0, no messages) with its exception in ``reward_info.info["error"]``: it is
an error, which :mod:`.metrics` counts apart from the scores.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import writ_dagster.core.runtime  # noqa: F401  (settings needed before tau2/litellm load)
from writ_dagster.core.evaluation.metrics import ERROR_KEY
from writ_dagster.core.evaluation.models import EvalConfig
from writ_dagster.core.versioning import code_version, tau2_version

AGENT_IMPLEMENTATION = "llm_agent"
USER_IMPLEMENTATION = "user_simulator"
NO_KEY = "EMPTY"  # what loopback vLLM servers without --api-key accept


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible chat endpoint as litellm is called for it."""

    model: str  # the served model name
    base_url: str
    temperature: float = 0.0
    max_tokens: int = 256
    api_key_env: str | None = None

    @property
    def litellm_model(self) -> str:
        return f"openai/{self.model}"

    def llm_args(self, config: EvalConfig, with_key: bool = True) -> dict[str, Any]:
        """litellm keyword arguments; ``with_key=False`` for what is written to files."""
        args: dict[str, Any] = {"api_base": self.base_url, "temperature": self.temperature,
                                "max_tokens": self.max_tokens, "num_retries": config.max_retries,
                                "timeout": config.request_timeout_s}
        if with_key:
            args["api_key"] = self._key()
        return args

    def _key(self) -> str:
        if not self.api_key_env:
            return NO_KEY
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ValueError(f"environment variable {self.api_key_env} (the endpoint's API key) is not set")
        return value


@dataclass
class DomainRun:
    """What :func:`run_domain` produced."""

    results: Any  # tau2.data_model.simulation.Results
    path: Path
    errors: list[str]  # "task <id> trial <n>: <exception>", in the order the (task, trial) jobs were listed
    seconds: float


def select_tasks(domain: str, config: EvalConfig) -> list[Any]:
    """The tau2 tasks of ``domain`` to run, chosen as ``tau2 run`` chooses them."""
    from tau2.run import get_tasks

    ids = config.task_ids.get(domain)
    try:
        tasks = get_tasks(domain, task_split_name=config.task_split, task_ids=ids,
                          num_tasks=None if ids else config.num_tasks)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{domain}: cannot select tasks of split {config.task_split!r}: {exc}") from None
    if not tasks:
        raise ValueError(f"{domain}: split {config.task_split!r} has no tasks")
    return tasks


def trial_seeds(seed: int, trials: int) -> list[int]:
    """Per-trial seeds as ``tau2.run.run_tasks`` draws them, without touching the global RNG."""
    rng = random.Random(seed)
    return [rng.randint(0, 1000000) for _ in range(trials)]


def run_info(domain: str, agent: Endpoint, user: Endpoint, config: EvalConfig) -> Any:
    """tau2's run ``Info`` (keys left out). tau2 names its own code in ``git_commit``; here that is the
    installed tau2 release (task sets differ between releases, so a score means little without
    it) and WRIT's code version."""
    from tau2.data_model.simulation import AgentInfo, Info, UserInfo
    from tau2.run import get_environment_info
    from tau2.user.user_simulator import get_global_user_sim_guidelines

    return Info(
        git_commit=f"{tau2_version()}; writ-{code_version()}", num_trials=config.num_trials, max_steps=config.max_steps,
        max_errors=config.max_errors, seed=config.seed,
        user_info=UserInfo(implementation=USER_IMPLEMENTATION, llm=user.litellm_model,
                           llm_args=user.llm_args(config, with_key=False),
                           global_simulation_guidelines=get_global_user_sim_guidelines()),
        agent_info=AgentInfo(implementation=AGENT_IMPLEMENTATION, llm=agent.litellm_model,
                             llm_args=agent.llm_args(config, with_key=False)),
        environment_info=get_environment_info(domain, include_tool_info=False),
    )


def run_domain(domain: str, agent: Endpoint, user: Endpoint, config: EvalConfig, save_to: Path,
               on_done: Callable[[int, int, Any], None] | None = None) -> DomainRun:
    """Play every (task, trial) of ``domain`` and save tau2's ``Results`` to ``save_to`` (atomically);
    ``on_done(done, total, simulation)`` after each trial."""
    from tau2.data_model.simulation import Results, RewardInfo, SimulationRun, TerminationReason
    from tau2.evaluator.evaluator import EvaluationType
    from tau2.run import run_task
    from tau2.utils.utils import get_now

    started = time.perf_counter()
    tasks = select_tasks(domain, config)
    seeds = trial_seeds(config.seed, config.num_trials)
    agent_args, user_args = agent.llm_args(config), user.llm_args(config)
    jobs = [(task, trial, seeds[trial]) for trial in range(config.num_trials) for task in tasks]
    done = [0]
    lock = threading.Lock()

    def play(job: tuple[Any, int, int]) -> Any:
        task, trial, seed = job
        try:
            sim = run_task(domain=domain, task=task, agent=AGENT_IMPLEMENTATION, user=USER_IMPLEMENTATION,
                           llm_agent=agent.litellm_model, llm_args_agent=agent_args,
                           llm_user=user.litellm_model, llm_args_user=user_args,
                           max_steps=config.max_steps, max_errors=config.max_errors,
                           evaluation_type=EvaluationType.ALL, seed=seed)
        except Exception as exc:  # noqa: BLE001 - kept as tau2's skip_failed_samples keeps it, marked an error
            now = get_now()
            sim = SimulationRun(id=f"{task.id}_{trial}_failed", task_id=task.id, start_time=now, end_time=now,
                                duration=0.0, termination_reason=TerminationReason.AGENT_ERROR, messages=[],
                                seed=seed, reward_info=RewardInfo(reward=0.0, info={ERROR_KEY: exception_line(exc)}),
                                skipped=True)
        sim.trial = trial
        with lock:
            done[0] += 1
            if on_done is not None:
                on_done(done[0], len(jobs), sim)
        return sim

    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix=f"tau2-{domain}") as pool:
        simulations = list(pool.map(play, jobs))
    results = Results(info=run_info(domain, agent, user, config), tasks=tasks, simulations=simulations)
    save_to.parent.mkdir(parents=True, exist_ok=True)
    tmp = save_to.with_name(save_to.name + ".partial")
    results.save(tmp)
    tmp.replace(save_to)
    errors = [f"task {s.task_id} trial {s.trial}: {s.reward_info.info[ERROR_KEY]}" for s in simulations if s.skipped]
    return DomainRun(results=results, path=save_to, errors=errors, seconds=time.perf_counter() - started)


def exception_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, at most ``limit`` characters (litellm and tau2 messages run long)."""
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
