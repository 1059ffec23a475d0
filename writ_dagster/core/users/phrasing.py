"""Turning second-person instruction lines into what the customer says, in several tones.

Instruction lines are written to the user ("You want to cancel reservation X. The reason is
...: you are ill"). A scripted user says them in the first person; tone and verbosity only
change the wrapping (greetings, connectors, thanks), never the facts themselves, so the
checker can find every fact in what the user says; the words around the facts are varied
per script by :mod:`writ_dagster.core.users.paraphrase` and the pools below.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from writ_dagster.core.language.pools import pick, shared

# The pools are data: the "user" section of core/language/phrases.yaml.
_S = shared()

_AGENT = "\x00"  # stands for the agent until every swap is done, then says "you"
# Ordered rewrites; the generic pronoun swap comes last.
_IDIOMS: list[tuple[str, str]] = [
    (r"\bYou are ([A-Z][a-z]+ [A-Z][a-z'-]+)\.$", r"This is \1."),
    (r"\bIf there is a fee, you pay with\b", "If there is a fee, I'll pay with"),
    (r"\b[Yy]ou pay with\b", "I'll pay with"),
    (r"\b[Yy]ou accept paying\b", "I'm fine paying"),
    (r"\bgoes to (your|the)\b", r"should go to \1"),
    (r"\bYou ask for\b", "I'd like to ask for"),
    (r"^Accept a\b", "I'd accept a"),
    (r"\blet the agent work it out\b", "please work it out for me"),
    # The agent is who the customer speaks to: "you", kept out of the swaps below ("you leave to the agent to
    # find" is "I leave to you to find", not "I leave to me").
    (r"\bthe agent\b", _AGENT),
    (r"\b[Yy]ou're\b", "I'm"),
    (r"\b[Yy]ou've\b", "I've"),
    (r"\b[Yy]ou'll\b", "I'll"),
    (r"\b[Yy]ou'd\b", "I'd"),
    (r"\b[Yy]ou have\b", "I have"),
    (r"\b[Yy]ou do not\b", "I don't"),
    (r"\b[Yy]ou are not\b", "I'm not"),
    (r"\b[Yy]ou are\b", "I am"),
    (r"\b[Yy]ou were\b", "I was"),
    (r"\byourself\b", "myself"),
    (r"\bYourself\b", "Myself"),
    (r"\byours\b", "mine"),
    (r"\byour\b", "my"),
    (r"\bYour\b", "My"),
    (r"\bthan you (first |had |originally )?(thought|expected|planned)\b", r"than I \1\2"),
    (r"\b(keeps|keep|stops|prevents|lets|makes|told|tells) you\b", r"\1 me"),
    (r"\b(for|to|with|of|about|at|from|by|tell|give|send|help|ask|than) (just )?you\b", r"\1 \2me"),
    (r"\byou\b", "I"),
    (r"\bYou\b", "I"),
]
_COMPILED = [(re.compile(p), r) for p, r in _IDIOMS]


def to_first_person(line: str) -> str:
    """A second-person instruction line as the customer would say it."""
    out = line
    for pattern, repl in _COMPILED:
        out = pattern.sub(repl, out)
    return out.replace(_AGENT, "you")


def lower_first(text: str) -> str:
    """``text`` with its first letter lower-cased, unless it starts with 'I ' or a name (two capitalised
    words: 'Amelia Martin'; a word before 'I' is no name: 'Because I am ...')."""
    if not text or text.startswith(("I ", "I'", "I'm")) or re.match(r"^[A-Z][a-z]+ (?!I\b)[A-Z]", text):
        return text
    return text[0].lower() + text[1:]


@dataclass(frozen=True)
class Tone:
    """How a persona wraps what they say (never what they say)."""

    name: str
    persona: str
    hello: tuple[str, ...]
    confirm: tuple[str, ...]
    thanks: tuple[str, ...]
    closing: tuple[str, ...]
    oops: tuple[str, ...]
    vague: tuple[str, ...]
    more: tuple[str, ...]


TONES: dict[str, Tone] = {name: Tone(name, **fields) for name, fields in _S["user"]["tones"].items()}

VERBOSITY_FILLERS: dict[str, tuple[str, ...]] = _S["user"]["verbosity_fillers"]

ORDINALS: tuple[str, ...] = _S["user"]["ordinals"]


# -- larger pools, drawn per variant ------------------------------------------------------
# A confirmation is "<yes>, <go>." : every <yes> says yes (the checker requires it), every
# <go> approves the action just proposed and nothing else.
_YES: dict[str, tuple[str, ...]] = _S["user"]["yes"]
_GO: dict[str, tuple[str, ...]] = _S["user"]["go"]
# A closing is "<done>, <thanks>" + an ending.
_DONE: dict[str, tuple[str, ...]] = _S["user"]["done"]
_THANKS: dict[str, tuple[str, ...]] = _S["user"]["thanks"]
UNKNOWN: tuple[str, ...] = _S["user"]["unknown"]
INTROS: tuple[str, ...] = _S["user"]["intros"]
CONNECTOR_STYLES: tuple[tuple[str, ...], ...] = _S["user"]["connector_styles"]
# Lead-ins ending in ':' or ',' open the request's own sentence, so the pair reads as one sentence.
MORE: tuple[str, ...] = _S["user"]["more"]


_HELLO: dict[str, tuple[str, ...]] = _S["user"]["hello"]
_FIX: tuple[str, ...] = _S["user"]["fix"]


def hello(tone: str, rng: random.Random) -> str:
    """A greeting in ``tone`` (may be empty for a busy user)."""
    return pick(rng, _HELLO[tone])


def identity_fix(label: str, right: str, rng: random.Random) -> str:
    """The sentence that corrects a mistyped identification detail."""
    return pick(rng, _FIX, label=label, right=right)


def confirmations(tone: str, rng: random.Random, k: int = 6) -> list[str]:
    """``k`` different confirmations in ``tone`` (each says yes and approves only what was proposed)."""
    combos = [f"{y}, {g}." for y in _YES[tone] for g in _GO[tone]]
    combos += [f"{y}." for y in _YES[tone] if "," in y]
    return rng.sample(combos, min(k, len(combos)))


def closing(tone: str, rng: random.Random) -> str:
    """One closing line in ``tone`` (the ###STOP### marker is added by the caller)."""
    end = "!" if tone in ("friendly", "anxious", "non_technical") and rng.random() < 0.5 else "."
    return f"{pick(rng, _DONE[tone])}, {pick(rng, _THANKS[tone])}{end}"


def more_leads(tone: str, rng: random.Random, k: int = 4) -> list[str]:
    """Lead-ins for raising a further request: the tone's own and generic ones, shuffled."""
    pool = list(dict.fromkeys(list(TONES[tone].more) + list(MORE)))
    return rng.sample(pool, min(k, len(pool)))
