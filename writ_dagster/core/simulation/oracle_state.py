"""What the scripted oracle agent (:mod:`.oracle`) remembers about one conversation between its turns.

The engine hands every backend a scratch dict per conversation and role
(:attr:`~writ_dagster.core.turns.ConversationView.state`); the oracle keeps one :class:`OracleState`
in it under :data:`STATE_KEY`. :func:`oracle_state` reads it back (for code that steers the oracle
from outside, such as the rehearsal fleet's teacher errors).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

from writ_dagster.core.tasks.models import Comparison
from writ_dagster.core.users.outline import TaskOutline

STATE_KEY = "oracle"

Identity = Literal["unknown", "claimed", "verified", "failed"]
"""Where identification stands: not asked yet, given by the user (reads to make), found, or not found."""

CallKind = Literal["identity", "read", "write", "trailing", "refusal_read"]
"""What the oracle's last tool call was for; with an index (the identity read, the write's ordinal, the
request) it says what its result settles."""


@dataclass(frozen=True, slots=True)
class ProposedWrite:
    """The gold write with this ordinal has been proposed; a yes lets it be made."""

    ordinal: int


@dataclass(frozen=True, slots=True)
class ProposedTakeBack:
    """Request ``request``, which the user will take back, has been proposed; it is never made."""

    request: int


Proposal = ProposedWrite | ProposedTakeBack


@dataclass(slots=True)
class OracleState:
    """One conversation as the oracle knows it (see :class:`~.oracle.OracleAgent`)."""

    outline: TaskOutline
    rng: random.Random
    comparisons: list[list[Comparison]]
    """Per write ordinal, the comparisons that singled its record out (said once, before its proposal)."""
    read_cursor: dict[int, int]
    """Per write ordinal, how many of its gold reads are made."""

    # identification
    identity: Identity = "unknown"
    id_args: dict[str, str] = field(default_factory=dict)
    id_cursor: int = 0
    failed_call: int | None = None

    # what the user asked for, and how far each request got
    told: set[int] = field(default_factory=set)
    facts_pending: set[int] = field(default_factory=set)
    details_asked: dict[int, int] = field(default_factory=dict)
    done_writes: set[int] = field(default_factory=set)
    abandoned: set[int] = field(default_factory=set)
    refused: set[int] = field(default_factory=set)
    refusal_cursor: dict[int, int] = field(default_factory=dict)
    trailing_cursor: int = 0

    # the proposal waiting for an answer
    proposed: Proposal | None = None
    confirmed: bool = False
    refusals: int = 0
    subs: dict[str, str] = field(default_factory=dict)
    """Read-back slips the user made: right value -> the wrong one the oracle repeats until corrected."""
    correction: bool = False
    """The user corrected a slip: the next proposal opens by saying so."""
    instead: bool = False
    """The user took a request back: the next proposal is what they want instead."""
    explained: set[int] = field(default_factory=set)
    conditioned: set[int] = field(default_factory=set)

    # the conversation so far
    note: str = ""
    """What the oracle has to say when it next speaks (a write's outcome, a request kept as it is)."""
    closed: bool = False
    last_call: tuple[CallKind, int] | None = None
    reads_since_text: int = 0
    seen: int = 1
    """Messages already read (the greeting is the first)."""


def oracle_state(state: dict[str, Any]) -> OracleState:
    """The oracle's state in a conversation's backend state dict (KeyError before the oracle's first turn)."""
    return state[STATE_KEY]
