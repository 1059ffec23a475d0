"""How varied a set of instructions is: the share of distinct sentences once specifics are masked.

Two instructions that differ only in ids, amounts, dates, emails and names teach a model one
sentence, not two. So every instruction field (reason_for_call, known_info, unknown_info,
task_instructions) is split into sentences, each sentence has its specifics replaced by
placeholders, and the measure is distinct masked sentences / all masked sentences. Masking
is deliberately broad (every run of two or more capitalised words counts as a name, which
also masks cities and product names), so the figure errs low rather than high.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

INSTRUCTION_FIELDS = ("reason_for_call", "known_info", "unknown_info", "task_instructions")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Any token holding a digit: ids (#W123, HAT045, mia_li_3668, credit_card_7815), amounts, dates.
_SPECIFIC = re.compile(r"[\w.$#/:+-]*\d[\w.$#/:+-]*")
_NAME = re.compile(r"\b[A-Z][a-z'-]+(?: [A-Z][a-z'-]+)+\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def mask(sentence: str) -> str:
    """``sentence`` with emails, tokens holding a digit and capitalised name runs replaced."""
    out = _EMAIL.sub("<email>", sentence)
    out = _SPECIFIC.sub("<n>", out)
    out = _NAME.sub("<name>", out)
    return re.sub(r"\s+", " ", out).strip()


def sentences(text: str | None) -> list[str]:
    """The sentences of a text: lines first, then sentence ends followed by a capital."""
    out: list[str] = []
    for line in (text or "").split("\n"):
        out += [s.strip() for s in _SENTENCE_END.split(line) if s.strip()]
    return out


def instruction_sentences(instructions: str | Mapping[str, Any]) -> list[str]:
    """All sentences of one τ²-bench user instruction (a string or the structured fields)."""
    if isinstance(instructions, str):
        return sentences(instructions)
    return [s for key in INSTRUCTION_FIELDS for s in sentences(instructions.get(key))]


def distinct_masked_share(instructions: Iterable[str | Mapping[str, Any]]) -> float:
    """Distinct masked sentences / all sentences over a set of instructions (0.0 when empty)."""
    masked = [mask(s) for instr in instructions for s in instruction_sentences(instr)]
    return round(len(set(masked)) / len(masked), 4) if masked else 0.0


def task_instructions_of(task: Mapping[str, Any]) -> str | Mapping[str, Any]:
    """The user instruction of a τ²-bench task given as a dict."""
    return (task.get("user_scenario") or {}).get("instructions") or ""
