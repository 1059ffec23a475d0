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

An evaluated model that answers with neither text nor a tool call (an untrained base decoded
greedily repeats a newline) has answered: that is the model failing, not the harness. tau2 means
such a reply to end the conversation with ``AGENT_ERROR`` (its communication-protocol check), but
``AssistantMessage.validate`` raises before that check is reached, so ``run_task`` raises. The
agent played here is tau2's ``LLMAgent`` registered as :data:`AGENT_IMPLEMENTATION`, ending the
conversation at an empty reply: the conversation is kept with its messages (the empty reply and
its token usage included), ends ``AGENT_ERROR`` and is scored by tau2's ``evaluate_simulation``
(0: only a stop by the agent or the user is scored).
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

from writ_dagster.core.evaluation.metrics import EMPTY_REPLY_KEY, ERROR_KEY
from writ_dagster.core.evaluation.models import EvalConfig
from writ_dagster.core.versioning import code_version, tau2_version

AGENT_IMPLEMENTATION = "llm_agent_ending_on_empty_reply"  # tau2's LLMAgent, see the module's docstring
USER_IMPLEMENTATION = "user_simulator"
_REGISTER_LOCK = threading.Lock()


class EmptyReplyError(Exception):
    """The evaluated model answered with neither text nor a tool call; ``messages`` is the conversation
    so far as the agent saw it, the empty reply last."""

    def __init__(self, messages: list[Any]) -> None:
        super().__init__("the agent's reply has neither text nor a tool call")
        self.messages = messages


def register_agent() -> None:
    """Register :data:`AGENT_IMPLEMENTATION` with tau2's registry (once per process)."""
    from writ_dagster.core.tau2_adapter import LLMAgent, registry

    class LLMAgentEndingOnEmptyReply(LLMAgent):
        """tau2's LLMAgent; an empty reply raises :class:`EmptyReplyError` carrying the conversation."""

        def generate_next_message(self, message: Any, state: Any) -> tuple[Any, Any]:
            reply, state = super().generate_next_message(message, state)
            if not (reply.has_text_content() or reply.is_tool_call()):
                raise EmptyReplyError(list(state.messages))
            return reply, state

    with _REGISTER_LOCK:
        if AGENT_IMPLEMENTATION not in registry.get_agents():
            registry.register_agent(LLMAgentEndingOnEmptyReply, AGENT_IMPLEMENTATION)


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
        args: dict[str, Any] = {
            "api_base": self.base_url,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "num_retries": config.max_retries,
            "timeout": config.request_timeout_s,
        }
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
    from writ_dagster.core.tau2_adapter import get_tasks

    ids = config.task_ids.get(domain)
    try:
        tasks = get_tasks(
            domain, task_split_name=config.task_split, task_ids=ids, num_tasks=None if ids else config.num_tasks
        )
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
    from writ_dagster.core.tau2_adapter import (
        AgentInfo,
        Info,
        UserInfo,
        get_environment_info,
        get_global_user_sim_guidelines,
    )

    return Info(
        git_commit=f"{tau2_version()}; writ-{code_version()}",
        num_trials=config.num_trials,
        max_steps=config.max_steps,
        max_errors=config.max_errors,
        seed=config.seed,
        user_info=UserInfo(
            implementation=USER_IMPLEMENTATION,
            llm=user.litellm_model,
            llm_args=user.llm_args(config, with_key=False),
            global_simulation_guidelines=get_global_user_sim_guidelines(),
        ),
        agent_info=AgentInfo(
            implementation=AGENT_IMPLEMENTATION,
            llm=agent.litellm_model,
            llm_args=agent.llm_args(config, with_key=False),
        ),
        environment_info=get_environment_info(domain, include_tool_info=False),
    )


def run_domain(
    domain: str,
    agent: Endpoint,
    user: Endpoint,
    config: EvalConfig,
    save_to: Path,
    on_done: Callable[[int, int, Any], None] | None = None,
) -> DomainRun:
    """Play every (task, trial) of ``domain`` and save tau2's ``Results`` to ``save_to`` (atomically);
    ``on_done(done, total, simulation)`` after each trial."""
    from writ_dagster.core.tau2_adapter import Results

    register_agent()
    started = time.perf_counter()
    tasks = select_tasks(domain, config)
    seeds = trial_seeds(config.seed, config.num_trials)
    llm_args = agent.llm_args(config), user.llm_args(config)
    jobs = [(task, trial, seeds[trial]) for trial in range(config.num_trials) for task in tasks]
    done = [0]
    lock = threading.Lock()

    def play(job: tuple[Any, int, int]) -> Any:
        task, trial, seed = job
        sim = _play(domain, task, trial, seed, agent, user, llm_args, config)
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


def _play(
    domain: str,
    task: Any,
    trial: int,
    seed: int,
    agent: Endpoint,
    user: Endpoint,
    llm_args: tuple[dict[str, Any], dict[str, Any]],
    config: EvalConfig,
) -> Any:
    """One trial through tau2's ``run_task``: an empty reply is scored where it ended the conversation,
    any other failure kept as a skipped run marked an error."""
    from writ_dagster.core.tau2_adapter import EvaluationType, get_now, run_task

    start, began = get_now(), time.perf_counter()
    try:
        return run_task(
            domain=domain,
            task=task,
            agent=AGENT_IMPLEMENTATION,
            user=USER_IMPLEMENTATION,
            llm_agent=agent.litellm_model,
            llm_args_agent=llm_args[0],
            llm_user=user.litellm_model,
            llm_args_user=llm_args[1],
            max_steps=config.max_steps,
            max_errors=config.max_errors,
            evaluation_type=EvaluationType.ALL,
            seed=seed,
        )
    except EmptyReplyError as empty:  # the model's answer, not a failure of the harness: scored
        return _ended_on_empty_reply(domain, task, seed, empty.messages, start, began)
    except Exception as exc:  # noqa: BLE001 - kept as tau2's skip_failed_samples keeps it, marked an error
        return _failed_run(task, trial, seed, exc)


def _ended_on_empty_reply(domain: str, task: Any, seed: int, messages: list[Any], start: str, began: float) -> Any:
    """The run of a conversation the agent ended with an empty reply, scored as tau2 scores it."""
    from writ_dagster.core.tau2_adapter import (
        EvaluationType,
        SimulationRun,
        TerminationReason,
        evaluate_simulation,
        get_now,
    )

    for index, message in enumerate(messages):
        message.turn_idx = index
    sim = SimulationRun(
        id=f"{task.id}_{seed}_empty_reply",
        task_id=task.id,
        start_time=start,
        end_time=get_now(),
        duration=time.perf_counter() - began,
        termination_reason=TerminationReason.AGENT_ERROR,
        messages=messages,
        seed=seed,
    )
    reward = evaluate_simulation(sim, task, EvaluationType.ALL, False, domain)  # 0: not ended by a stop
    reward.info = {
        **(reward.info or {}),
        EMPTY_REPLY_KEY: "the agent answered with neither text nor a tool call; the conversation ended there",
    }
    sim.reward_info = reward
    return sim


def _failed_run(task: Any, trial: int, seed: int, exc: Exception) -> Any:
    """A trial the harness could not play: reward 0, the error kept, skipped."""
    from writ_dagster.core.tau2_adapter import RewardInfo, SimulationRun, TerminationReason, get_now

    now = get_now()
    return SimulationRun(
        id=f"{task.id}_{trial}_failed",
        task_id=task.id,
        start_time=now,
        end_time=now,
        duration=0.0,
        termination_reason=TerminationReason.AGENT_ERROR,
        messages=[],
        seed=seed,
        reward_info=RewardInfo(reward=0.0, info={ERROR_KEY: exception_line(exc)}),
        skipped=True,
    )


def exception_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, at most ``limit`` characters (litellm and tau2 messages run long)."""
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
