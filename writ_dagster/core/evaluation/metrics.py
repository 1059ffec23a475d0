"""pass^k, rewards and agent tokens of a tau2 ``Results`` (pure: no servers, no Dagster).

pass^k follows τ²-bench: a trial succeeds when its reward is 1 (within 1e-6); for a task
with ``c`` successes out of ``n`` trials, pass^k = C(c, k) / C(n, k); the domain's pass^k is
the mean over tasks, for k = 1 .. the fewest trials any task has. Tokens are what the agent's
messages report in ``usage`` (the server's counts), summed per simulation and averaged over
simulations, i.e. the tokens the agent spends on one attempt at a task.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from writ_dagster.core.evaluation.models import ScoreFigures

if TYPE_CHECKING:
    from tau2.data_model.simulation import Results, SimulationRun

SUCCESS_TOLERANCE = 1e-6


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


def pass_k(results: Results) -> dict[int, float]:
    """pass^k for k = 1 .. min trials per task, averaged over the tasks that were simulated."""
    per_task: dict[str, list[bool]] = defaultdict(list)
    for sim in results.simulations:
        per_task[sim.task_id].append(is_success(_reward(sim)))
    if not per_task:
        return {}
    max_k = min(len(v) for v in per_task.values())
    return {k: sum(pass_hat_k(len(v), sum(v), k) for v in per_task.values()) / len(per_task)
            for k in range(1, max_k + 1)}


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


def score(results: Results, failed_runs: int = 0) -> ScoreFigures:
    """All figures of one results file."""
    sims = results.simulations
    n = len(sims)

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    return ScoreFigures(
        pass_k=pass_k(results),
        avg_reward=mean([_reward(s) for s in sims]),
        n_tasks=len({s.task_id for s in sims}),
        n_simulations=n,
        avg_agent_completion_tokens=mean([_usage_sum(s, "assistant", "completion_tokens") for s in sims]),
        avg_agent_prompt_tokens=mean([_usage_sum(s, "assistant", "prompt_tokens") for s in sims]),
        avg_user_completion_tokens=mean([_usage_sum(s, "user", "completion_tokens") for s in sims]),
        avg_agent_turns=mean([sum(1 for m in s.messages if getattr(m, "role", None) == "assistant") for s in sims]),
        termination_reasons=dict(Counter(str(getattr(s.termination_reason, "value", s.termination_reason))
                                         for s in sims).most_common()),
        failed_runs=failed_runs,
    )


def score_table_markdown(rows: list[tuple[str, str, ScoreFigures]]) -> str:
    """Markdown: one line per (domain, model label), models of a domain side by side."""
    ks = sorted({k for _, _, f in rows for k in f.pass_k})
    head = ["domain", "model", *[f"pass^{k}" for k in ks], "avg reward", "agent tokens/task (completion)",
            "agent tokens/task (prompt)", "agent turns/task", "simulations"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = {"base": 0, "fine-tuned": 1}
    for domain, label, f in sorted(rows, key=lambda r: (r[0], order.get(r[1], 2), r[1])):
        cells = [domain, label, *[f"{f.pass_k[k]:.3f}" if k in f.pass_k else "–" for k in ks],
                 f"{f.avg_reward:.3f}", f"{f.avg_agent_completion_tokens:.1f}", f"{f.avg_agent_prompt_tokens:.1f}",
                 f"{f.avg_agent_turns:.1f}", str(f.n_simulations)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
