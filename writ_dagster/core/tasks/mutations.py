"""Deliberately broken variants of gold plans: wrong ids, failing or altered writes, lost writes.

Used to show that the fast verifier and tau2's own evaluator agree on failures, not only
on successes (``bench/verify_speed.py`` and the tests).
"""

from __future__ import annotations

import copy
import random
from typing import Any

from writ_dagster.core.tasks.models import PlanStep

MUTATIONS = ("wrong_id", "bad_payment", "altered_argument", "dropped_write")


def _first_id_key(args: dict[str, Any]) -> str | None:
    for key in ("reservation_id", "order_id", "user_id"):
        if isinstance(args.get(key), str):
            return key
    return None


def mutate(plan: list[PlanStep], kind: str, rng: random.Random) -> list[PlanStep] | None:
    """One broken copy of ``plan`` (None when ``kind`` does not apply to it)."""
    writes = [i for i, s in enumerate(plan) if s.kind == "write"]
    if not writes:
        return None
    i = rng.choice(writes)
    step = plan[i]
    args = copy.deepcopy(step.arguments)
    if kind == "dropped_write":
        return plan[:i] + plan[i + 1 :]
    if kind == "wrong_id":
        key = _first_id_key(args)
        if key is None:
            return None
        args[key] = args[key][:-1] + ("X" if args[key][-1] != "X" else "Y")
    elif kind == "bad_payment":
        if "payment_id" in args:
            args["payment_id"] = "credit_card_0000000"
        elif "payment_method_id" in args:
            args["payment_method_id"] = "credit_card_0000000"
        elif "payment_methods" in args:
            args["payment_methods"][0]["amount"] += 1
        else:
            return None
    elif kind == "altered_argument":
        ints = [k for k, v in args.items() if isinstance(v, int) and not isinstance(v, bool)]
        lists = [k for k, v in args.items() if isinstance(v, list) and len(v) > 1]
        if ints:
            args[ints[0]] += 1
        elif lists:
            args[lists[0]] = args[lists[0]][:-1]
        else:
            return None
    else:
        raise ValueError(f"unknown mutation {kind!r}; known: {', '.join(MUTATIONS)}")
    return plan[:i] + [PlanStep(name=step.name, arguments=args, kind=step.kind)] + plan[i + 1 :]
