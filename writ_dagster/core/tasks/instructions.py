"""The instruction writer: a task's requests as the user's own story, in τ²-bench's four fields.

Blueprints (of any task family) say *what* the user wants as a :class:`Request`: an action
phrase ("cancel reservation QW4873"), an optional motive ("your plans changed"), the facts
that belong to that request (which card pays, how many bags), and the figure the user asks
about, if any. This module decides *how* it is said, drawing phrasings from small grammars
with the task's wording RNG, so the same seed always writes the same instruction.

Layout (what a reader of the instruction sees; code reads the :class:`~.intent.Wording` of each line,
which :func:`write_instruction` returns beside the text):
- ``reason_for_call``: one line per request, in telling order. The first sentence of a line is the
  request itself (motive included, possibly led by a connective such as "Also,"); every further
  sentence is a fact or question that belongs to that request.
- ``known_info``: who the user is (and facts not tied to one request).
- ``unknown_info``: what the user does not know.
- ``task_instructions``: how the user behaves; never a fact the agent needs.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from writ_dagster.core.language.pools import pick, shared
from writ_dagster.core.tasks.intent import Wording

# The pools are data: the "instructions" section of core/language/phrases.yaml.
_S = shared()

# How a request opens, with and without a motive. {a}: action phrase, {m}: motive clause.
_PLAIN: tuple[str, ...] = _S["instructions"]["plain"]
_MOTIVATED: tuple[str, ...] = _S["instructions"]["motivated"]
_MOTIVE_FIRST = tuple(t for t in _MOTIVATED if t.endswith("{a}."))
# Leads of the second and later requests (lower-cased sentence follows).
CONNECTIVES: tuple[str, ...] = _S["instructions"]["connectives"]
# The user asks for a figure. {q} is a "how much ..." clause.
_ASK: tuple[str, ...] = _S["instructions"]["ask"]
# Behaviour, as clauses joined into one sentence: how to confirm, and what the user keeps to themself.
_CONFIRM: tuple[str, ...] = _S["instructions"]["confirm"]
_RESERVE: tuple[str, ...] = _S["instructions"]["reserve"]
# How a user takes a refused request (a line of task_instructions).
ACCEPT_REFUSAL: tuple[str, ...] = _S["instructions"]["accept_refusal"]
ACCEPT_TRANSFER: tuple[str, ...] = _S["instructions"]["accept_transfer"]
JOINERS: tuple[str, ...] = _S["instructions"]["joiners"]
# A change of mind: the line of what the user wants instead opens with the moment they take the previous
# request back ({n}: "the cancellation"), then ": " and the new request, which is what the user says.
_TAKE_BACK_MOMENTS: tuple[str, ...] = _S["instructions"]["take_back_moments"]
_TAKE_BACK: tuple[tuple[str, ...], ...] = _S["instructions"]["take_back"]


@dataclass
class Request:
    """What a user wants from one write (or, later, one refusal, question or transfer)."""

    action: str = field(metadata={"doc": "verb phrase without a subject, second person"})
    motive: str = ""
    details: list[str] = field(default_factory=list, metadata={"doc": "sentences that belong to this request"})
    ask: str = field(default="", metadata={"doc": "a 'how much ...' clause for a figure the user asks about"})
    keep_motive: bool = field(
        default=False,
        metadata={
            "doc": "the motive is a fact the policy judges (a delayed flight the user complains about), so the "
            "writer never leaves it out"
        },
    )
    condition: str = field(
        default="",
        metadata={
            "doc": "the user's condition on the request and what they do otherwise, a clause that ends the request "
            "sentence (', but only if the fee is under $70; otherwise you keep the bags as they are')"
        },
    )
    takes_back: str = field(
        default="",
        metadata={
            "doc": "a change of mind: what the user takes back before asking for this ('the cancellation'); the "
            "line opens with the moment they do"
        },
    )


def capitalize(text: str) -> str:
    """``text`` with its first letter upper-cased."""
    return text[:1].upper() + text[1:]


def lower_start(text: str) -> str:
    """``text`` with a leading You/Your/Since/... lower-cased, so a connective can lead it."""
    return re.sub(r"^(You|Your|Since|As|Because|The|A|An|Any|If)\b", lambda m: m.group(1).lower(), text)


def request_sentence(rng: random.Random, req: Request, position: int) -> tuple[str, str]:
    """The first sentence of a request line (the action, its motive, a connective after the first), as
    (written, said): what the user says leaves out the connective and, for what is asked after a change of
    mind, the moment the first request is taken back in."""
    if req.takes_back:
        return take_back_sentence(rng, req)
    if req.motive and (req.keep_motive or rng.random() < 0.85):
        # A condition closes the sentence, so it must follow the action, not the motive.
        template = pick(rng, _MOTIVE_FIRST if req.condition else _MOTIVATED)
    else:
        template = pick(rng, _PLAIN)
    if position > 0 and rng.random() < 0.8:
        # After a connective the motive keeps its own case ("Also, something came up, so ...").
        lead = pick(rng, CONNECTIVES)
        body = lower_start(template.format(a=req.action, m=req.motive, M=req.motive))
        sentence, said = lead + body, capitalize(body)
    else:
        sentence = said = template.format(a=req.action, m=req.motive, M=capitalize(req.motive))
    # The condition stays in the request sentence: a script or rewrite says it with the request, never
    # as a detail held back until the agent asks.
    if req.condition:
        return f"{sentence[:-1]}{req.condition}.", f"{said[:-1]}{req.condition}."
    return sentence, said


def take_back_sentence(rng: random.Random, req: Request) -> tuple[str, str]:
    """The first sentence of a change of mind's second request, as (written, said): when the user takes
    the first one back, and what they'd rather have (with its motive, most of the time)."""
    moment = pick(rng, _TAKE_BACK_MOMENTS, n=req.takes_back)
    when, rather = rng.choice(_TAKE_BACK)
    # "instead" is the frame's word here ("have it shipped to ... instead" would say it twice)
    text = rather.format(a=re.sub(r",? instead$", "", req.action))
    if req.motive and (req.keep_motive or rng.random() < 0.85):
        text += pick(rng, _S["instructions"]["because"], m=req.motive)
    return f"{when.format(t=moment)}: {text}.", capitalize(text) + "."


def ask_sentence(rng: random.Random, question: str) -> str:
    """A sentence that makes the user ask for a figure ("how much you will get back")."""
    return pick(rng, _ASK, q=question)


def request_line(rng: random.Random, req: Request, position: int) -> Wording:
    """One line of ``reason_for_call``: the request sentence, then its facts, then its question."""
    sentence, said = request_sentence(rng, req, position)
    facts = list(req.details)
    if req.ask:
        facts.append(ask_sentence(rng, req.ask))
    facts = [f.strip() for f in facts if f.strip()]
    return Wording(line=" ".join([sentence.strip(), *facts]), sentence=said.strip(), facts=facts)


def combine(rng: random.Random, first: str, second: str) -> str:
    """Two clauses (lower-case starts) as one or two sentences, with a varied joiner."""
    return pick(rng, JOINERS, a=capitalize(first), b=second, A=capitalize(first), B=capitalize(second))


def behaviour(rng: random.Random) -> list[str]:
    """A varied line on how the user confirms and what they keep to themself."""
    return [combine(rng, pick(rng, _CONFIRM), pick(rng, _RESERVE))]


@dataclass
class Instruction:
    """The four τ²-bench instruction fields, as text."""

    reason_for_call: str
    known_info: str | None
    unknown_info: str | None
    task_instructions: str
    requests: list[Wording] = field(default_factory=list, metadata={"doc": "each request's line as it is said"})
    known: list[str] = field(default_factory=list, metadata={"doc": "the lines of known_info"})
    unknown: list[str] = field(default_factory=list, metadata={"doc": "the lines of unknown_info"})
    behaviour: list[str] = field(default_factory=list, metadata={"doc": "the lines of task_instructions"})


def write_instruction(
    rng: random.Random,
    requests: list[Request],
    known: list[str],
    unknown: list[str],
    extra_behaviour: list[str] | None = None,
) -> Instruction:
    """Lay the requests out in τ²-bench's fields (see the module docstring for the layout)."""
    said = [request_line(rng, r, i) for i, r in enumerate(requests)]
    known = [k for k in dict.fromkeys(known) if k.strip()]
    unknown = [u for u in dict.fromkeys(unknown) if u.strip()]
    behaves = [*(extra_behaviour or []), *behaviour(rng)]
    return Instruction(
        reason_for_call="\n".join(w.line for w in said),
        known_info="\n".join(known) or None,
        unknown_info="\n".join(unknown) or None,
        task_instructions="\n".join(behaves),
        requests=said,
        known=known,
        unknown=unknown,
        behaviour=behaves,
    )
