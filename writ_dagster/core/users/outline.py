"""A task taken apart for conversation: identification, requests, and what each write needs.

The synthesizer stores a task as a τ²-bench ``Task`` (instruction text + gold actions). User
scripts and the scripted agent need its parts: which gold reads identify the user, which
request of ``reason_for_call`` each write answers, which known facts and decision criteria
belong to which request, and which ``communicate_info`` figure each write decides. This
module recovers them from the record alone, so it works for any composer that writes one
numbered request per write (or a single request).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import AbstractSet, Any, Iterable

from pydantic import BaseModel, Field, InstanceOf

from writ_dagster.core.domains.entities import amount_matches, describe_payment, money_amounts
from writ_dagster.core.domains.registry import Domain, get_domain
from writ_dagster.core.domains.verify import get_verifier
from writ_dagster.core.tasks.instructions import strip_connective, taken_back_request
from writ_dagster.core.tasks.models import Condition, PlanStep, TaskRecord
from writ_dagster.core.tasks.variety import sentences

IDENTITY_TOOLS = frozenset({"get_user_details", "find_user_id_by_email", "find_user_id_by_name_zip"})
# Lines of task_instructions that steer how the user behaves rather than what they want.
BEHAVIOUR_PREFIXES = ("Before confirming", "Give the agent only", "You want the agent to tell you", "When the agent")
# Words that mark a request as described by properties the agent must resolve from evidence.
PROPERTY_WORDS = re.compile(
    r"\b(highest|lowest|cheapest|most|fewest|earliest|latest|furthest|largest|smallest|least|"
    r"recently|exactly|contains|overpaid|among)\b",
    re.I,
)
TARGET_KEYS = ("reservation_id", "order_id")
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
# (pattern on a fact/criterion line, write tools it most likely serves)
_HINTS: list[tuple[re.Pattern[str], frozenset[str]]] = [
    (re.compile(r"whole reservation cancelled", re.I), frozenset({"cancel_reservation"})),
    (re.compile(r"insurance", re.I), frozenset({"book_reservation"})),
    (re.compile(r"checked bag", re.I), frozenset({"book_reservation", "update_reservation_baggages"})),
    (re.compile(r"\bfee\b", re.I), frozenset({"update_reservation_baggages"})),
    (
        re.compile(r"difference|for the change", re.I),
        frozenset({"update_reservation_flights", "modify_pending_order_items", "exchange_delivered_order_items"}),
    ),
    (re.compile(r"^You pay with", re.I), frozenset({"book_reservation"})),
    (re.compile(r"passenger", re.I), frozenset({"update_reservation_passengers", "book_reservation"})),
    (re.compile(r"other flight", re.I), frozenset({"update_reservation_flights"})),
    (re.compile(r"certificate as compensation", re.I), frozenset({"send_certificate"})),
    (
        re.compile(r"\b(item|option)s?\b", re.I),
        frozenset({"modify_pending_order_items", "exchange_delivered_order_items", "return_delivered_order_items"}),
    ),
    (re.compile(r"address", re.I), frozenset({"modify_pending_order_address", "modify_user_address"})),
]


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
    """A task record taken apart for conversation (see module docstring)."""

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


def request_parts(line: str) -> tuple[str, list[str]]:
    """A request line as (request sentence without its connective, the facts said beside it)."""
    parts = sentences(line)
    if not parts:
        return line, []
    return strip_connective(parts[0]), parts[1:]


def _lines(text: str | None) -> list[str]:
    return [ln for ln in (text or "").split("\n") if ln.strip()]


def is_identity_line(line: str, identity_values: Iterable[str]) -> bool:
    """Whether a known_info line is about who the user is (name, user id, email, zip)."""
    if any(v and v in line for v in identity_values):
        return True
    return bool(
        re.match(r"^(Your name is|Your user id|Your email|You are [A-Z][a-z]+ [A-Z][a-z'-]+\.$)", line)
        or "email address" in line
    )


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


def _payment_words(domain: Domain, user_id: str, value: Any) -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        for v in value.values():
            out += _payment_words(domain, user_id, v)
    elif isinstance(value, list):
        for v in value:
            out += _payment_words(domain, user_id, v)
    elif isinstance(value, str) and re.match(r"^(credit_card|gift_card|certificate|paypal)_\d+$", value):
        out.append(describe_payment(domain, user_id, value))
    return out


def _attach(line: str, writes: list[WriteStep], signatures: list[str]) -> int | None:
    """The write ordinal a fact or criterion line most likely serves, or None."""
    tokens = line_tokens(line)
    present = {w.name for w in writes}
    tools: frozenset[str] = frozenset()
    for pattern, names in _HINTS:
        if pattern.search(line) and names & present:
            tools = names
            break
    by_tokens = [w.ordinal for w in writes if tokens and all(contains_token(signatures[w.ordinal], t) for t in tokens)]
    by_tool = [w.ordinal for w in writes if w.name in tools]
    both = [o for o in by_tokens if o in by_tool]
    for choice in (both, by_tokens, by_tool):
        if choice:
            return choice[0]
    return None


def outline_task(record: TaskRecord) -> TaskOutline:
    """Take a task record apart (see :class:`TaskOutline`); pure function of the record and the DB."""
    return _outline_cached(record.task_id, record.content_hash, record.model_dump_json())


@lru_cache(maxsize=2048)
def _outline_cached(task_id: str, content_hash: str, record_json: str) -> TaskOutline:  # noqa: C901 - still to split (issue 18, item 4)
    record = TaskRecord.model_validate_json(record_json)
    domain = get_domain(record.domain)
    scenario = record.task["user_scenario"]
    instr = scenario["instructions"]
    if isinstance(instr, str):
        instr = {"reason_for_call": instr, "known_info": None, "unknown_info": None, "task_instructions": ""}
    plan = list(record.gold_actions)
    run = get_verifier(domain).execute([(s.name, s.arguments) for s in plan], track_changes=False)
    outputs = [s.content for s in run.steps]

    identity_reads: list[int] = []
    for i, step in enumerate(plan):
        if step.kind == "read" and step.name in IDENTITY_TOOLS:
            identity_reads.append(i)
            if step.name == "get_user_details":
                break
        else:
            break
    known_text = instr.get("known_info") or ""
    identity: dict[str, str] = {}
    for i in identity_reads:
        for key, value in plan[i].arguments.items():
            if isinstance(value, str) and value in known_text:
                identity[key] = value

    write_positions = [i for i, s in enumerate(plan) if s.kind == "write"]
    writes: list[WriteStep] = []
    prev = -1
    for ordinal, pos in enumerate(write_positions):
        reads = [i for i in range(prev + 1, pos) if i not in identity_reads]
        writes.append(
            WriteStep(
                ordinal=ordinal,
                position=pos,
                name=plan[pos].name,
                arguments=plan[pos].arguments,
                reads=reads,
                request=0,
                output=outputs[pos],
            )
        )
        prev = pos
    trailing = [i for i in range(prev + 1, len(plan)) if i not in identity_reads]

    header, items = split_requests(instr["reason_for_call"])
    # Parts met by reads alone; a conditional request whose write is made is a write request like any other.
    refused = {p.request: p for p in record.refusals if not (p.condition and p.condition.holds)}
    if refused and len(items) == len(writes) + len(refused):
        # Writes answer the requests that are not refused, in order (refused ones come last).
        owners = [i for i in range(len(items)) if i not in refused][: len(writes)]
    elif len(items) == len(writes) and writes:
        owners = list(range(len(writes)))
    else:
        header, items = None, [instr["reason_for_call"]]
        owners = [0] * len(writes)
    requests = []
    for i, line in enumerate(items):
        text, facts = request_parts(line) if header is None else (line, [])
        requests.append(
            RequestPart(index=i, text=text, line=line, facts=facts, writes=[w for w, o in enumerate(owners) if o == i])
        )
    for w in writes:
        w.request = owners[w.ordinal]
    for i, part in refused.items():
        if i < len(requests):
            # A refused request is asked last; what the agent reads to judge it are the trailing reads.
            requests[i].refusal, requests[i].refused_action = part.reason, part.action
            requests[i].transfer, requests[i].answer = part.transfer, part.answer
            if part.declined is not None and i + 1 < len(requests) and requests[i + 1].writes:
                # A change of mind sits right before the last write, whose first reads describe the write taken back.
                instead = requests[i + 1]
                requests[i].declined = part.declined
                requests[i].reads = writes[instead.writes[0]].reads[: part.declined_reads]
                instead.instead, instead.text = True, taken_back_request(instead.text)
                continue
            requests[i].reads, trailing = trailing, []
    for part in record.refusals:
        if part.condition is not None and part.request < len(requests):
            requests[part.request].condition = part.condition

    signatures = []
    for w in writes:
        words = _payment_words(domain, record.user_id, w.arguments)
        signatures.append(" ".join([json.dumps(w.arguments), *words, requests[w.request].text]))

    identity_lines: list[str] = []
    general: list[str] = []
    for line in _lines(known_text):
        if is_identity_line(line, list(identity.values()) + [record.user_id]):
            identity_lines.append(line)
            continue
        target = _attach(line, writes, signatures)
        if target is None:
            general.append(line)
        else:
            requests[writes[target].request].facts.append(line)
    behaviour: list[str] = []
    for line in _lines(instr.get("task_instructions")):
        # Facts and questions sit beside their request in reason_for_call; what is left here is
        # behaviour, except in the older layout, whose decision criteria were listed here.
        if header is None or line.startswith(BEHAVIOUR_PREFIXES):
            behaviour.append(line)
            continue
        target = _attach(line, writes, signatures)
        requests[writes[target].request if target is not None else 0].criteria.append(line)

    for req in requests:
        req.by_id = _described_by_id(req, writes)

    asking = {w.ordinal for w in writes if "how much" in requests[w.request].line}
    unassigned = _assign_figures(domain, record, writes, asking)
    # A question's answer is said when it is answered, not left over for the end.
    answers = [r.answer.replace(",", "") for r in requests if r.answer]
    unassigned = [v for v in unassigned if not any(v in a for a in answers)]
    # So is a condition's figure: the agent states it with the branch it decides.
    figures = {c.figure for c in (r.condition for r in requests) if c is not None}
    unassigned = [v for v in unassigned if not any(amount_matches(v, {f: ""}) is not None for f in figures)]
    return TaskOutline(
        task_id=record.task_id,
        domain=domain,
        user_id=record.user_id,
        header=header,
        requests=requests,
        writes=writes,
        identity_lines=identity_lines,
        identity_reads=identity_reads,
        identity=identity,
        general_facts=general,
        unknown_lines=_lines(instr.get("unknown_info")),
        behaviour_criteria=behaviour,
        trailing_reads=trailing,
        unassigned_figures=unassigned,
        plan=plan,
    )


def _described_by_id(req: RequestPart, writes: list[WriteStep]) -> bool:
    if PROPERTY_WORDS.search(req.text):
        return False
    for o in req.writes:
        args = writes[o].arguments
        for key in TARGET_KEYS:
            if key in args and str(args[key]) not in req.text:
                return False
        for flight in args.get("flights", []) or []:
            if isinstance(flight, dict) and flight.get("flight_number") and flight["flight_number"] not in req.text:
                if writes[o].name == "book_reservation":
                    return False
    return True


def _assign_figures(
    domain: Domain, record: TaskRecord, writes: list[WriteStep], asking: AbstractSet[int] = frozenset()
) -> list[str]:
    """Tie each communicate_info figure to the first write (from the last one used) deciding it."""
    crit = record.task.get("evaluation_criteria") or {}
    figures = crit.get("communicate_info") or []
    amounts = [money_amounts(domain, w.name, w.arguments, w.output) for w in writes]
    unassigned: list[str] = []
    cursor = 0
    for value in figures:
        order = list(range(cursor, len(writes))) + list(range(0, cursor))
        # Two writes can share an amount (a $54 refund, a $54 fare): the one whose request asks wins.
        order.sort(key=lambda o: o not in asking)
        for o in order:
            sign = amount_matches(value, amounts[o])
            if sign is not None:
                writes[o].figures.append(Figure(value=value, write=o, sign=sign))
                cursor = o
                break
        else:
            unassigned.append(value)
    return unassigned
