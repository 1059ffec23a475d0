"""A gold plan's steps, and how its decisions were made: the records a task and its intent share."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

StepKind = Literal["read", "write", "generic"]


class PlanStep(BaseModel):
    """One gold action: a tool call the solution makes, in order."""

    model_config = ConfigDict(frozen=True)

    name: str
    arguments: dict[str, Any]
    kind: StepKind

    def key(self) -> str:
        return self.name + json.dumps(self.arguments, sort_keys=True)


class Candidate(BaseModel):
    """One record a write decision compared, as the agent names it and its deciding value."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="how the agent names it: 'reservation VD4VDF', 'order #W123'")
    value: str = Field(description="its value under the criterion, as said: '$1,284', '3 passengers'")


class Comparison(BaseModel):
    """How a write's target was decided by comparing records, so the agent can say it."""

    model_config = ConfigDict(frozen=True)

    things: str = Field(description="what was compared, plural: 'reservations', 'pending orders'")
    criterion: str = Field(description="what decided, completing 'X has ...': 'the highest total fare'")
    chosen: Candidate
    others: list[Candidate] = Field(description="the candidates set aside, with their values")


class Condition(BaseModel):
    """A request the user wants only on one side of a limit: a figure the agent finds by reads (a fee, a
    refund, a price difference) against a round amount the user names. The DB decides the branch."""

    what: str = Field(description="the figure, as both sides name it: 'the fee for the extra bags'")
    kind: Literal["cost", "refund"] = Field(
        description="cost: the user pays it and sets a ceiling; refund: the user gets it back and sets a floor"
    )
    figure: float = Field(description="the figure the reads give, in dollars (the agent must say it)")
    limit: float = Field(description="the user's limit, in dollars: never within 15% of the figure")
    holds: bool = Field(description="the figure is on the user's side of the limit: the write is made")
    write: PlanStep = Field(description="the write the request asks for: in the gold plan only if ``holds``")
