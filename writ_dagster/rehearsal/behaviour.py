"""What makes the simulated fleet's scripted replies look like a model's: errors, reasoning, cuts, tokens.

Every draw here is a hash of the fleet's behaviour seed and of what the request says (the
conversation it belongs to and the messages so far), never a clock or a counter, so the same
request always gets the same reply from any replica.

**Teacher errors.** A conversation offers error *opportunities*: each gold write (decided at
its first proposal) and each figure the task must communicate (decided at its first mention).
At each, an error that fails the conversation under τ²'s scoring should come with probability
``p = 1 - pass_rate ** (1 / n)`` (``n``: the conversation's opportunities), so that it passes
with probability about ``pass_rate``. Not every error fails it, so the chance of erring is ``p``
divided by the measured share that do (:data:`BITE`, weighted by the kinds' weights), capped
at 1 (a low pass rate with weak kinds cannot be reached; raise ``wrong_argument``'s weight).
Length cuts (``truncation_rate``) and faults whose retries run out fail conversations on top
of this. The kinds:

- ``wrong_argument``: the write is made with one argument changed (the database differs: fails);
- ``two_calls``: one message holds the write and a copy with one argument changed (fails
  when the copy goes through; often the tool refuses it);
- ``write_before_yes``: the write is made instead of being proposed (τ² compares databases,
  so this fails only when the user would have corrected a detail on hearing the proposal);
- ``missing_figure``: a figure is left out of every message that would state it (fails the
  COMMUNICATE check).

**Tokens** are counted as ``ceil(characters / 4)`` of message text (plus the tools' JSON
for the prompt): an approximation, labelled so in each reply (``usage.estimate``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from writ_dagster.rehearsal.config import ErrorWeights, Reasoning

WRITE_KINDS = ("wrong_argument", "two_calls", "write_before_yes")
# The share of injected errors of each kind that fail a conversation under τ²'s scoring, measured
# one kind at a time on 160 stored airline and retail scripts (bench/fleet_pass_rate.py, pass_rate
# 0.3): a changed argument almost always changes the database; the wrong copy of a write is often
# refused by the tool after the right one went through; a write made before the yes is the gold
# write, and fails only when the skipped proposal was where the user would have corrected a detail.
BITE = {"wrong_argument": 0.95, "two_calls": 0.2, "write_before_yes": 0.4, "missing_figure": 0.9}
TOKEN_ESTIMATE = "ceil(characters/4)"


def draw(*parts: Any) -> float:
    """A number in [0, 1) from ``parts`` (stable across processes)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def approx_tokens(text: str | None) -> int:
    """``ceil(len(text) / 4)``: the fleet's token count (see the module docstring)."""
    return math.ceil(len(text) / 4) if text else 0


def per_opportunity(pass_rate: float, opportunities: int) -> float:
    """The chance of a (failing) error at one opportunity for a conversation with ``opportunities``."""
    if opportunities <= 0 or pass_rate >= 1:
        return 0.0
    return 1.0 - pass_rate ** (1.0 / opportunities)


def write_error_rate(p: float, weights: ErrorWeights) -> float:
    """The chance of any error at a write opportunity, so that one that *fails* the conversation
    comes with chance ``p``: ``p`` over the weighted share of errors that fail (:data:`BITE`)."""
    total = sum(getattr(weights, k) for k in WRITE_KINDS)
    biting = sum(getattr(weights, k) * BITE[k] for k in WRITE_KINDS)
    if total <= 0 or biting <= 0:
        return 0.0
    return min(1.0, p * total / biting)


def figure_error_rate(p: float) -> float:
    """The chance of withholding a figure at its first mention (see :func:`write_error_rate`)."""
    return min(1.0, p / BITE["missing_figure"])


def pick_write_kind(u: float, weights: ErrorWeights) -> str:
    """The write error kind at draw ``u`` in [0, 1), by weight."""
    kinds = [(k, getattr(weights, k)) for k in WRITE_KINDS if getattr(weights, k) > 0]
    total = sum(w for _, w in kinds)
    acc = 0.0
    for kind, w in kinds:
        acc += w / total
        if u < acc:
            return kind
    return kinds[-1][0]


def wrong_arguments(args: dict[str, Any], u: float) -> dict[str, Any]:
    """``args`` with one argument changed the way a model gets one wrong (chosen by ``u``)."""
    keys = sorted(k for k, v in args.items() if _changeable(v))
    if not keys:
        return {**args, "note": "as discussed"}
    key = keys[int(u * len(keys)) % len(keys)]
    return {**args, key: _changed(args[key], u)}


def _changeable(value: Any) -> bool:
    return isinstance(value, (str, int, float, list, dict)) and value not in ("", [], {})


def _changed(value: Any, u: float) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return round(value + 1.0, 2)
    if isinstance(value, str):
        digits = [i for i, c in enumerate(value) if c.isdigit()]
        if digits:  # an id or a date: one digit off, as a misread
            i = digits[-1]
            return value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1 :]
        return value.upper() if value != value.upper() else value.lower()
    if isinstance(value, list):
        if len(value) > 1:
            return value[:-1]  # an item forgotten
        return [_changed(value[0], u)] if _changeable(value[0]) else value
    if isinstance(value, dict):
        return wrong_arguments(value, u)
    return value


def figure_pattern(figure: str) -> re.Pattern[str]:
    """Where a figure appears in text as τ²'s communicate check finds it (commas ignored), with the
    digits around it, so that taking the match out leaves no text that still contains it."""
    core = ",?".join(re.escape(c) for c in figure)
    return re.compile(r"\$?[\d,]*" + core + r"\d*")


def says_figure(text: str, figure: str) -> bool:
    """Whether τ²'s communicate check would find ``figure`` in ``text``."""
    return figure.lower() in text.lower().replace(",", "")


def withhold(text: str, figures: set[str]) -> str:
    """``text`` with every figure in ``figures`` replaced by a vague phrase."""
    for figure in sorted(figures):
        text = figure_pattern(figure).sub("the amount", text)
    return text


def reasoning_text(kind: str, detail: str) -> str:
    """A short, deterministic stand-in for a model's reasoning before its turn."""
    if kind == "tool_call":
        return f"I need to call {detail} next; the policy allows it at this point of the conversation."
    if kind == "user":
        return f"The agent is asking me something ({detail}); I answer as my instructions say."
    return f"Next I {detail.replace('_', ' ')}; I keep to the policy and say only what I know."


def render_reasoning(mode: Reasoning, reasoning: str, content: str | None) -> tuple[str | None, str | None]:
    """(content, reasoning_content) of a reply in the configured reasoning shape."""
    if mode == "none":
        return content, None
    if mode == "reasoning_content":
        return content, reasoning
    return f"<think>\n{reasoning}\n</think>\n\n{content or ''}", None


def truncate(content: str | None, calls: list[dict[str, Any]]) -> str:
    """What a reply cut by the length limit leaves: the first half of its text (a tool call's
    text as a hermes-style model would have been writing it)."""
    if calls:
        fn = calls[0]["function"]
        content = f'<tool_call>{{"name": {json.dumps(fn["name"])}, "arguments": {fn["arguments"]}}}</tool_call>'
    text = content or ""
    return text[: max(1, len(text) // 2)]
