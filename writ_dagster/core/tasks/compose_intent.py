"""A composed task's :class:`~.intent.TaskIntent`, from the decisions and refusals synthesis drew.

Each told request becomes one part; which kind follows from what was composed (a refusal that
carries a condition, a declined write, an answer, a transfer), never from the instruction text.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from writ_dagster.core.tasks.blueprints import Call, Decision, Identity, Refusal
from writ_dagster.core.tasks.instructions import Instruction
from writ_dagster.core.tasks.intent import (
    ChangeOfMind,
    ConditionalWrite,
    InformationQuestion,
    IntentPart,
    RefusalRequest,
    TaskIntent,
    TransferRequest,
    UserIdentity,
    Wording,
    WriteRequest,
)
from writ_dagster.core.tasks.plan import Condition, PlanStep

Told = Decision | Refusal


def payment_of(arguments: dict[str, Any], methods: Collection[str]) -> str | None:
    """The first value in a write's arguments that is one of the user's payment method ids."""
    for value in arguments.values():
        if isinstance(value, str) and value in methods:
            return value
        if isinstance(value, dict):
            found = payment_of(value, methods)
        elif isinstance(value, list):
            found = next((p for v in value if isinstance(v, dict) and (p := payment_of(v, methods))), None)
        else:
            found = None
        if found:
            return found
    return None


def _step(call: Call) -> PlanStep:
    return PlanStep(name=call[0], arguments=call[1], kind="write")


def _common(x: Told, wording: Wording) -> dict[str, Any]:
    return {
        "action": x.say.action,
        "motive": x.say.motive,
        "targets": list(x.targets),
        "comparisons": list(x.comparisons),
        "wording": wording,
    }


def _write_part(x: Decision, wording: Wording, condition: Condition | None, methods: Collection[str]) -> IntentPart:
    fields = {
        **_common(x, wording),
        "asks": x.say.ask,
        "figures": list(x.communicate),
        "payment": payment_of(x.write[1], methods),
    }
    if condition is not None:
        return ConditionalWrite(**fields, condition=condition)
    return WriteRequest(**fields, write=_step(x.write), takes_back=x.say.takes_back)


def _read_only_part(r: Refusal, wording: Wording, declined_reads: int, methods: Collection[str]) -> IntentPart:
    fields = _common(r, wording)
    if r.condition is not None:  # a conditional write the DB does not let be made
        return ConditionalWrite(
            **fields,
            asks=r.say.ask,
            figures=list(r.communicate),
            payment=payment_of(r.condition.write.arguments, methods),
            condition=r.condition,
        )
    if r.declined is not None:
        return ChangeOfMind(**fields, declined=r.action, write=_step(r.declined), reads=declined_reads)
    if r.transfer:
        return TransferRequest(**fields, declined=r.action, reason=r.reason)
    if r.answer:
        return InformationQuestion(**fields, declined=r.action, answer=r.answer, figures=list(r.communicate))
    return RefusalRequest(**fields, declined=r.action, reason=r.reason)


def intent_of(
    told: Sequence[Told],
    instruction: Instruction,
    identity: Identity,
    user_id: str,
    *,
    condition: Condition | None,
    declined_reads: int,
    payment_methods: Collection[str],
) -> TaskIntent:
    """The intent of a task whose requests ``told`` (in telling order) ``instruction`` lays out.

    ``condition`` is the conditional request's when its write is made (the last decision's);
    ``declined_reads`` how many reads describe a write taken back; ``payment_methods`` the user's
    payment method ids (what a write's payment argument is recognised by).
    """
    if len(told) != len(instruction.requests):
        raise ValueError(f"{len(told)} requests told but {len(instruction.requests)} lines written")
    writes = [x for x in told if isinstance(x, Decision)]
    parts: list[IntentPart] = []
    for x, wording in zip(told, instruction.requests):
        if isinstance(x, Decision):
            made = condition if condition is not None and x is writes[-1] else None
            parts.append(_write_part(x, wording, made, payment_methods))
        else:
            parts.append(_read_only_part(x, wording, declined_reads, payment_methods))
    return TaskIntent(
        parts=parts,
        identity=UserIdentity(
            user_id=user_id,
            name=identity.name,
            knows=dict(identity.knows),
            lines=list(instruction.known),
            reads=len(identity.reads),
        ),
        unknown=list(instruction.unknown),
        behaviour=list(instruction.behaviour),
    )
