"""pass^k, rewards and agent tokens of a tau2 ``Results`` (pure: no servers, no Dagster).

pass^k follows τ²-bench: a trial succeeds when its reward is 1 (within 1e-6); for a task
with ``c`` successes out of ``n`` trials, pass^k = C(c, k) / C(n, k); the domain's pass^k is
the mean over tasks, for k = 1 .. the fewest trials any task has. Tokens are what the agent's
messages report in ``usage`` (the server's counts), summed per simulation and averaged over
simulations, i.e. the tokens the agent spends on one attempt at a task.

A conversation the harness could not run (tau2 raised: a server error, a reply tau2 refuses) is
an error, not a score: the harness marks it ``skipped`` (tau2's own flag for such samples) with
its exception in ``reward_info.info["error"]``, and every figure here but the error count leaves
it out. tau2's ``compute_metrics`` would count it as a failed trial (reward 0).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from writ_dagster.core.evaluation.models import ScoreFigures

if TYPE_CHECKING:
    from writ_dagster.core.tau2_adapter import Results, SimulationRun

SUCCESS_TOLERANCE = 1e-6
ERROR_KEY = "error"  # where the harness keeps a conversation's exception, in reward_info.info
EMPTY_REPLY_KEY = "empty_reply"  # reward_info.info of a conversation the agent ended with an empty reply


def is_success(reward: float | None) -> bool:
    """Whether a trial's reward counts as solved (tau2: 1 within 1e-6)."""
    return reward is not None and abs(reward - 1.0) <= SUCCESS_TOLERANCE


def pass_hat_k(trials: int, successes: int, k: int) -> float:
    """The chance that k trials drawn without replacement from ``trials`` all succeed."""
    if not 1 <= k <= trials:
        raise ValueError(f"k={k} must lie in 1..{trials} (the number of trials)")
    return math.comb(successes, k) / math.comb(trials, k)


def _reward(sim: SimulationRun) -> float:
    return sim.reward_info.reward if sim.reward_info is not None else 0.0


def errored(sim: SimulationRun) -> bool:
    """Whether the harness could not run this conversation (tau2's ``skipped`` samples)."""
    return bool(sim.skipped)


def error_text(sim: SimulationRun) -> str | None:
    """The exception an errored conversation ended with, as the harness recorded it."""
    if not errored(sim):
        return None
    info = (sim.reward_info.info if sim.reward_info is not None else None) or {}
    return str(info.get(ERROR_KEY) or "unknown error (not recorded)")


def ran(results: Results) -> list[SimulationRun]:
    """The conversations that ran (and were scored by tau2)."""
    return [s for s in results.simulations if not errored(s)]


def pass_k(results: Results) -> dict[int, float]:
    """pass^k for k = 1 .. min trials per task, averaged over the tasks with a conversation that ran
    (errored conversations are not trials)."""
    per_task: dict[str, list[bool]] = defaultdict(list)
    for sim in ran(results):
        per_task[sim.task_id].append(is_success(_reward(sim)))
    if not per_task:
        return {}
    max_k = min(len(v) for v in per_task.values())
    return {
        k: sum(pass_hat_k(len(v), sum(v), k) for v in per_task.values()) / len(per_task) for k in range(1, max_k + 1)
    }


def _usage_sum(sim: SimulationRun, role: str, key: str) -> int:
    total = 0
    for message in sim.messages:
        if getattr(message, "role", None) == role and message.usage:
            total += int(message.usage.get(key) or 0)
    return total


def passed(sim: SimulationRun) -> bool:
    """Whether one simulated trial solved its task."""
    return is_success(_reward(sim))


def completion_tokens(sim: SimulationRun) -> int:
    """Tokens the agent and the user generated in one trial (as their servers reported them)."""
    return _usage_sum(sim, "assistant", "completion_tokens") + _usage_sum(sim, "user", "completion_tokens")


def score(results: Results) -> ScoreFigures:
    """All figures of one results file: over the conversations that ran, with the errors counted apart."""
    sims = ran(results)
    failures = [s for s in results.simulations if errored(s)]

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    return ScoreFigures(
        pass_k=pass_k(results),
        avg_reward=mean([_reward(s) for s in sims]),
        n_tasks=len({s.task_id for s in results.simulations}),
        n_simulations=len(results.simulations),
        avg_agent_completion_tokens=mean([_usage_sum(s, "assistant", "completion_tokens") for s in sims]),
        avg_agent_prompt_tokens=mean([_usage_sum(s, "assistant", "prompt_tokens") for s in sims]),
        avg_user_completion_tokens=mean([_usage_sum(s, "user", "completion_tokens") for s in sims]),
        avg_agent_turns=mean([sum(1 for m in s.messages if getattr(m, "role", None) == "assistant") for s in sims]),
        termination_reasons=dict(
            Counter(str(getattr(s.termination_reason, "value", s.termination_reason)) for s in sims).most_common()
        ),
        empty_replies=sum(1 for s in sims if EMPTY_REPLY_KEY in ((s.reward_info and s.reward_info.info) or {})),
        errors=len(failures),
        first_error=error_text(failures[0]) if failures else None,
        conversations_ran=len(sims),
    )


def figures_line(figures: ScoreFigures) -> str:
    """pass^k, mean reward and tokens over the conversations that ran, then the errors (first quoted)."""
    f = figures
    if f.measured:
        passes = ", ".join(f"pass^{k} {v:.3f}" for k, v in sorted(f.pass_k.items()))
        head = (
            f"{passes}; mean reward {f.avg_reward:.3f}; agent tokens/task {f.avg_agent_completion_tokens:.0f} "
            f"completion, {f.avg_agent_prompt_tokens:.0f} prompt; over {f.conversations_ran} of "
            f"{f.n_simulations} conversations"
        )
    else:
        head = f"NOT MEASURED: none of {f.n_simulations} conversations ran"
    if f.empty_replies:
        head += f", {f.empty_replies} ended by an empty reply"
    return head + f"; errors {f.errors}" + (f" (first: {f.first_error})" if f.first_error else "")


def score_table_markdown(rows: Sequence[tuple[str, str, ScoreFigures]]) -> str:
    """Markdown: one line per (domain, model label), models of a domain side by side."""
    ks = sorted({k for _, _, f in rows for k in f.pass_k})
    head = [
        "domain",
        "model",
        *[f"pass^{k}" for k in ks],
        "avg reward",
        "agent tokens/task (completion)",
        "agent tokens/task (prompt)",
        "agent turns/task",
        "conversations ran",
        "errors",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = {"base": 0, "fine-tuned": 1}
    for domain, label, f in sorted(rows, key=lambda r: (r[0], order.get(r[1], 2), r[1])):
        cells = [
            domain,
            label,
            *[f"{f.pass_k[k]:.3f}" if k in f.pass_k else "–" for k in ks],
            f"{f.avg_reward:.3f}",
            f"{f.avg_agent_completion_tokens:.1f}",
            f"{f.avg_agent_prompt_tokens:.1f}",
            f"{f.avg_agent_turns:.1f}",
            f"{f.conversations_ran} of {f.n_simulations}",
            str(f.errors) + (f" (first: {_cell(f.first_error)})" if f.first_error else ""),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(text: str, limit: int = 160) -> str:
    """``text`` on one line, short, safe inside a Markdown table cell."""
    one = " ".join(text.split()).replace("|", "\\|")
    return one if len(one) <= limit else one[: limit - 1] + "…"
