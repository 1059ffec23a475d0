"""A task taken apart for conversation: identification, requests, and what each write needs.

The synthesizer stores a task as a τ²-bench ``Task`` plus its :class:`~writ_dagster.core.tasks.intent.TaskIntent`
(what each request asks, as data). User scripts and the scripted agent need the task's parts tied to
the gold plan: which gold reads identify the user, which request each write answers, which facts belong
to which request, and which ``communicate_info`` figure each write decides. The script checker also needs
the particulars of each line (what a paraphrase must keep): they are the task's own values (the ids,
amounts, dates, numbers and names its intent and gold plan hold) that the line states. This module ties
the intent to the plan; it never reads meaning out of the instruction text, so rewording an instruction leaves
the outline as it is.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field, InstanceOf

from writ_dagster.core.domains.entities import amount_matches, money_amounts, payment_method
from writ_dagster.core.domains.pack import pack_of
from writ_dagster.core.domains.registry import Domain, get_domain
from writ_dagster.core.domains.verify import get_verifier
from writ_dagster.core.language import formats
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
    requests: list[RequestPart]
    writes: list[WriteStep]
    identity_lines: list[str]
    identity_reads: list[int]
    identity: dict[str, str] = Field(description="identification values the user knows, by argument name")
    unknown_lines: list[str]
    behaviour_criteria: list[str]
    trailing_reads: list[int]
    unassigned_figures: list[str]
    plan: list[PlanStep]
    values: list[str] = Field(
        description="every value the task's intent and gold plan hold that a line may state: ids, amounts, "
        "dates, numbers and names (see :func:`task_values`)"
    )

    def all_facts(self) -> list[str]:
        """Every fact the user knows beyond who they are: each request's."""
        return [f for r in self.requests for f in r.facts]

    def particulars(self, line: str) -> list[str]:
        """The values of the task that ``line`` states (in any of their written forms): what a paraphrase
        of it must keep. Looked up from the task's data, never parsed out of the line."""
        return list(_particulars(tuple(self.values), line))


def leaves(value: Any) -> list[Any]:
    """The scalar values inside nested dicts and lists (a tool call's arguments), in order."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in leaves(v)]
    return [value]


def contains_token(text: str, token: str) -> bool:
    """Whether ``token`` occurs in ``text`` as a whole word (``2`` is not in ``2024-05-21``)."""
    return token in text and re.search(r"(?<![\w.-])" + re.escape(token) + r"(?![\w-]|\.\d)", text) is not None


def states(text: str, value: str) -> bool:
    """Whether ``text`` states ``value`` as a whole word, in any of the forms it is written in
    (:func:`~writ_dagster.core.language.formats.renderings`: ``$1,284`` for ``1284.0``, ``May 17`` for a date)."""
    return any(contains_token(text, form) for form in formats.renderings(value))


def _particular(value: Any) -> str | None:
    """``value`` as a particular a paraphrase must keep, or None: a value holding a digit (an id, an amount,
    a date, a count) or opening with a capital (a name, a code, a place); other words (a cabin class, a
    yes or no) are judged with the line's content words."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text if text and (text[0].isupper() or any(c.isdigit() for c in text)) else None


def _part_values(part: IntentPart) -> list[Any]:
    """What one intent part holds beyond the gold plan: its targets' ids, a write taken back or left unmade,
    the payment, the figures and the user's limit."""
    out: list[Any] = [t.split(":", 1)[-1] for t in part.targets]
    if isinstance(part, ChangeOfMind):
        out += leaves(part.write.arguments)
    if isinstance(part, (WriteRequest, ConditionalWrite)):
        out += [part.payment, *part.figures]
    if isinstance(part, ConditionalWrite):
        out += [*leaves(part.condition.write.arguments), part.condition.limit]
    if isinstance(part, InformationQuestion):
        out += part.figures
    return out


def task_values(domain: Domain, intent: TaskIntent, plan: list[PlanStep]) -> list[str]:
    """Every value a line of the task may state, from its data: the user's identification and name, the
    arguments of the gold plan's calls, what each intent part holds beyond them (:func:`_part_values`), and
    the base DB's records they name (:func:`_record_values`)."""
    raw: list[Any] = [*intent.identity.knows.values(), intent.identity.name]
    raw += [x for step in plan for x in leaves(step.arguments)]
    raw += [x for part in intent.parts for x in _part_values(part)]
    raw += _record_values(domain, intent, raw)
    # Sorted: a stored task's arguments come back with their keys in another order, its values the same.
    return sorted({v for v in map(_particular, raw) if v})


def _record_values(domain: Domain, intent: TaskIntent, raw: list[Any]) -> list[Any]:
    """The values of the base DB records a task names, which its lines describe in words: each part's target
    records ("orders:#W123": its items, address, flights, passengers), the user's payment methods among
    ``raw`` (a card's last four digits) and what the domain's pack says others stand for (a retail item: its
    product's name and options)."""
    db: Any = domain.base.db  # tau2's DB models are typed as BaseModel
    out: list[Any] = []
    for key in (t for part in intent.parts for t in part.targets):
        table, _, rid = key.partition(":")
        record = (getattr(db, table, None) or {}).get(rid)
        out += leaves(record.model_dump(mode="json")) if record is not None else []
    for value in dict.fromkeys(v for v in raw if isinstance(v, str)):
        method = payment_method(domain, intent.identity.user_id, value)
        out += leaves(method.model_dump(mode="json")) if method is not None else []
        out += pack_of(domain).described_values(domain, value)
    return out


@lru_cache(maxsize=8192)
def _particulars(values: tuple[str, ...], line: str) -> tuple[str, ...]:
    # Cached: the checker asks for the same lines of a task once per script it checks.
    return tuple(v for v in values if states(line, v))


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
        requests=requests,
        writes=writes,
        identity_lines=list(intent.identity.lines),
        identity_reads=identity_reads,
        identity=dict(intent.identity.knows),
        unknown_lines=list(intent.unknown),
        behaviour_criteria=list(intent.behaviour),
        trailing_reads=trailing,
        unassigned_figures=unassigned,
        plan=plan,
        values=task_values(domain, intent, plan),
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
