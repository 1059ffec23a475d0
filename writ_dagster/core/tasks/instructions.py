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

from writ_dagster.core.tasks.intent import Wording

# How a request opens, with and without a motive. {a}: action phrase, {m}: motive clause.
_PLAIN = (
    "You want to {a}.",
    "You'd like to {a}.",
    "You need to {a}.",
    "You're calling to {a}.",
    "You are hoping to {a}.",
    "You'd like to get help to {a}.",
)
_MOTIVATED = (
    "You want to {a} because {m}.",
    "Since {m}, you'd like to {a}.",
    "{M}, so you need to {a}.",
    "You're calling to {a}; {m}.",
    "As {m}, you want to {a}.",
    "You'd like to {a}, since {m}.",
    "{M}, which is why you want to {a}.",
    "You need to {a}: {m}.",
    "Because {m}, you are hoping to {a}.",
)
_MOTIVE_FIRST = tuple(t for t in _MOTIVATED if t.endswith("{a}."))
# Leads of the second and later requests (lower-cased sentence follows).
CONNECTIVES = (
    "Also, ",
    "On top of that, ",
    "After that, ",
    "Then ",
    "Once that's done, ",
    "Separately, ",
    "One more thing: ",
    "Besides that, ",
    "While you're at it, ",
    "In addition, ",
)
# The user asks for a figure. {q} is a "how much ..." clause.
_ASK = (
    "You want to know {q} before you agree.",
    "Before saying yes, you'd like to hear {q}.",
    "You won't confirm until you hear {q}.",
    "You'll ask {q} before you decide.",
    "You'll want to hear {q} before agreeing.",
    "You want to be told {q} first.",
    "It matters to you {q}, so you ask before agreeing.",
    "You ask {q} before committing to anything.",
    "Before you give the go-ahead, you ask {q}.",
    "You'd like to find out {q} before deciding.",
    "First, though, you ask {q}.",
)
# Behaviour, as clauses joined into one sentence: how to confirm, and what the user keeps to themself.
_CONFIRM = (
    "when the agent reads back the details of a change, you check them and say yes if they match",
    "you agree to a change only once the agent has spelled it out",
    "you say yes to each change after checking its details",
    "you confirm each change with a clear yes once you have checked it",
    "before anything is changed, you expect to hear the details",
    "you give a plain yes when a proposal is what you asked for",
    "if the agent's summary matches your request, you agree to it",
    "you go along with a change once it has been read back to you correctly",
    "you check what the agent proposes before you confirm it",
    "you are happy to confirm anything that matches what you came for",
)
_RESERVE = (
    "you only share what is in these instructions",
    "if the agent asks for something you don't know, you say so",
    "you don't volunteer more than you're asked",
    "you don't make up details you aren't given here",
    "you answer questions briefly",
    "you stick to what you know and don't guess",
    "you explain what you want one piece at a time",
    "if something is unclear, you ask the agent to explain",
    "you keep your messages short",
    "you never invent an id or a date",
)
# How a user takes a refused request (a line of task_instructions).
ACCEPT_REFUSAL = (
    "If the agent explains why it cannot be done, you accept that and move on.",
    "Should the agent say the policy does not allow it, you take the explanation as it is.",
    "If the agent refuses and tells you why, you accept it without arguing.",
    "When the agent says no and gives the reason, you let that request go.",
)
ACCEPT_TRANSFER = (
    "If the agent says a human agent has to handle it and transfers you, you agree and wait.",
    "Should the agent hand you over to a human colleague for it, that is fine with you.",
    "If the agent cannot do it and offers a transfer to a person, you accept the transfer.",
    "When the agent says someone else must take this over, you let it transfer you.",
)
JOINERS = ("{a}, and {b}.", "{a}; {b}.", "{a}, and also {b}.", "{A}. {B}.")
# A change of mind: the line of what the user wants instead opens with the moment they take the previous
# request back ({n}: "the cancellation"), then ": " and the new request, which is what the user says.
_TAKE_BACK_MOMENTS = (
    "reads {n} back to you and asks you to confirm",
    "has described {n} and asks for your yes",
    "asks you to confirm {n}",
    "spells out {n} and asks whether to go ahead",
)
_TAKE_BACK = (
    ("When the agent {t}, you change your mind", "instead, you'd rather {a}"),
    ("Once the agent {t}, you think better of it", "what you want instead is to {a}"),
    ("When the agent {t}, you say no after all", "you'd rather {a}"),
    ("As soon as the agent {t}, you decide against it", "instead, you want to {a}"),
)


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
        template = rng.choice(_MOTIVE_FIRST if req.condition else _MOTIVATED)
    else:
        template = rng.choice(_PLAIN)
    if position > 0 and rng.random() < 0.8:
        # After a connective the motive keeps its own case ("Also, something came up, so ...").
        lead = rng.choice(CONNECTIVES)
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
    moment = rng.choice(_TAKE_BACK_MOMENTS).format(n=req.takes_back)
    when, rather = rng.choice(_TAKE_BACK)
    # "instead" is the frame's word here ("have it shipped to ... instead" would say it twice)
    text = rather.format(a=re.sub(r",? instead$", "", req.action))
    if req.motive and (req.keep_motive or rng.random() < 0.85):
        text += rng.choice((", since {m}", " because {m}", ", as {m}")).format(m=req.motive)
    return f"{when.format(t=moment)}: {text}.", capitalize(text) + "."


def ask_sentence(rng: random.Random, question: str) -> str:
    """A sentence that makes the user ask for a figure ("how much you will get back")."""
    return rng.choice(_ASK).format(q=question)


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
    return rng.choice(JOINERS).format(a=capitalize(first), b=second, A=capitalize(first), B=capitalize(second))


def behaviour(rng: random.Random) -> list[str]:
    """A varied line on how the user confirms and what they keep to themself."""
    return [combine(rng, rng.choice(_CONFIRM), rng.choice(_RESERVE))]


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


def pick(rng: random.Random, options: tuple[str, ...] | list[str], **slots: str) -> str:
    """One of ``options``, with its ``{slots}`` filled."""
    return rng.choice(list(options)).format(**slots)
