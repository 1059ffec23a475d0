"""When may a user tell their requests in another order? Only when it cannot matter.

Telling requests in another order invites the agent to act in that order. That is safe
only if every request names its target by id (no "the reservation with the highest fare",
which an earlier write could change), each write reads its own target in its own block of
evidence (a write with no reads of its own, such as the certificate for a delayed flight that
the policy allows only after the change, keeps its place), and running the blocks in the new order ends in the same DB state with the same
amounts to communicate. All three are checked here, the last by executing the plan.
"""

from __future__ import annotations

from writ_dagster.core.domains.entities import amount_matches, money_amounts
from writ_dagster.core.domains.pack import pack_of
from writ_dagster.core.domains.verify import get_verifier
from writ_dagster.core.users.outline import TaskOutline


def reordered_plan(outline: TaskOutline, order: list[int]) -> list[int]:
    """Gold positions in the order an agent handling requests in ``order`` would run them."""
    positions = list(outline.identity_reads)
    for r in order:
        for o in outline.requests[r].writes:
            w = outline.writes[o]
            positions += w.reads + [w.position]
    return positions + outline.trailing_reads


def reorder_allowed(outline: TaskOutline, order: list[int]) -> bool:
    """Whether handling the requests in ``order`` (canonical indices) keeps the task's outcome."""
    n = len(outline.requests)
    if sorted(order) != list(range(n)):
        return False
    if order == list(range(n)):
        return True
    # cheapest first: the plan is executed only when the requests' shape allows a new order at all
    return _movable(outline, order) and _targets_in_own_reads(outline) and _same_outcome(outline, order)


def _movable(outline: TaskOutline, order: list[int]) -> bool:
    """Whether no request is tied to its place: by a transfer, a condition, a change of mind or a missing id."""
    n = len(outline.requests)
    if any(r.transfer for r in outline.requests[:-1]) or (outline.requests[-1].transfer and order[-1] != n - 1):
        return False  # a transfer ends the conversation: it stays the last request
    if any(r.condition for r in outline.requests):
        return False  # a conditional request is told last, after the writes whose results it may weigh
    if any(r.declined for r in outline.requests):
        return False  # a change of mind is told where it happens: the request taken back, then what replaces it
    if not all(r.by_id for r in outline.requests):
        return False
    if any(not w.reads for w in outline.writes[1:]):
        return False  # a write with no evidence of its own rests on an earlier request's (a delay's certificate)
    return True


def _targets_in_own_reads(outline: TaskOutline) -> bool:
    """Whether every write's target id appears in the arguments of the reads of its own block."""
    plan = outline.plan
    for w in outline.writes:
        for key in pack_of(outline.domain).target_keys:
            target = w.arguments.get(key)
            if target is not None and not any(target in plan[i].arguments.values() for i in w.reads):
                return False
    return True


def _same_outcome(outline: TaskOutline, order: list[int]) -> bool:
    """Whether the plan run in ``order`` succeeds at every write, with the same amounts and the same DB changes."""
    plan = outline.plan
    verifier = get_verifier(outline.domain)
    gold = verifier.execute([(s.name, s.arguments) for s in plan])
    positions = reordered_plan(outline, order)
    run = verifier.execute([(plan[i].name, plan[i].arguments) for i in positions])
    by_position = dict(zip(positions, run.steps))
    for w in outline.writes:
        step = by_position[w.position]
        if step.error:
            return False
        amounts = money_amounts(outline.domain, w.name, w.arguments, step.content)
        if any(amount_matches(f.value, amounts) != f.sign for f in w.figures):
            return False
    return run.changes == gold.changes
