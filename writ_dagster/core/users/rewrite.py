"""An LLM rewrites each scripted variant's instruction in its persona, tone and words; the
script checker decides whether the rewrite may replace the rule-based one.

A rewrite changes only ``user_scenario`` (what an LLM user simulator follows); the scripted
user's pre-rendered lines stay the rule-based ones. A rewrite is accepted only if
:func:`writ_dagster.core.users.check.check_script` finds no problem with it: every request,
fact and condition kept, nothing the agent must find by reads leaked. Rejected rewrites are
asked for again (with the checker's objections in the prompt), at most ``max_tries`` times in
all, then the rule-based variant stays. Generation goes through one callable that answers a
whole batch of prompts at once, so a partition costs one generation call per round.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.users.check import check_script
from writ_dagster.core.users.models import UserScript
from writ_dagster.core.users.phrasing import TONES

FIELDS = ("reason_for_call", "known_info", "unknown_info", "task_instructions")
MAX_TRIES = 3

SYSTEM_PROMPT = """You rewrite the instructions given to a simulated customer who contacts a customer service agent.
Rewrite them so they read as this particular person would have them written: their persona, their tone, how
they disclose details, in fresh words. Rules:
- Keep the second person ("You want to ...", "You are ...").
- Keep every request, every id, amount, number, date, name and condition exactly as written
  (copy ids, numbers and dates character for character; keep words such as "only if", "unless", "not").
- Add no fact, no id, no number and no amount that is not in the instructions.
- Keep each fact next to the request it belongs to, one request per line of reason_for_call, in the same order.
- Keep every behaviour line of task_instructions, reworded if you like.
Answer with one JSON object and nothing else, with the string keys
"reason_for_call", "known_info", "unknown_info" and "task_instructions"."""


class RewriteRequest(BaseModel):
    """One prompt of a batch: which script it rewrites, on which try."""

    script_id: str
    attempt: int = Field(description="1 for the first try")
    messages: list[dict[str, str]] = Field(description="OpenAI-style chat messages")


class RewriteOutcome(BaseModel):
    """What happened to the scripted variants of one batch of scripts."""

    scripts: list[UserScript]
    figures: dict[str, Any]


Generate = Callable[[list[RewriteRequest]], list[str | None]]


def prompt_messages(script: UserScript, objections: Sequence[str] = ()) -> list[dict[str, str]]:
    """The chat messages asking for a rewrite of ``script``'s instruction (with the checker's
    objections to the previous try, if any)."""
    instr = script.user_scenario["instructions"]
    tone = TONES.get(script.dimensions.tone)
    body: dict[str, Any] = {
        "persona": script.user_scenario.get("persona") or (tone.persona if tone else ""),
        "tone": script.dimensions.tone,
        "disclosure": script.dimensions.disclosure,
        "verbosity": script.dimensions.verbosity,
        "instructions": {k: instr.get(k) or "" for k in FIELDS},
    }
    text = "Rewrite these customer instructions.\n" + json.dumps(body, indent=1)
    if objections:
        text += (
            "\n\nA previous rewrite was rejected because: "
            + "; ".join(objections[:6])
            + ". Keep those facts exactly and leak nothing."
        )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]


def parse_rewrite(text: str | None) -> dict[str, str] | None:
    """The instruction fields of a model's answer (a JSON object, perhaps fenced), or None."""
    if not text:
        return None
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("reason_for_call"), str)
        or not data["reason_for_call"].strip()
    ):
        return None
    out: dict[str, str] = {}
    for key in FIELDS:
        value = data.get(key)
        if isinstance(value, list):
            value = "\n".join(str(v) for v in value)
        out[key] = value if isinstance(value, str) else ""
    return out


def apply_rewrite(script: UserScript, fields: dict[str, str]) -> UserScript:
    """``script`` with its instruction fields replaced (persona and spoken lines kept)."""
    instr = dict(script.user_scenario["instructions"])
    for key in FIELDS:
        value = fields.get(key) or ""
        # tau2 takes None for an absent known/unknown info, a string for the others
        instr[key] = (value or None) if key in ("known_info", "unknown_info") else value
    scenario = {**script.user_scenario, "instructions": instr}
    new = script.model_copy(update={"user_scenario": scenario, "content_hash": ""})
    new.content_hash = new.compute_hash()
    return new


def _reason(problem: str) -> str:
    """A problem's kind, for counting rejections."""
    if "leak" in problem:
        return "leak"
    if "lost a" in problem:
        return "lost fact"
    return re.sub(r"[:'\"].*", "", problem)[:40]


def rewrite_scripts(
    records: dict[str, TaskRecord], scripts: Sequence[UserScript], generate: Generate, max_tries: int = MAX_TRIES
) -> RewriteOutcome:
    """Rewrite every scripted variant (variant 0 stays canonical); see the module docstring.

    ``generate`` answers a list of requests with one text (or None) each; it is called once per
    round (first tries, then the retries of the rejected ones). Returns the scripts in input
    order and the figures: accepted on the first try, after a retry, fallbacks to the
    rule-based variant, rejections by reason, generation calls and prompts.
    """
    if max_tries < 1:
        raise ValueError(f"max_tries must be at least 1, got {max_tries}")
    out = list(scripts)
    todo: dict[int, list[str]] = {i: [] for i, s in enumerate(scripts) if s.has_user_script}
    rejected: Counter[str] = Counter()
    first = retried = calls = prompts = 0
    for attempt in range(1, max_tries + 1):
        if not todo:
            break
        order = sorted(todo)
        batch = [
            RewriteRequest(
                script_id=scripts[i].script_id, attempt=attempt, messages=prompt_messages(scripts[i], todo[i])
            )
            for i in order
        ]
        calls += 1
        prompts += len(batch)
        answers = generate(batch)
        if len(answers) != len(batch):
            raise ValueError(f"the generator answered {len(answers)} of {len(batch)} prompts")
        for i, text in zip(order, answers):
            fields = parse_rewrite(text)
            if fields is None:
                rejected["unreadable answer"] += 1
                todo[i] = ["the answer was not one JSON object with the four keys"]
                continue
            candidate = apply_rewrite(scripts[i], fields)
            problems = check_script(records[scripts[i].task_id], candidate)
            if problems:
                rejected.update({_reason(p) for p in problems})
                todo[i] = problems
                continue
            out[i] = candidate
            first += attempt == 1
            retried += attempt > 1
            del todo[i]
    scripted = sum(s.has_user_script for s in scripts)
    figures = {
        "rewrite_scripted": scripted,
        "rewrite_accepted_first_try": first,
        "rewrite_accepted_after_retry": retried,
        "rewrite_fallback_rule_based": len(todo),
        "rewrite_rejections": dict(rejected.most_common()),
        "rewrite_generation_calls": calls,
        "rewrite_prompts": prompts,
        "rewrite_max_tries": max_tries,
    }
    return RewriteOutcome(scripts=out, figures=figures)
