"""A task taken apart for conversation: identification, requests, and what each write needs.

The synthesizer stores a task as a τ²-bench ``Task`` plus its :class:`~writ_dagster.core.tasks.intent.TaskIntent`
(what each request asks, as data). User scripts and the scripted agent need the task's parts tied to
the gold plan: which gold reads identify the user, which request each write answers, which facts belong
to which request, and which ``communicate_info`` figure each write decides. This module ties the intent
to the plan; it never reads meaning out of the instruction text, so rewording an instruction leaves
the outline as it is.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field, InstanceOf

from writ_dagster.core.domains.entities import amount_matches, money_amounts
from writ_dagster.core.domains.registry import Domain, get_domain
from writ_dagster.core.domains.verify import get_verifier
from writ_dagster.core.tasks.intent import (
    ChangeOfMind,
    ConditionalWrite,
    InformationQuestion,
    IntentPart,
    RefusalRequest,
    TaskIntent,
    TransferRequest,
    WriteRequest,
)
from writ_dagster.core.tasks.models import Condition, PlanStep, TaskRecord

_TOKEN = re.compile(r"[\w.@+#-]*\d[\w.@+#-]*")
_NAME = re.compile(r"\b([A-Z][a-z]+) ([A-Z][a-z]+)\b")
_NOT_NAMES = {
    "You",
    "Your",
    "If",
    "Any",
    "The",
    "On",
    "Every",
    "Keep",
    "Before",
    "For",
    "Give",
    "When",
    "Accept",
    "A",
    "Only",
    "New",
    "Los",
    "San",
    "Las",
    "Fleece",
    "In",
    "It",
    # sentence openers a paraphrase may move or drop (a name is the words after them)
    "Since",
    "As",
    "Because",
    "So",
    "Should",
    "Settle",
    "Use",
    "Cancel",
    "Please",
    "Then",
    "After",
    "Also",
    "But",
    "And",
    "With",
    "Could",
    "Can",
    "What",
    "Would",
    "Besides",
    "Plus",
}


class Figure(BaseModel):
    """A ``communicate_info`` figure and the write that decides it."""

    value: str
    write: int | None = Field(description="ordinal of the write it belongs to; None: say it at the end")
    sign: str = Field("", description="'+' charged to the user, '-' refunded to them, '' unknown")


class WriteStep(BaseModel):
    """One gold write with the reads that lead up to it."""

    ordinal: int
    position: int = Field(description="index in the gold actions")
    name: str
    arguments: dict[str, Any]
    reads: list[int] = Field(description="gold positions of the non-write calls since the previous write")
    request: int
    figures: list[Figure] = Field(default_factory=list)
    output: str = Field("", description="the gold result of the write (for amounts and wording)")


class RequestPart(BaseModel):
    """One numbered request of ``reason_for_call`` and what the user says along with it."""

    index: int
    text: str = Field(description="the request sentence, second person, without a leading connective")
    line: str = Field("", description="the whole line of reason_for_call it comes from")
    writes: list[int] = Field(description="write ordinals answering it")
    facts: list[str] = Field(default_factory=list, description="known_info lines it needs")
    criteria: list[str] = Field(default_factory=list, description="decision criteria it needs")
    by_id: bool = Field(False, description="names its targets by id, with no property to resolve")
    refusal: str = Field("", description="for a request the policy forbids: the reason the agent gives")
    refused_action: str = Field("", description="what the agent declines, in its words")
    reads: list[int] = Field(default_factory=list, description="gold positions of a refused request's reads")
    transfer: bool = Field(
        False,
        description="a request only a human agent may handle: the agent transfers "
        "the user (the transfer call is the last of ``reads``)",
    )
    answer: str = Field("", description="a question: the fact the agent states once it has done ``reads``")
    condition: Condition | None = Field(
        None,
        description="a conditional request: the figure the agent says, and which side of the user's limit it is, first",
    )
    declined: PlanStep | None = Field(
        None,
        description="a change of mind: the write the user asks for here and "
        "takes back when the agent asks to confirm it (never made); "
        "``reads`` are what describes it, the next request's first "
        "reads",
    )
    instead: bool = Field(
        False,
        description="what the user asks for after taking the previous request back: "
        "told only then, with the request sentence (``text``) stripped of "
        "the moment it is said in",
    )

    @property
    def read_only(self) -> bool:
        """Met by reads alone: refused, transferred, answered, or a condition that does not hold."""
        return bool(self.refusal or self.answer or (self.condition and not self.condition.holds))


class TaskOutline(BaseModel):
    """A task record taken apart for conversation (see module docstring): the consumers' view of its intent."""

    task_id: str
    # In memory only (cached per task, never stored): the domain object itself, so that
    # scripts, their checker and the scripted agent need not look the domain up again.
    domain: InstanceOf[Domain]
    user_id: str
    header: str | None
    requests: list[RequestPart]
    writes: list[WriteStep]
    identity_lines: list[str]
    identity_reads: list[int]
    identity: dict[str, str] = Field(description="identification values the user knows, by argument name")
    general_facts: list[str]
    unknown_lines: list[str]
    behaviour_criteria: list[str]
    trailing_reads: list[int]
    unassigned_figures: list[str]
    plan: list[PlanStep]

    def all_facts(self) -> list[str]:
        """Every fact the user knows beyond who they are: each request's, then the general ones."""
        return [f for r in self.requests for f in r.facts] + self.general_facts


def split_requests(reason: str) -> tuple[str | None, list[str]]:
    """``reason_for_call`` as (header, request lines).

    The instruction writer puts one request per line; an older layout had a header line and
    numbered items, which is still read.
    """
    lines = [ln for ln in reason.split("\n") if ln.strip()]
    items = [ln for ln in lines[1:] if re.match(r"^\d+\. ", ln)]
    if len(lines) > 1 and len(items) == len(lines) - 1:
        return lines[0], [re.sub(r"^\d+\. ", "", ln) for ln in items]
    return None, lines or [reason]


def line_tokens(line: str) -> list[str]:
    """The facts a line carries that must survive paraphrase: ids, numbers, dates and names."""
    tokens = [t.rstrip(".,;:") for t in _TOKEN.findall(line)]
    names = [f"{a} {b}" for a, b in _NAME.findall(line) if a not in _NOT_NAMES and b not in _NOT_NAMES]
    return [t for t in tokens if t] + names


def leaves(value: Any) -> list[Any]:
    """The scalar values inside nested dicts and lists (a tool call's arguments), in order."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in leaves(v)]
    return [value]


def contains_token(text: str, token: str) -> bool:
    """Whether ``token`` occurs in ``text`` as a whole word (``2`` is not in ``2024-05-21``)."""
    return re.search(r"(?<![\w.-])" + re.escape(token) + r"(?![\w-]|\.\d)", text) is not None


class MissingIntentError(ValueError):
    """A task stored before tasks carried their intent (schema 4 or older): its tasks must be made again."""


class _OutlineSource(BaseModel):
    """The part of a task record an outline is made from."""

    task_id: str
    domain: str
    user_id: str
    gold_actions: list[PlanStep]
    intent: TaskIntent


_SOURCE_FIELDS = set(_OutlineSource.model_fields)


def outline_task(record: TaskRecord) -> TaskOutline:
    """Take a task record apart (see :class:`TaskOutline`); pure function of the record and the DB."""
    if record.intent is None:
        raise MissingIntentError(
            f"task {record.task_id} was stored before tasks carried their intent; run its tasks partition "
            f"({record.domain}/{record.partition}) again"
        )
    # Keyed on what the outline reads (not the instruction prose): the key is cheap to make on every call.
    return _outline_cached(record.model_dump_json(include=_SOURCE_FIELDS))


def _makes_write(part: IntentPart) -> bool:
    return isinstance(part, WriteRequest) or (isinstance(part, ConditionalWrite) and part.condition.holds)


def _request(index: int, part: IntentPart) -> RequestPart:
    """A part as the consumers read it, before it is tied to the plan's writes and reads."""
    req = RequestPart(
        index=index,
        text=part.wording.sentence,
        line=part.wording.line,
        facts=list(part.wording.facts),
        writes=[],
        by_id=part.by_id,
        instead=isinstance(part, WriteRequest) and bool(part.takes_back),
    )
    if isinstance(part, ConditionalWrite):
        req.condition = part.condition
    if _makes_write(part):
        return req
    if isinstance(part, (RefusalRequest, TransferRequest)):
        req.refusal = part.reason
    if isinstance(part, (RefusalRequest, TransferRequest, InformationQuestion, ChangeOfMind)):
        req.refused_action = part.declined
    elif isinstance(part, ConditionalWrite):  # its condition does not hold: the agent does not do it
        req.refused_action = part.action
    req.transfer = isinstance(part, TransferRequest)
    if isinstance(part, InformationQuestion):
        req.answer = part.answer
    if isinstance(part, ChangeOfMind):
        req.declined = part.write
    return req


def _write_steps(plan: list[PlanStep], outputs: list[str], skip: set[int]) -> tuple[list[WriteStep], list[int]]:
    """The plan's writes with the reads since the previous one, and the reads after the last."""
    writes: list[WriteStep] = []
    prev = -1
    for pos in (i for i, s in enumerate(plan) if s.kind == "write"):
        reads = [i for i in range(prev + 1, pos) if i not in skip]
        step = plan[pos]
        writes.append(
            WriteStep(
                ordinal=len(writes),
                position=pos,
                name=step.name,
                arguments=step.arguments,
                reads=reads,
                request=0,
                output=outputs[pos],
            )
        )
        prev = pos
    return writes, [i for i in range(prev + 1, len(plan)) if i not in skip]


@lru_cache(maxsize=2048)
def _outline_cached(source_json: str) -> TaskOutline:
    record = _OutlineSource.model_validate_json(source_json)
    task_id, intent = record.task_id, record.intent
    domain = get_domain(record.domain)
    plan = list(record.gold_actions)
    run = get_verifier(domain).execute([(s.name, s.arguments) for s in plan], track_changes=False)
    identity_reads = list(range(intent.identity.reads))
    writes, trailing = _write_steps(plan, [s.content for s in run.steps], set(identity_reads))

    requests = [_request(i, part) for i, part in enumerate(intent.parts)]
    made = [i for i, part in enumerate(intent.parts) if _makes_write(part)]
    if len(made) != len(writes):
        raise ValueError(f"task {task_id}: its intent makes {len(made)} writes, its gold plan {len(writes)}")
    for ordinal, i in enumerate(made):
        requests[i].writes = [ordinal]
        writes[ordinal].request = i
    for i, part in enumerate(intent.parts):
        if _makes_write(part):
            continue
        if isinstance(part, ChangeOfMind):
            # The write asked for instead comes next; its first reads describe the write taken back.
            requests[i].reads = writes[requests[i + 1].writes[0]].reads[: part.reads]
        else:
            # A part met by reads alone is asked last: what the agent reads to judge it are the trailing reads.
            requests[i].reads, trailing = trailing, []
    unassigned = _assign_figures(domain, intent, writes)
    return TaskOutline(
        task_id=record.task_id,
        domain=domain,
        user_id=record.user_id,
        header=None,
        requests=requests,
        writes=writes,
        identity_lines=list(intent.identity.lines),
        identity_reads=identity_reads,
        identity=dict(intent.identity.knows),
        general_facts=[],
        unknown_lines=list(intent.unknown),
        behaviour_criteria=list(intent.behaviour),
        trailing_reads=trailing,
        unassigned_figures=unassigned,
        plan=plan,
    )


def _assign_figures(domain: Domain, intent: TaskIntent, writes: list[WriteStep]) -> list[str]:
    """Tie each write part's figures to its write, signed by the amounts the write moves; returns those
    its write does not move (said at the end)."""
    unassigned: list[str] = []
    parts = [p for p in intent.parts if _makes_write(p)]
    for write, part in zip(writes, parts):
        assert isinstance(part, (WriteRequest, ConditionalWrite))  # _makes_write
        amounts = money_amounts(domain, write.name, write.arguments, write.output)
        for value in part.figures:
            sign = amount_matches(value, amounts)
            if sign is None:
                unassigned.append(value)
            else:
                write.figures.append(Figure(value=value, write=write.ordinal, sign=sign))
    # A condition's figure is said with the branch it decides, not left over for the end.
    conditions = [p.condition for p in intent.parts if isinstance(p, ConditionalWrite)]
    return [v for v in unassigned if not any(amount_matches(v, {c.figure: ""}) is not None for c in conditions)]
