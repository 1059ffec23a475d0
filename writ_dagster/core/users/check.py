"""The script checker: every needed fact kept, nothing the agent must find by evidence leaked.

A script may change how and when a user says things, never what they know. The checker
looks at both products of a script: the instruction an LLM user would follow and the
lines the scripted user says. It reports problems as sentences; an empty list means valid.

Kept: every canonical request, known_info line, unknown_info line and task_instructions
line is in the instruction, and every request and known fact is said; the lines are the ones
the task's intent was written as, never split back out of its text. "In" and "said" are
judged on meaning, not on words (:mod:`writ_dagster.core.users.meaning`: every id, amount,
number, date and name of the task the line states kept, every condition word kept, most content
words kept), so scripts and LLM rewrites may say them in their own words. Contradictory behaviour choices
(:data:`writ_dagster.core.users.models.CONFLICTS`) are a problem too.
Not leaked: ids in the gold actions' arguments that the canonical instruction does not
contain (reservation, order, item and payment ids the agent must look up) and
``communicate_info`` amounts the canonical instruction does not state.
"""

from __future__ import annotations

import json
import re
from typing import Any

from writ_dagster.core.domains.pack import id_label, pack_of
from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.users.meaning import conveyed_in_one
from writ_dagster.core.users.models import ScriptLines, UserScript, conflicts
from writ_dagster.core.users.ordering import reorder_allowed
from writ_dagster.core.users.outline import TaskOutline, contains_token, leaves, outline_task
from writ_dagster.core.users.phrasing import to_first_person

_ID = re.compile(r"^(#W\d+|[A-Z0-9]{6}|\d{6,}|HAT\d{3}|[a-z]+(?:_[a-z]+)*_\d+)$")
_WANTS = re.compile(r"\b(I'd like to|I would like to)\b")


def secrets(record: TaskRecord) -> tuple[set[str], set[str]]:
    """(ids, amounts) the agent must find by evidence: in the gold actions or communicate_info,
    not in the canonical instruction."""
    scenario = record.task["user_scenario"]
    canonical = _instruction_text(scenario) + "\n" + (scenario.get("persona") or "")
    ids: set[str] = set()
    for step in record.gold_actions:
        for value in leaves(step.arguments):
            if isinstance(value, str) and _ID.match(value) and value not in canonical:
                ids.add(value)
    crit = record.task.get("evaluation_criteria") or {}
    amounts = {f for f in crit.get("communicate_info") or [] if not contains_token(canonical, f)}
    return ids, amounts


def _instruction_text(scenario: dict[str, Any]) -> str:
    instr: Any = scenario.get("instructions")  # the text, or tau2's parts as a dict
    if isinstance(instr, str):
        return instr
    return "\n".join(
        str(instr.get(k) or "") for k in ("reason_for_call", "known_info", "unknown_info", "task_instructions")
    )


def _said(line: str, spoken: str, particulars: list[str]) -> bool:
    """Whether a canonical line (whose particulars are ``particulars``) is conveyed by what the user says."""
    if _WANTS.sub("I want to", to_first_person(line)) in spoken:
        return True
    return conveyed_in_one(to_first_person(line), spoken, particulars)


def leaks(record: TaskRecord, text: str) -> list[str]:
    """The secret ids and amounts that occur in ``text``."""
    ids, amounts = secrets(record)
    found = [f"id {i}" for i in sorted(ids) if i in text]
    found += [f"amount {a}" for a in sorted(amounts) if contains_token(text, a)]
    return found


def check_script(record: TaskRecord, script: UserScript) -> list[str]:
    """Problems with ``script`` for ``record``; an empty list means it is valid."""
    outline = outline_task(record)
    instruction = _instruction_text(script.user_scenario)
    problems = _header_problems(record, script)
    problems += [f"contradictory behaviour: {a} with {b}" for a, b in conflicts(script.dimensions)]
    problems += [
        f"instruction lost a {kind}: {line!r}"
        for kind, line in _required_lines(outline)
        if line not in instruction and not conveyed_in_one(line, instruction, outline.particulars(line))
    ]
    problems += [
        f"the scripted user never says a {kind}: {line!r}"
        for kind, line, spoken in _needed_lines(script, outline)
        if not _said(line, spoken, outline.particulars(line))
    ]
    problems += _closing_problems(script)
    persona = script.user_scenario.get("persona") or ""
    for place, text in (("instruction", instruction + "\n" + persona), ("spoken lines", script.lines.spoken_text())):
        for leak in leaks(record, text):
            problems.append(f"{place} leak {leak}, which the agent must find by evidence")
    problems += _order_problems(script, outline)
    problems += _check_slip(record, script, outline)
    return problems


def _header_problems(record: TaskRecord, script: UserScript) -> list[str]:
    """Whether the script belongs to the task and its variant number agrees with what it holds."""
    problems: list[str] = []
    if script.task_id != record.task_id:
        problems.append(f"script is for task {script.task_id}, not {record.task_id}")
    if script.has_user_script != (script.variant != 0):
        problems.append("has_user_script must be False exactly for variant 0")
    if script.variant == 0 and script.user_scenario != record.task["user_scenario"]:
        problems.append("variant 0 must keep the canonical user scenario")
    return problems


def _required_lines(outline: TaskOutline) -> list[tuple[str, str]]:
    """(kind, line) of everything the canonical instruction holds that a script's instruction must keep: the
    lines its intent was written as (each request's line, known_info, unknown_info, task_instructions), then
    each request's facts."""
    required = [("request", r.line) for r in outline.requests]
    required += [("known fact", ln) for ln in outline.identity_lines]
    required += [("unknown fact", ln) for ln in outline.unknown_lines]
    required += [("task instruction", ln) for ln in outline.behaviour_criteria]
    required += [("known fact", f) for r in outline.requests for f in r.facts]
    return required


def _spoken_lines(script: UserScript) -> ScriptLines:
    """The script's lines as finally said: a read-back slip is said wrong once and corrected, so the
    request still counts as said."""
    lines = script.lines
    if script.slip is None or script.slip.kind != "readback":
        return lines
    fix = script.slip
    return lines.model_copy(
        update={
            "requests": [r.replace(fix.wrong, fix.right) for r in lines.requests],
            "facts": [f.replace(fix.wrong, fix.right) for f in lines.facts],
        }
    )


def _where(*parts: str) -> str:
    return _WANTS.sub("I want to", "\n".join(p for p in parts if p))


def _needed_lines(script: UserScript, outline: TaskOutline) -> list[tuple[str, str, str]]:
    """(kind, line, what the user says where it belongs) for everything the scripted user must say.

    Each line is looked for where the scripted user says it: a request's facts with that
    request, so the same words said for another request do not count.
    """
    lines = _spoken_lines(script)
    told = [
        _where(lines.requests[k] if k < len(lines.requests) else "", lines.facts[k] if k < len(lines.facts) else "")
        for k in range(len(outline.requests))
    ]
    needed = [("request", r.text, told[r.index]) for r in outline.requests]
    needed += [("known fact", x, _where(lines.identity)) for x in outline.identity_lines]
    needed += [("known fact", x, told[r.index]) for r in outline.requests for x in r.facts]
    return needed


def _closing_problems(script: UserScript) -> list[str]:
    """The lines the conversation's protocol depends on: the stop token and the explicit yes."""
    problems: list[str] = []
    if "###STOP###" not in script.lines.closing:
        problems.append("the closing line lacks ###STOP###")
    if not all(re.search(r"\byes\b", c, re.I) for c in script.lines.confirm) or not script.lines.confirm:
        problems.append("every confirmation must say 'yes'")
    return problems


def _order_problems(script: UserScript, outline: TaskOutline) -> list[str]:
    """Whether the telling order is a permutation the task's writes allow."""
    n = len(outline.requests)
    if sorted(script.telling_order) != list(range(n)):
        return [f"telling order {script.telling_order} is not a permutation of {n} requests"]
    if script.telling_order != list(range(n)) and not reorder_allowed(outline, script.telling_order):
        return ["requests are reordered although their writes are not independent"]
    return []


def _check_slip(record: TaskRecord, script: UserScript, outline: TaskOutline) -> list[str]:
    slip = script.slip
    if slip is None:
        return [] if script.dimensions.slip == "none" else [f"dimension slip={script.dimensions.slip} without a slip"]
    out = []
    if slip.wrong == slip.right:
        out.append("a slip must change the value")
    if slip.kind == "identity":
        if script.lines.identity_slipped is None or slip.wrong not in script.lines.identity_slipped:
            out.append("identity slip is never said")
        if not script.lines.identity_correction or slip.right not in script.lines.identity_correction:
            out.append("identity slip is never corrected")
        slipped = {**outline.identity, slip.field: slip.wrong}
        if pack_of(outline.domain).identification.finds(outline.domain.base.db, slipped):
            out.append(f"slipped {id_label(outline.domain, slip.field)} {slip.wrong} finds a user")
    else:
        writes = [s for s in record.gold_actions if s.kind == "write"]
        if not any(slip.right in json.dumps(s.arguments) for s in writes):
            out.append("a read-back slip must be on a value the agent writes")
        if not script.lines.readback_correction or slip.right not in script.lines.readback_correction:
            out.append("read-back slip is never corrected")
    return out
