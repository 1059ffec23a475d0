"""What a task asks, as data: the user's requests in telling order and who the user is.

Synthesis builds a :class:`TaskIntent` from what it composed (decisions, refusals, the
identity it drew), not from the instruction text, and stores it beside τ²'s ``Task``. The user
scripts, the scripted user and the scripted agent read the task through it
(:func:`writ_dagster.core.users.outline.outline_task`), so rewording an instruction never
changes what the oracle does.

One model per part kind, told apart by ``kind``: a write request, a request the policy refuses,
one only a human agent may handle (transfer), a question answered by reads, a write the user
wants only under a condition, and a write the user asks for and takes back (change of mind).
Each part keeps how it was said (:class:`Wording`), rendered when the instruction was written.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from writ_dagster.core.tasks.plan import Comparison, Condition, PlanStep


class Wording(BaseModel):
    """How one part is told in ``reason_for_call``, kept as it was rendered (never parsed back)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: str = Field(description="the whole line of reason_for_call")
    sentence: str = Field(
        description="the request as the user says it: second person, no leading connective; for what is asked "
        "after a change of mind, without the moment the first request is taken back in"
    )
    facts: list[str] = Field(default_factory=list, description="the sentences told beside it (details, its question)")


class _Part(BaseModel):
    """What every part holds: what the user asks, why, about which records, and how it is told."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: str = Field(description="the user's verb phrase, second person: 'cancel reservation QW4873'")
    motive: str = Field("", description="why the user asks, a clause ('your plans changed'); '' for none")
    targets: list[str] = Field(default_factory=list, description="entity keys the part is about: 'orders:#W123'")
    comparisons: list[Comparison] = Field(
        default_factory=list, description="how the targets are picked out of the user's records (none: named by id)"
    )
    wording: Wording

    @property
    def by_id(self) -> bool:
        """The user names every target, so nothing is resolved from evidence and the part may be told in
        any order (a part asked after a change of mind says 'that reservation')."""
        return not self.comparisons


class _Write(_Part):
    """A part whose write the gold plan may make: the figures the user asks about and the payment."""

    asks: str = Field("", description="the figure the user asks about before agreeing, a 'how much ...' clause")
    figures: list[str] = Field(
        default_factory=list, description="communicate_info values the agent must state for this part"
    )
    payment: str | None = Field(None, description="the payment method id the write uses, if it takes one")


class WriteRequest(_Write):
    """A write the user asks for and the gold plan makes."""

    kind: Literal["write"] = "write"
    write: PlanStep
    takes_back: str = Field(
        "", description="asked right after taking the previous part back: what is taken back ('the cancellation')"
    )

    @property
    def by_id(self) -> bool:
        return not self.comparisons and not self.takes_back


class ConditionalWrite(_Write):
    """A write the user wants only on one side of a limit; the DB decides (``condition.holds``) whether it
    is made."""

    kind: Literal["conditional"] = "conditional"
    condition: Condition


class RefusalRequest(_Part):
    """A request the policy forbids: the agent declines it and says why."""

    kind: Literal["refusal"] = "refusal"
    declined: str = Field(description="what the agent declines, in its words")
    reason: str = Field(description="the policy's reason, as the agent says it")


class TransferRequest(_Part):
    """A request only a human agent may handle: the agent transfers the user."""

    kind: Literal["transfer"] = "transfer"
    declined: str = Field(description="what the agent does not do itself, in its words")
    reason: str = Field(description="why a human agent must handle it")


class InformationQuestion(_Part):
    """A question the agent answers from reads alone."""

    kind: Literal["information"] = "information"
    declined: str = Field(description="the question, as the agent names it")
    answer: str = Field(description="the fact the agent states once it has read it")
    figures: list[str] = Field(default_factory=list, description="the answer's values as tau2 checks them")


class ChangeOfMind(_Part):
    """A write the user asks for and takes back when the agent asks to confirm it; the next part is what
    they want instead."""

    kind: Literal["change_of_mind"] = "change_of_mind"
    declined: str = Field(description="the write taken back, in the agent's words")
    write: PlanStep = Field(description="the write taken back (never made)")
    reads: int = Field(description="how many of the next write's first reads describe the write taken back")


IntentPart = Annotated[
    WriteRequest | ConditionalWrite | RefusalRequest | TransferRequest | InformationQuestion | ChangeOfMind,
    Field(discriminator="kind"),
]


class UserIdentity(BaseModel):
    """Who the user is and how they prove it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str
    name: str
    knows: dict[str, str] = Field(description="identification values the user can give, by tool argument name")
    lines: list[str] = Field(description="the known_info lines that say who the user is")
    reads: int = Field(description="how many leading gold actions authenticate the user")


class TaskIntent(BaseModel):
    """A task's meaning: its parts in telling order and the user's identity (see module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parts: list[IntentPart]
    identity: UserIdentity
    unknown: list[str] = Field(default_factory=list, description="unknown_info lines: what the user does not know")
    behaviour: list[str] = Field(default_factory=list, description="task_instructions lines: how the user behaves")
