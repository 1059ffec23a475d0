"""Figures a person reads about a partition's trajectories: success, lengths, tokens, failures.

Computed with polars from the light columns of the ``trajectories`` table (no messages), so
the same numbers can be shown in the Dagster UI, printed by the CLI or used in a notebook.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, cast

import polars as pl

# Columns the summary needs; readers pass these to avoid loading the messages.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "trajectory_id",
    "variant",
    "has_user_script",
    "reward",
    "termination_reason",
    "n_turns",
    "n_tool_calls",
    "n_tool_errors",
    "n_malformed",
    "malformed_json",
    "token_kind",
    "agent_prompt_tokens",
    "agent_completion_tokens",
    "user_prompt_tokens",
    "user_completion_tokens",
    "latency_s",
    "agent_name",
    "agent_kind",
    "user_name",
    "user_kind",
)


def distribution(values: pl.Series) -> dict[str, float]:
    """min / median / p90 / max / mean of a numeric column (zeros when empty)."""
    if values.len() == 0:
        return {"min": 0, "median": 0, "p90": 0, "max": 0, "mean": 0}
    as_float = values.cast(pl.Float64)
    out = {
        "min": as_float.min(),
        "median": as_float.median(),
        "p90": as_float.quantile(0.9, interpolation="nearest"),
        "max": as_float.max(),
        "mean": as_float.mean(),
    }
    return {k: round(float(cast(float, v)), 3) for k, v in out.items()}  # a Float64 column's figures


def success_rate(frame: pl.DataFrame) -> float:
    """Share of trajectories with reward 1.0 (0.0 when there are none)."""
    if frame.height == 0:
        return 0.0
    return round(float((frame["reward"] >= 1.0).sum()) / frame.height, 4)


def all_scripted(frame: pl.DataFrame) -> bool:
    """Whether every trajectory was played by scripted backends on both sides."""
    return frame.height > 0 and bool(((frame["agent_kind"] == "scripted") & (frame["user_kind"] == "scripted")).all())


def summarize_trajectories(frame: pl.DataFrame) -> dict[str, Any]:
    """The figures of a partition's stored trajectories (``frame`` holds at least SUMMARY_COLUMNS)."""
    n = frame.height
    if n == 0:
        return {"trajectories": 0, "success_rate": 0.0}
    tokens = (
        frame["agent_prompt_tokens"]
        + frame["agent_completion_tokens"]
        + frame["user_prompt_tokens"]
        + frame["user_completion_tokens"]
    )
    malformed: Counter[str] = Counter()
    for text in frame["malformed_json"]:
        malformed.update(json.loads(text))
    scripted = frame.filter(pl.col("has_user_script"))
    canonical = frame.filter(~pl.col("has_user_script"))
    return {
        "trajectories": n,
        "successes": int((frame["reward"] >= 1.0).sum()),
        "success_rate": success_rate(frame),
        "success_rate_canonical": success_rate(canonical),
        "success_rate_scripted_users": success_rate(scripted),
        "termination_reasons": dict(Counter(frame["termination_reason"].to_list()).most_common()),
        "turns": distribution(frame["n_turns"]),
        "tool_calls": distribution(frame["n_tool_calls"]),
        "tool_calls_total": int(frame["n_tool_calls"].sum()),
        "tool_errors_total": int(frame["n_tool_errors"].sum()),
        "malformed_total": int(frame["n_malformed"].sum()),
        "malformed": dict(malformed.most_common()),
        "tokens": distribution(tokens),
        "tokens_total": int(tokens.sum()),
        "token_kinds": dict(Counter(frame["token_kind"].to_list()).most_common()),
        "latency_s": distribution(frame["latency_s"]),
        "agents": sorted(set(frame["agent_name"].to_list())),
        "users": sorted(set(frame["user_name"].to_list())),
        "scripted_backends": all_scripted(frame),
    }


def distribution_markdown(
    figures: dict[str, Any], keys: tuple[str, ...] = ("turns", "tool_calls", "tokens", "latency_s")
) -> str:
    """A markdown table of the min / median / p90 / max rows of ``figures``' distributions."""
    lines = ["| per trajectory | min | median | p90 | max |", "|---|---|---|---|---|"]
    for key in keys:
        d = figures.get(key)
        if d:
            lines.append(f"| {key} | {d['min']:g} | {d['median']:g} | {d['p90']:g} | {d['max']:g} |")
    return "\n".join(lines)
