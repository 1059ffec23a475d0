"""Conditional requests: a write the user wants only if a figure the agent must look up is on the right
side of a limit they name ("cancel it only if the refund is at least $200; otherwise keep it").

Any write blueprint whose :class:`~.blueprints.Decision` carries an :class:`~.blueprints.Amount` (the fee,
refund or price difference it already computes) can be made conditional here, with no code of its own:
the branch is drawn first, then a round limit that puts the real figure clearly on that side of it, so
the DB, not a rounding edge, decides. The figure goes into ``communicate_info``: the condition is what
makes the user ask for it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from writ_dagster.core.language import formats
from writ_dagster.core.language.pools import shared
from writ_dagster.core.tasks.blueprints import Amount, Decision, figure_text
from writ_dagster.core.tasks.models import Condition, PlanStep

# The pools are data: the "conditions" section of core/language/phrases.yaml.
_S = shared()

# The limit is this far from the figure at least, and at most (as a share of the figure).
MIN_GAP, MAX_GAP = 0.15, 0.6
MIN_FIGURE = 10.0  # a limit on a few dollars is not a condition anyone sets
# Steps a person rounds a limit to, coarsest first ("$500", "$250", "$50", "$25", "$10").
_STEPS = (1000, 500, 250, 100, 50, 25, 10, 5)

# {what}: the figure ("the fee for the extra bags"); {t}: the limit ("$70"); {keep}: what the user does instead.
_IF_COST: tuple[str, ...] = _S["conditions"]["if_cost"]
_ELSE_COST: tuple[str, ...] = _S["conditions"]["else_cost"]
_IF_REFUND: tuple[str, ...] = _S["conditions"]["if_refund"]
_ELSE_REFUND: tuple[str, ...] = _S["conditions"]["else_refund"]


@dataclass
class Conditional:
    """A write decision made conditional: the request as the user says it, the branch, the figure."""

    decision: Decision
    condition: Condition


def limit_for(value: float, above: bool, rng: random.Random) -> float | None:
    """A round limit clearly above (``above``) or below ``value``, or None when no round number fits.

    The limit lies MIN_GAP..MAX_GAP of the figure away and is a multiple of the coarsest step that has one
    there, so a person could say it ("$300", not "$287")."""
    lo, hi = (value * (1 + MIN_GAP), value * (1 + MAX_GAP)) if above else (value * (1 - MAX_GAP), value * (1 - MIN_GAP))
    for step in _STEPS:
        options = [k * step for k in range(math.ceil(lo / step), math.floor(hi / step) + 1) if k > 0]
        if options:
            return float(rng.choice(options))
    return None


def holds(kind: str, figure: float, limit: float) -> bool:
    """Whether the user's condition holds: a cost under the ceiling, a refund at or over the floor."""
    return figure < limit if kind == "cost" else figure >= limit


def make_conditional(
    decision: Decision, rng: random.Random, words: random.Random, branch: bool | None = None
) -> Conditional | None:
    """``decision`` as a conditional request, its branch drawn by ``rng`` unless ``branch`` says whether the
    condition holds; None if it moves no money a user would set a limit on."""
    amount: Amount | None = decision.amount
    if amount is None or amount.value < MIN_FIGURE or decision.follow_up is not None:
        return None
    drawn = rng.random() < 0.5  # drawn either way, so a set branch leaves the rest of the attempt as it was
    take = drawn if branch is None else branch
    # A cost is taken under a ceiling above it; a refund over a floor below it.
    limit = limit_for(amount.value, above=take == (amount.kind == "cost"), rng=rng)
    if limit is None:
        return None
    assert holds(amount.kind, amount.value, limit) == take
    ifs, elses = (_IF_COST, _ELSE_COST) if amount.kind == "cost" else (_IF_REFUND, _ELSE_REFUND)
    t = formats.money(limit)
    clause = words.choice(ifs).format(what=amount.what, t=t) + words.choice(elses).format(keep=amount.keep)
    # The condition is the user's question: a separate "how much" ask would say it twice.
    say = replace(decision.say, ask="", condition=clause)
    name, args = decision.write
    condition = Condition(
        what=amount.what,
        kind=amount.kind,
        figure=round(amount.value, 2),
        limit=limit,
        holds=take,
        write=PlanStep(name=name, arguments=args, kind="write"),
    )
    return Conditional(replace(decision, say=say, communicate=[figure_text(amount.value)]), condition)
