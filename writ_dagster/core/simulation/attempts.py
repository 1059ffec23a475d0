"""Attempts per (task, user script): their seeds, which of them a partition keeps, pass@k.

A (task, script) is a chain of attempts 0, 1, ... each with its own seed (attempt 0 keeps the
script seed, so a run with one attempt stores what it always did). The rows a chain keeps
are a pure function of the attempts' outcomes: attempts are taken in order until the wanted
number of passes is reached or the attempts run out. A conversation that ended on an
infrastructure failure (the endpoint down, a 5xx, a timeout) is no outcome at all: the chain
stops there, unfinished, and the next run simulates that attempt again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

# The backend errors of turns that failed on the way to the model (the OpenAI-compatible client
# retries these and then reports them with these words), as opposed to a request the model refused.
_INFRASTRUCTURE = re.compile(r"^(agent|user): (connection|timeout|http (429|5\d\d)|bad response)")


def is_infrastructure_error(backend_error: str | None) -> bool:
    """Whether a stored ``backend_error`` says the endpoint failed, not the model."""
    if not backend_error:
        return False
    return _INFRASTRUCTURE.match(backend_error) is not None


def attempt_seed(seed: int, attempt: int) -> int:
    """The seed of attempt ``attempt`` of a conversation whose script seed is ``seed``."""
    if attempt == 0:
        return seed
    digest = hashlib.sha256(f"{seed}\x1fattempt\x1f{attempt}".encode()).hexdigest()
    return int(digest[:15], 16)  # < 2**60: fits the BIGINT seed column


@dataclass(frozen=True)
class AttemptPolicy:
    """How many attempts a (task, script) may take and how many passing ones it keeps."""

    attempts: int = 1
    wanted_passes: int = 1
    # A τ² pass that breaks a policy rule is dropped by the SFT filter: counting it as the chain's
    # pass would stop the chain with nothing trainable (a fleet rehearsal lost 17% of its passes so).
    needs_compliance: bool = True

    def passed(self, reward: float, compliant: bool) -> bool:
        """Whether an attempt with this reward and compliance counts as a pass."""
        return reward >= 1.0 and (compliant or not self.needs_compliance)


@dataclass(frozen=True)
class Outcome:
    """What one stored attempt says: passed, or failed on infrastructure (then it is no result)."""

    passed: bool
    infrastructure: bool = False


@dataclass(frozen=True)
class ChainState:
    """Where a chain stands: the attempts it keeps, the next one to run, or blocked on infrastructure."""

    kept: tuple[int, ...]
    next_attempt: int | None
    blocked: bool


def walk(outcomes: Mapping[int, Outcome], policy: AttemptPolicy) -> ChainState:
    """Walk a chain's attempts in order (see the module doc)."""
    kept: list[int] = []
    passes = 0
    for k in range(policy.attempts):
        outcome = outcomes.get(k)
        if outcome is None:
            return ChainState(tuple(kept), k, False)
        if outcome.infrastructure:
            return ChainState(tuple(kept), None, True)
        kept.append(k)
        passes += outcome.passed
        if passes >= policy.wanted_passes:
            break
    return ChainState(tuple(kept), None, False)


def pass_at_k(frame: pl.DataFrame, by: str) -> dict[str, dict[str, Any]]:
    """pass@1 (attempt 0 passed) and pass@k (any stored attempt passed) per value of ``by``.

    ``frame`` holds task_id, script_id, attempt, reward and ``by``; a chain is a (task, script).
    """
    if frame.height == 0 or by not in frame.columns:
        return {}
    chains = frame.group_by(["task_id", "script_id", by]).agg(
        first=((pl.col("attempt") == 0) & (pl.col("reward") >= 1.0)).any(),
        any=(pl.col("reward") >= 1.0).any(),
        tried=pl.len(),
    )
    out: dict[str, dict[str, Any]] = {}
    for key, group in sorted(chains.group_by(by), key=lambda kv: str(kv[0][0])):
        n = group.height
        out[str(key[0])] = {
            "chains": n,
            "pass@1": round(group["first"].sum() / n, 4),
            "pass@k": round(group["any"].sum() / n, 4),
            "attempts": int(group["tried"].sum()),
        }
    return out
