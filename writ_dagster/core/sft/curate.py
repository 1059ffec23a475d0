"""From scored trajectories to an SFT set: filters, near-duplicates, decontamination, mixture, split.

Every removal is counted by reason. Near-duplicates are judged within one gold plan only
(same task actions) and on the user's side of the conversation, so templated wording never
merges distinct tasks, while re-synthesized copies of one task told the same way do merge.
A conversation with a turn cut by the token limit is dropped for that reason, and (with
``policy_filter``) one that breaks the policy's conduct rules for the rule it broke
(:mod:`~writ_dagster.core.sft.compliance`). Built for a training recipe (a :class:`RecipeLimit`),
each row is counted in the recipe's tokens as its trainer renders it, and the rows longer than
its ``max_length`` are dropped (the trainer would cut their end, where the final writes are);
where the recipe's tokenizer is not at hand nothing is dropped and the set says so.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.sft.compliance import first_violation
from writ_dagster.core.sft.filters import (
    COLLIDES,
    LOW_REWARD,
    MALFORMED,
    NEAR_DUPLICATE,
    NO_TASK,
    NOT_SCORED,
    OUTSIDE_MIXTURE,
    OVER_MAX_LENGTH,
    SCRIPT_REMADE,
    TASK_REMADE,
    TOO_LONG,
    TOO_MANY_MESSAGES,
    TRUNCATED,
)
from writ_dagster.core.sft.models import RecipeLengths, SFTBuild, SFTConfig, SFTRow
from writ_dagster.core.sft.openai_format import chat_rows, domain_prompt_and_tools
from writ_dagster.core.simulation.records import TRUNCATED_REASONS, TrajectoryRecord
from writ_dagster.core.tasks.decontamination import BaseTaskIndex, build_index, signature
from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.training.lengths import length_figures, message_characters

SCORED = {"user_stop", "agent_stop"}


# (messages, tools as JSON text) -> tokens, as the recipe's trainer renders the row
CountTokens = Callable[[list[dict[str, Any]], str], int]


@dataclass(frozen=True)
class RecipeLimit:
    """The training recipe a set is built for, and how to count a row in its tokens (if its tokenizer is at hand)."""

    recipe: str
    tokenizer: str
    max_length: int
    count: CountTokens | None = None
    not_counted: str = ""  # why ``count`` is None, e.g. "tokenizer of recipe gpu-qwen3-4b not available offline"


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{key}".encode()).hexdigest()


def cell_of(domain: str, trajectory_type: str, has_user_script: bool) -> str:
    return f"{domain}/{trajectory_type}/{'scripted' if has_user_script else 'plain'}"


def rejection(rec: TrajectoryRecord, config: SFTConfig) -> str | None:
    """Why a trajectory cannot be a training row (None if it can)."""
    if rec.termination_reason in TRUNCATED_REASONS or any(
        (m.get("raw_data") or {}).get("finish_reason") == "length" for m in rec.messages
    ):
        return TRUNCATED
    if rec.score_error or rec.termination_reason not in SCORED:
        return NOT_SCORED
    if rec.reward < config.min_reward:
        return LOW_REWARD
    if any(rec.malformed.values()):
        return MALFORMED
    if len(rec.messages) > config.max_messages:
        return TOO_MANY_MESSAGES
    if sum(len(m.get("content") or "") for m in rec.messages) > config.max_chars:
        return TOO_LONG
    return None


_WORD = re.compile(r"[a-z0-9]+")


def _shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _plan_key(task: TaskRecord) -> str:
    return task.domain + json.dumps([[s.name, s.arguments] for s in task.gold_actions], sort_keys=True)


def stale_input(rec: TrajectoryRecord, task: TaskRecord, script_hashes: Mapping[str, str] | None) -> str | None:
    """Why ``rec`` no longer belongs to the stored task or user script (None if it does).

    A trajectory simulated from a task or script that has been re-made since would give a
    row whose lineage points at inputs it was not made from.
    """
    made_from = rec.lineage.get("task_content_hash")
    if made_from is not None and made_from != task.content_hash:
        return TASK_REMADE
    if script_hashes is not None and script_hashes.get(rec.script_id) != rec.lineage.get("script_content_hash"):
        return SCRIPT_REMADE
    return None


Pair = tuple[TrajectoryRecord, TaskRecord]


def build_sft(
    trajectories: Iterable[TrajectoryRecord],
    tasks: Mapping[str, TaskRecord],
    config: SFTConfig,
    indexes: Mapping[str, BaseTaskIndex] | None = None,
    script_hashes: Mapping[str, str] | None = None,
    limit: RecipeLimit | None = None,
) -> SFTBuild:
    """Curate ``trajectories`` (with their ``tasks`` by id) into an SFT set.

    ``script_hashes`` (script id -> content hash of the stored user scripts), if given, drops
    trajectories whose script was re-made since they were simulated. ``limit``, if given, is the
    training recipe the set is built for: rows longer than its ``max_length`` tokens are dropped
    (before the mixture, so a cell is filled with rows that fit) and the lengths are reported.
    """
    dropped: Counter[str] = Counter()
    kept, considered = _screen(trajectories, tasks, config, dict(indexes or {}), script_hashes, dropped)
    unique = _drop_near_duplicates(kept, config, dropped)
    # lengths under the recipe: before the mixture, so the rows picked for a cell are ones that fit
    tokens: dict[str, int] = {}
    if limit is not None and limit.count is not None:
        unique = _fit_recipe(unique, config, limit.count, limit.max_length, tokens, dropped)
    chosen, taken = _mixture(unique, config, dropped)
    version = _version(chosen, config)
    rows = _rows(chosen, config, version, tokens)
    return SFTBuild(
        version=version,
        rows=rows,
        considered=considered,
        dropped=dict(sorted(dropped.items())),
        cells=dict(sorted(taken.items())),
        policy_filter=config.policy_filter,
        lengths=None if limit is None else recipe_lengths(limit, rows, tokens, dropped[OVER_MAX_LENGTH]),
    )


def _screen(
    trajectories: Iterable[TrajectoryRecord],
    tasks: Mapping[str, TaskRecord],
    config: SFTConfig,
    indexes: dict[str, BaseTaskIndex],
    script_hashes: Mapping[str, str] | None,
    dropped: Counter[str],
) -> tuple[list[Pair], int]:
    """The trajectories that pass every per-trajectory filter, with their tasks, and how many were considered.

    The others are counted in ``dropped`` by reason. ``trajectories`` is read once, as a stream.
    """
    signatures: dict[str, bool] = {}  # task id -> collides with a base task (computed once per task)
    kept: list[Pair] = []
    considered = 0
    for rec in trajectories:
        considered += 1
        task = tasks.get(rec.task_id)
        if task is None:
            dropped[NO_TASK] += 1
            continue
        reason = stale_input(rec, task, script_hashes) or rejection(rec, config)
        if reason is None and config.policy_filter:
            reason = first_violation(rec.messages, get_domain(rec.domain).write_tools)
        if reason is None and _collides(rec, task, indexes, signatures):
            reason = COLLIDES
        if reason:
            dropped[reason] += 1
        else:
            kept.append((rec, task))
    return kept, considered


def _collides(
    rec: TrajectoryRecord, task: TaskRecord, indexes: dict[str, BaseTaskIndex], signatures: dict[str, bool]
) -> bool:
    """Whether ``task``'s writes collide with a base task of its domain (indexes and answers cached in place)."""
    if task.task_id not in signatures:
        if rec.domain not in indexes:
            indexes[rec.domain] = build_index(get_domain(rec.domain))
        writes = [(s.name, s.arguments) for s in task.gold_actions if s.kind == "write"]
        signatures[task.task_id] = bool(indexes[rec.domain].collisions(signature(get_domain(rec.domain), writes)))
    return signatures[task.task_id]


def _drop_near_duplicates(kept: list[Pair], config: SFTConfig, dropped: Counter[str]) -> list[Pair]:
    """``kept`` by trajectory id, less near-duplicates: only within one gold plan, judged on what the user said."""
    by_plan: dict[str, list[set]] = {}
    unique: list[Pair] = []
    for rec, task in sorted(kept, key=lambda x: x[0].trajectory_id):
        text = " ".join(m.get("content") or "" for m in rec.messages if m.get("role") == "user")
        sh = _shingles(text)
        group = by_plan.setdefault(_plan_key(task), [])
        if any(_jaccard(sh, other) >= config.near_duplicate_jaccard for other in group):
            dropped[NEAR_DUPLICATE] += 1
            continue
        group.append(sh)
        unique.append((rec, task))
    return unique


def _fit_recipe(
    unique: list[Pair],
    config: SFTConfig,
    count: CountTokens,
    max_length: int,
    tokens: dict[str, int],
    dropped: Counter[str],
) -> list[Pair]:
    """Count each row in the recipe's tokens (into ``tokens``) and, if configured, drop those over ``max_length``."""
    fitting = []
    for rec, task in unique:
        tokens[rec.trajectory_id] = count(
            chat_rows(rec, include_reasoning=config.include_reasoning), domain_prompt_and_tools(rec.domain)[1]
        )
        if config.drop_over_max_length and tokens[rec.trajectory_id] > max_length:
            dropped[OVER_MAX_LENGTH] += 1
        else:
            fitting.append((rec, task))
    return fitting


def _mixture(unique: list[Pair], config: SFTConfig, dropped: Counter[str]) -> tuple[list[Pair], Counter[str]]:
    """A deterministic pick per cell up to ``config.targets`` (all, without targets), by trajectory id; rows per cell."""
    chosen: list[Pair] = []
    taken: Counter[str] = Counter()
    for rec, task in sorted(unique, key=lambda x: _rank(config.seed, x[0].trajectory_id)):
        cell = cell_of(rec.domain, task.trajectory_type, rec.has_user_script)
        if config.targets is not None and taken[cell] >= config.targets.get(cell, 0):
            dropped[OUTSIDE_MIXTURE] += 1
            continue
        taken[cell] += 1
        chosen.append((rec, task))
    chosen.sort(key=lambda x: x[0].trajectory_id)
    return chosen, taken


def _version(chosen: list[Pair], config: SFTConfig) -> str:
    """The set's version: a hash of the config and of every chosen trajectory."""
    digest = hashlib.sha256(config.content_hash().encode())
    for rec, _ in chosen:
        digest.update(rec.content_hash().encode())
    return digest.hexdigest()[:16]


def _rows(chosen: list[Pair], config: SFTConfig, version: str, tokens: Mapping[str, int]) -> list[SFTRow]:
    """The chosen trajectories as rows of set ``version``, each task wholly in train or in validation."""
    rows = []
    for rec, task in chosen:
        # split by task so no task is in both
        split = (
            "validation"
            if int(_rank(config.seed, "split" + task.task_id)[:8], 16) / 0xFFFFFFFF < config.validation_fraction
            else "train"
        )
        rows.append(
            SFTRow(
                domain=rec.domain,
                trajectory_type=task.trajectory_type,
                has_user_script=rec.has_user_script,
                messages=chat_rows(rec, include_reasoning=config.include_reasoning),
                tools=domain_prompt_and_tools(rec.domain)[1],
                split=split,
                trajectory_id=rec.trajectory_id,
                task_id=rec.task_id,
                script_id=rec.script_id,
                partition=rec.partition,
                sft_version=version,
                family=task.family,
                writes=task.axes.writes,
                reads=task.axes.reads,
                max_reads_before_write=task.axes.max_reads_before_write,
                tokens=tokens.get(rec.trajectory_id),
            )
        )
    return rows


def recipe_lengths(limit: RecipeLimit, rows: list[SFTRow], tokens: Mapping[str, int], dropped: int) -> RecipeLengths:
    """The figures of ``rows`` under ``limit`` (``tokens``: each counted row's tokens by trajectory id)."""
    counted = limit.count is not None
    return RecipeLengths(
        recipe=limit.recipe,
        tokenizer=limit.tokenizer,
        max_length=limit.max_length,
        counted=counted,
        not_counted="" if counted else limit.not_counted,
        candidates=length_figures(tokens.values(), "tokens", limit.max_length) if counted else None,
        rows=length_figures([tokens[r.trajectory_id] for r in rows], "tokens", limit.max_length) if counted else None,
        characters=length_figures([message_characters(r.messages) for r in rows], "characters"),
        dropped=dropped,
    )
