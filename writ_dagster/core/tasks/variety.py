"""How varied a set of instructions is: the share of distinct sentences once specifics are masked.

Two instructions that differ only in ids, amounts, dates, emails and names teach a model one
sentence, not two. So every instruction field (reason_for_call, known_info, unknown_info,
task_instructions) is split into sentences, each sentence has its specifics replaced by
placeholders, and the measure is distinct masked sentences / all masked sentences. Masking
is deliberately broad (any token with a digit, any all-capital word, capitalised words after
the start of a sentence count as specifics, which also masks cities and product names), so the
figure errs low rather than high.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

INSTRUCTION_FIELDS = ("reason_for_call", "known_info", "unknown_info", "task_instructions")

# Order matters: the wider patterns (emails, amounts, dates) run before the bare-number one.
_MASKS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "<email>"),
    (re.compile(r"\$\s?\d[\d,]*(\.\d+)?"), "<amount>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(T[\d:]+)?\b"), "<date>"),
    (re.compile(r"#?\b[\w-]*\d[\w-]*\b"), "<id>"),  # any token with a digit: ids, flight numbers, counts
    (re.compile(r"\b[A-Z]{3,}\b"), "<id>"),  # airport codes, letter-only reservation ids
    (re.compile(r"(?<=[\w,;:] )(?:[A-Z][a-z][a-z'-]*)(?: [A-Z][a-z][a-z'-]*)*"), "<name>"),  # capitalised mid-sentence
]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def mask(sentence: str) -> str:
    """``sentence`` with ids, amounts, numbers, emails, dates and names replaced by placeholders.

    The one masking of the project: instruction variety here and conversation variety
    (``core.simulation.quality``) count sentence templates the same way."""
    text = sentence.strip()
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    return re.sub(r"\s+", " ", text)


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
