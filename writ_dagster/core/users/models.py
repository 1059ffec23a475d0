"""Records of user behaviour scripts: how one user expresses and reveals the same task."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Disclosure = Literal["all_at_once", "progressive", "on_request"]
Opening = Literal["direct", "vague"]
Verbosity = Literal["terse", "normal", "chatty"]
Order = Literal["gold", "reordered"]
SlipKind = Literal["none", "identity", "readback"]


class ScriptDimensions(BaseModel):
    """The behaviour choices of one script (what varies between a task's scripts)."""

    model_config = ConfigDict(frozen=True)

    disclosure: Disclosure = Field(
        description="all requests and details at once / one request at a time / details only when the agent asks"
    )
    opening: Opening = Field(
        description="direct: the first message says what is wanted; vague: it does not, so the agent must ask"
    )
    tone: str = Field(description="persona and tone (a key of users.phrasing.TONES)")
    verbosity: Verbosity
    order: Order = Field(
        description="order in which requests are told; 'reordered' only where the writes "
        "are independent (checked by execution)"
    )
    slip: SlipKind = Field(
        description="a small mistake the user corrects: a mistyped identification detail "
        "the lookup rejects, or a wrong value caught when the agent reads back"
    )


# Behaviour choices that contradict each other, never drawn together: a vague opening cannot
# state every request in the first message, and a busy user who dislikes small talk is not chatty.
CONFLICTS: tuple[tuple[tuple[str, str], tuple[str, str]], ...] = (
    (("opening", "vague"), ("disclosure", "all_at_once")),
    (("tone", "busy"), ("verbosity", "chatty")),
    (("tone", "frustrated"), ("verbosity", "chatty")),
)


def conflicts(dims: ScriptDimensions) -> list[tuple[str, str]]:
    """The contradictory pairs among ``dims``' choices, as 'name=value' strings (empty: none)."""
    values = dims.model_dump()
    return [(f"{a}={x}", f"{b}={y}") for (a, x), (b, y) in CONFLICTS if values[a] == x and values[b] == y]


CANONICAL = ScriptDimensions(
    disclosure="progressive", opening="direct", tone="neutral", verbosity="normal", order="gold", slip="none"
)


class Slip(BaseModel):
    """The one mistake a slipping user makes, and its correction."""

    kind: Literal["identity", "readback"]
    field: str = Field(description="what is mistyped: user_id, email, zip, a date of birth, ...")
    right: str
    wrong: str
    request: int | None = Field(None, description="readback slips: the request whose telling carries it")


class ScriptLines(BaseModel):
    """Everything the scripted user may say, rendered once so it can be checked before use.

    Lists indexed by request follow the gold (canonical) request order; ``telling_order``
    says in which order they are told.
    """

    hello: str
    vague: str
    identity: str = Field(description="answer to an identification question, correct values")
    identity_slipped: str | None = None
    identity_correction: str | None = None
    requests: list[str] = Field(description="each request in the first person, as first told")
    facts: list[str] = Field(description="each request's supporting facts and criteria, first person")
    general_facts: str = ""
    connectors: list[str] = Field(description="how the n-th told request is introduced")
    more: list[str] = Field(description="lead-ins for raising a further request")
    confirm: list[str] = Field(description="explicit confirmations (all contain 'yes'), used in turn")
    readback_correction: str | None = None
    closing: str = Field(description="last message; contains ###STOP###")
    fillers: list[str] = Field(default_factory=list, description="harmless small talk (chatty users)")
    unknown: str = Field(description="reply to a question the script has no answer for")
    intro: str = Field("I have a few things to sort out.", description="says that several requests follow")

    def spoken_text(self) -> str:
        """All lines joined: what the checker searches for facts and leaks."""
        parts: list[str] = [
            self.hello,
            self.vague,
            self.identity,
            self.identity_slipped or "",
            self.identity_correction or "",
            *self.requests,
            *self.facts,
            self.general_facts,
            *self.connectors,
            *self.more,
            *self.confirm,
            self.readback_correction or "",
            self.closing,
            *self.fillers,
            self.unknown,
            self.intro,
        ]
        return "\n".join(p for p in parts if p)


class UserScript(BaseModel):
    """One way a user plays a task: variant 0 is the plain canonical instruction, others are scripted."""

    script_id: str
    task_id: str
    domain: str
    variant: int
    seed: int
    has_user_script: bool = Field(description="False for variant 0 (canonical instruction), True otherwise")
    dimensions: ScriptDimensions
    telling_order: list[int] = Field(description="canonical request indices in the order the user tells them")
    slip: Slip | None = None
    user_scenario: dict[str, Any] = Field(
        description="tau2 UserScenario dict {persona, instructions: StructuredUserInstructions dict}: the "
        "instruction an LLM user simulator follows for this script"
    )
    lines: ScriptLines
    content_hash: str = ""

    def compute_hash(self) -> str:
        """sha256 of the script's content (everything but the seed and the hash itself)."""
        body = self.model_dump(mode="json", exclude={"content_hash", "seed"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
