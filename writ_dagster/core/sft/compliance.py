"""Policy compliance of a conversation, checked on its stored messages before it may be trained on.

τ²-bench's reward looks at the end state of the DB and at the figures the agent said; it does
not see *how* the agent got there. The airline and retail policies also say: list a write's
details and get an explicit "yes" before making it, make at most one tool call at a time, and
do not talk while calling a tool. A teacher that breaks these rules can still score 1.0, and a
student trained on such conversations learns to break them. This module finds them.

The rules, each a reason a conversation is dropped (the first one broken, in this order):

- :data:`MULTIPLE_CALLS`: an assistant message with more than one tool call.
- :data:`TEXT_AND_CALL`: an assistant message with both text and a tool call.
- :data:`UNCONFIRMED_WRITE`: a write whose last user message before it, since the agent last
  spoke in text, is not an explicit confirmation. Precisely: let P be the latest assistant
  text message before the write call. There must be a user message after P, the latest of
  them must read as a yes (:func:`is_confirmation`), and no other write may have used that
  yes already (one confirmation, one write).
- :data:`UNASKED_WRITE`: a confirmed write whose details P did not state, so that what the
  user said yes to was not this write. Checkable as: every *detail value* of the call (a
  number, or a string containing a digit — reservation and order ids, flight numbers,
  dates, amounts, street numbers and zip codes; see :func:`detail_values`) appears in P's
  text as a word of its own. Values under :func:`named_in_words` keys are exempt, because agents rightly name
  those things in words ("your visa card ending in 2413", "the blue t-shirt", "your
  account") rather than by id; strings without digits (cabin names, reasons, yes/no flags)
  are too often paraphrased to compare.

A write is a call to one of the domain's write tools (tau2's tool types); reads and generic
tools (calculate, transfer) need no confirmation. Everything here is pure: messages are the
stored tau2 message dicts of a :class:`~writ_dagster.core.simulation.records.TrajectoryRecord`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from writ_dagster.core.domains.pack import pack_of
from writ_dagster.core.domains.registry import WRIT_DOMAINS, get_domain
from writ_dagster.core.language import formats
from writ_dagster.core.llm.chat_format import THINK_END, THINK_START, split_reasoning

MULTIPLE_CALLS = "policy: more than one tool call in a message"
TEXT_AND_CALL = "policy: text and a tool call in one message"
UNCONFIRMED_WRITE = "policy: write without an explicit confirmation"
UNASKED_WRITE = "policy: write the user did not ask for"
REASONS = (MULTIPLE_CALLS, TEXT_AND_CALL, UNCONFIRMED_WRITE, UNASKED_WRITE)


_YES = re.compile(r"\b(yes|yeah|yep|confirm|confirmed|go ahead|proceed|please do)\b", re.I)
_NO = re.compile(r"\b(no|not|don't|do not|wait|hold on|stop)\b|n't\b", re.I)
_DIGIT = re.compile(r"\d")


def is_confirmation(text: str | None) -> bool:
    """Whether a user message reads as an explicit yes: a yes word and no word of refusal or doubt.

    Deliberately strict ("Yes, but not that one" is not a yes): a conversation it wrongly
    doubts is only left out of training, while one it wrongly accepts would teach writing
    without consent.
    """
    if not text:
        return False
    return bool(_YES.search(text)) and not _NO.search(text)


# Argument keys whose values agents name in words, not by id (see the module docstring): filled from every
# WRIT domain's pack on first use (:func:`named_in_words`), read as a plain global on the hot path.
_NAMED: frozenset[str] = frozenset()
_NAMED_READ = False


def named_in_words() -> frozenset[str]:
    """Argument keys whose values agents name in words, not by id (see the module docstring): what every
    WRIT domain's pack says of its own arguments ("payment_id", "item_ids"); the messages do not say their domain."""
    global _NAMED, _NAMED_READ
    if not _NAMED_READ:
        _NAMED = frozenset(key for name in WRIT_DOMAINS for key in pack_of(get_domain(name)).named_in_words)
        _NAMED_READ = True
    return _NAMED


def detail_values(arguments: Any, key: str = "") -> list[str]:
    """The values of a call's arguments that its description must state (see the module docstring)."""
    if not _NAMED_READ:
        named_in_words()
    out: list[str] = []
    _collect(arguments, key, out)
    return out


def _collect(value: Any, key: str, out: list[str]) -> None:
    # concrete types, no generators: this runs for every write of every conversation of a build
    if key in _NAMED:
        return
    kind = type(value)
    if kind is dict:
        _collect_dict(value, out)
    elif kind is str:
        if not value.isalpha() and _DIGIT.search(value):  # isalpha: most words are settled without the regex
            out.append(value)
    elif kind is list:
        for v in value:
            _collect(v, key, out)
    elif kind is int:  # bool is its own type: a flag is said in words ("with insurance"), never as True
        out.append(str(value))
    elif kind is float:
        out.append(str(int(value)) if value.is_integer() else str(value))


def _collect_dict(value: dict[str, Any], out: list[str]) -> None:
    for k, v in value.items():
        if k in _NAMED:
            continue
        t = type(v)  # the flat values of a call, inline: most arguments are these
        if t is str:
            if not v.isalpha() and _DIGIT.search(v):
                out.append(v)
        elif t is int:
            out.append(str(v))
        elif t is dict or t is list or t is float:
            _collect(v, k, out)


def describes(text: str, arguments: Any) -> bool:
    """Whether ``text`` states every detail value of a call with these ``arguments``.

    A value must stand as a word of its own ("3" is not found in "ABC123" or "3.5"), letter
    case aside.
    """
    low: str | None = None
    for value in detail_values(arguments):
        if _stands_in(value, text):
            continue
        low = low or text.lower()  # exact case first: ids are mostly said as written
        if _stands_in(value.lower(), low):
            continue
        # an amount or a date said as the formatter writes it ("$1,682", "May 19", "July 17, 1950")
        if not any(_stands_in(form, text) for form in formats.renderings(value)[1:]):
            return False
    return True


def _stands_in(value: str, text: str) -> bool:
    # str.find with the word-boundary test by hand: a regex per value would be compiled anew for
    # nearly every call (ids are all different), which made the filter the slowest step of a build
    start = text.find(value)
    while start >= 0:
        end = start + len(value)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (
            before.isalnum()
            or before == "_"
            or (before == "." and start >= 2 and text[start - 2].isdigit())
            or after.isalnum()
            or after == "_"
            or (after == "." and end + 1 < len(text) and text[end + 1].isdigit())
        ):
            return True
        start = text.find(value, start + 1)
    return False


def _text(message: Mapping[str, Any]) -> str | None:
    content = message.get("content")
    if not content or type(content) is not str:
        return None
    if THINK_START in content or THINK_END in content:
        # a think block left in a stored content is not something the other side was told
        return split_reasoning(content)[0]
    return None if content.isspace() else content


def violations(messages: Sequence[Mapping[str, Any]], write_tools: frozenset[str] | set[str]) -> list[str]:
    """Every rule the conversation breaks, each once, in the order of :data:`REASONS`."""
    found: set[str] = set()
    proposal: str | None = None  # the agent's latest text message
    last_user: Mapping[str, Any] | None = None  # the latest user message since then
    confirmation_used = False
    for m in messages:
        role = m["role"]
        if role == "user":
            last_user = m
            continue
        if role != "assistant":
            continue
        calls = m.get("tool_calls")
        if not calls:
            text = _text(m)
            if text:
                proposal, last_user, confirmation_used = text, None, False
            continue
        if len(calls) > 1:
            found.add(MULTIPLE_CALLS)
        if m.get("content") and _text(m):
            found.add(TEXT_AND_CALL)
        for call in calls:
            if call.get("name") not in write_tools:
                continue
            if proposal is None or last_user is None or confirmation_used or not is_confirmation(_text(last_user)):
                found.add(UNCONFIRMED_WRITE)
            elif not describes(proposal, call.get("arguments") or {}):
                found.add(UNASKED_WRITE)
            confirmation_used = True
    return [r for r in REASONS if r in found]


def first_violation(messages: Sequence[Mapping[str, Any]], write_tools: frozenset[str] | set[str]) -> str | None:
    """The reason a conversation is dropped for (None if it keeps every rule)."""
    found = violations(messages, write_tools)
    return found[0] if found else None


def policy_counts(dropped: Mapping[str, int]) -> dict[str, int]:
    """Conversations dropped under each rule (zeros included), from a build's ``dropped`` counts."""
    return {reason: int(dropped.get(reason, 0)) for reason in REASONS}
