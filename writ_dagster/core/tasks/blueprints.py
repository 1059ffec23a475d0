"""The blueprint contract: how a domain proposes one write decision and its evidence.

A blueprint looks at the current (forked) DB for one user and proposes a write whose
arguments are fixed by evidence: the read calls a careful agent must make, how many
candidate records it compares, and how the user describes the target (by properties at
high burden, by id at low burden). Composers (one per domain) chain blueprints into tasks.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from writ_dagster.core.tasks.instructions import Request
from writ_dagster.core.tasks.models import Burden, Candidate, Comparison, Condition

Call = tuple[str, dict[str, Any]]


def call_key(call: Call) -> str:
    """Identity of a tool call (same text as ``PlanStep.key``): repeated reads are not redone."""
    return call[0] + json.dumps(call[1], sort_keys=True)


class Skip(Exception):
    """A blueprint does not apply to this user or state; the composer tries another."""


@dataclass
class Amount:
    """The money a write moves, as a user could set a condition on it (see :mod:`.conditions`)."""

    value: float = field(metadata={"doc": "dollars, positive"})
    kind: str = field(metadata={"doc": "'cost' (the user pays it) or 'refund' (the user gets it back)"})
    what: str = field(metadata={"doc": "how both sides name it: 'the fee for the extra bags', 'the refund'"})
    keep: str = field(metadata={"doc": "what the user does instead, second person: 'keep the reservation'"})


@dataclass
class Decision:
    """One write decision proposed by a blueprint."""

    write: Call
    reads: list[Call]
    candidates: int
    say: Request = field(metadata={"doc": "how the user asks: properties, not ids, at high burden"})
    unknown: list[str] = field(default_factory=list)
    communicate: list[str] = field(
        default_factory=list,
        metadata={"doc": "figures the agent must state; only those the request's `ask` makes the user ask for"},
    )
    entities: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list, metadata={"doc": "entity keys this write decides on"})
    comparisons: list[Comparison] = field(
        default_factory=list, metadata={"doc": "how records were compared to fix the arguments"}
    )
    follow_up: "Decision | None" = field(
        default=None,
        metadata={
            "doc": "a second write the policy ties to this one, made right after it as the user's next request "
            "(a delayed flight's certificate comes only after the change or cancellation); it counts as one "
            "of the task's writes, so a blueprint offers it only when ``ComposeContext.writes_left`` allows"
        },
    )
    amount: Amount | None = field(
        default=None,
        metadata={
            "doc": "the money this write moves, for a conditional request on it; None where there is none to "
            "set a limit on (a free bag, an even exchange)"
        },
    )


@dataclass
class Refusal:
    """A part of a task the gold plan meets by reads alone: a request the policy forbids (declined), one
    only a human agent may handle (``transfer``), or a question (``answer``)."""

    reads: list[Call]
    say: Request
    action: str = field(metadata={"doc": "what is declined, in the agent's words: 'cancel reservation X'"})
    reason: str = field(metadata={"doc": "the policy's reason, in the agent's words"})
    entities: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    behaviour: list[str] = field(default_factory=list, metadata={"doc": "how the user takes the refusal"})
    transfer: bool = field(
        default=False,
        metadata={"doc": "only a human agent may handle it: the agent transfers the user instead of declining"},
    )
    answer: str = field(
        default="",
        metadata={
            "doc": "a question, not a request: the fact the agent states "
            "once it has read it (no write, nothing declined)"
        },
    )
    communicate: list[str] = field(
        default_factory=list, metadata={"doc": "the answer's values as tau2 checks them (communicate_info)"}
    )
    condition: Condition | None = field(
        default=None,
        metadata={"doc": "a conditional request whose condition does not hold: the reads fix the figure, no write"},
    )
    declined: Call | None = field(
        default=None,
        metadata={
            "doc": "a change of mind: the write the user asks for first and takes back once the agent asks to "
            "confirm it; never made, so tau2's DB check fails an agent that makes it"
        },
    )
    comparisons: list[Comparison] = field(
        default_factory=list,
        metadata={"doc": "how its record was picked out (a condition's or a change of mind's write); none: by id"},
    )


class RefusalBlueprint(Protocol):
    """Proposes a request the policy forbids, or raises :class:`Skip`."""

    name: str

    def refuse(self, ctx: "ComposeContext") -> Refusal: ...


def figure_text(value: float) -> str:
    """A figure as tau2's communicate check looks for it ("100", "12.5"): found in "$100" and "$12.50"."""
    return f"{round(value, 2):.2f}".rstrip("0").rstrip(".")


def compare(
    things: str,
    criterion: str,
    chosen: Any,
    pool: Sequence[Any],
    name: Callable[[Any], str],
    value: Callable[[Any], str],
) -> Comparison:
    """The record of choosing ``chosen`` out of ``pool`` by ``criterion`` (every other one is set aside)."""
    return Comparison(
        things=things,
        criterion=criterion,
        chosen=Candidate(name=name(chosen), value=value(chosen)),
        others=[Candidate(name=name(x), value=value(x)) for x in pool if x is not chosen],
    )


@dataclass
class ComposeContext:
    """What a blueprint sees: the fork's DB after earlier writes of this task, and its user."""

    db: Any
    rng: random.Random
    words: random.Random = field(metadata={"doc": "draws wording only, so phrasing never changes what is composed"})
    user_id: str
    burden: Burden
    min_reads: int
    used_targets: set[str] = field(default_factory=set)
    done_reads: set[str] = field(default_factory=set)
    reads_since_write: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    writes_left: int = field(default=1, metadata={"doc": "writes the task still has room for, this one included"})
    pin: str | None = field(
        default=None,
        metadata={
            "doc": "the only entity of its kind a write may target now (what a user changing their mind asks for "
            "instead is about the record they first asked about)"
        },
    )

    def allows(self, entity: str) -> bool:
        """Whether ``pin`` lets a write target ``entity`` (entities of other kinds are not pinned)."""
        return self.pin is None or entity == self.pin or entity.split(":")[0] != self.pin.split(":")[0]

    def fresh(self, entity: str) -> bool:
        """Whether no earlier write of this task targeted ``entity`` (and ``pin`` allows it)."""
        return entity not in self.used_targets and self.allows(entity)

    def new_reads(self, reads: list[Call]) -> list[Call]:
        """The reads of ``reads`` not yet made in this task (the agent remembers results)."""
        seen: set[str] = set()
        out: list[Call] = []
        for call in reads:
            key = call_key(call)
            if key not in self.done_reads and key not in seen:
                seen.add(key)
                out.append(call)
        return out

    def evidence_reads(self, reads: list[Call]) -> int:
        """How many reads the next write would have behind it (since the previous write)."""
        return self.reads_since_write + len(self.new_reads(reads))

    def require_evidence(self, reads: list[Call]) -> None:
        """At high burden, skip unless the write needs at least ``min_reads`` reads."""
        if self.burden == "high" and self.evidence_reads(reads) < self.min_reads:
            raise Skip(f"only {self.evidence_reads(reads)} reads of evidence, {self.min_reads} wanted")


class Blueprint(Protocol):
    """Proposes a write decision, or raises :class:`Skip`.

    A blueprint may also define ``first(ctx) -> bool``: True asks the composer loop to try it
    before the others for this write (a situation only few users' records hold, which a uniform
    shuffle would rarely reach even when the user was picked for it).
    """

    name: str
    tool: str

    def propose(self, ctx: ComposeContext) -> Decision: ...


@dataclass
class Identity:
    """How the user identifies themself, and the reads that authenticate them."""

    reads: list[Call]
    known: list[str]
    opening: str
    name: str = field(default="", metadata={"doc": "the user's full name, never used as a subject in their story"})
    knows: dict[str, str] = field(
        default_factory=dict,
        metadata={"doc": "what the user can tell the agent to be found, by the identification tools' argument names"},
    )


class Composer(Protocol):
    """A domain's task composer: users, identification and its blueprints."""

    domain: str
    max_writes: int
    blueprints: list[Blueprint]

    def pick_user(self, db: Any, rng: random.Random) -> str: ...

    def identify(self, db: Any, user_id: str, rng: random.Random, words: random.Random) -> Identity: ...

    def persona(self, db: Any, user_id: str, rng: random.Random) -> str | None: ...
