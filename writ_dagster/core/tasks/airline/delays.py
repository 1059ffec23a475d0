"""A delayed flight: the user changes or cancels the reservation, then asks to be compensated.

The policy: "If the user complains about delayed flights in a reservation and wants to change or
cancel the reservation, the agent can offer a certificate as a gesture after confirming the facts
and changing or cancelling the reservation, with the amount being $50 times the number of
passengers", only for a silver/gold member, an insured trip or a business one, and never unasked.
So the gold plan reads the delayed flight's status (the facts) with the reservation, makes the
change or cancellation (legal by its own rules), and then, as the user's next request, sends the
certificate. tau2's DB holds few such reservations (flights delayed today), so the composer picks
their users more often and this blueprint goes first for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from writ_dagster.core.tasks.airline import phrases as ph
from writ_dagster.core.tasks.airline import policy
from writ_dagster.core.tasks.airline.common import Base, money
from writ_dagster.core.tasks.airline.locate import Located, locate_reservation, user_reservations
from writ_dagster.core.tasks.airline.moves import movable_shape, move_leg
from writ_dagster.core.tasks.blueprints import Call, ComposeContext, Decision, Skip
from writ_dagster.core.tasks.instructions import Request

TODAY = policy.NOW[:10]
# What the user gives as the reason to cancel: "other reasons" to the policy, covered by no insurance,
# so only the 24-hour, airline-cancelled and business rules can make the cancellation legal.
DELAY_REASON = "my flight is delayed"


def delayed_legs(db: Any, r: Any) -> list[int]:
    """Indices of the reservation's flights that are delayed."""
    return [i for i, f in enumerate(r.flights) if policy.segment_status(db, f.flight_number, f.date) == "delayed"]


def _movable_leg(db: Any, r: Any) -> int | None:
    """The delayed leg ``move_leg`` can move to another day (a trip not yet begun), else None."""
    if not (policy.can_change_flights(db, r) and movable_shape(r)) or any(f.date < TODAY for f in r.flights):
        return None
    legs = delayed_legs(db, r)
    return legs[0] if legs else None


def ways(db: Any, user: Any, r: Any) -> list[str]:
    """How the user may act on a delayed reservation and still be compensated: "change", "cancel"."""
    if not policy.delay_compensation_allowed(db, user, r) or policy.is_flown(db, r):
        return []
    if not any(r.flights[i].date == TODAY for i in delayed_legs(db, r)):
        return []  # the user speaks of "your flight today"
    out = ["change"] if _movable_leg(db, r) is not None else []
    return out + (["cancel"] if policy.cancellation_reason(db, r, DELAY_REASON) else [])


def has_delay_case(db: Any, user_id: str) -> bool:
    """Whether the user holds a reservation this blueprint can work on."""
    user = db.users[user_id]
    return any(ways(db, user, db.reservations[x]) for x in user.reservations if x in db.reservations)


@dataclass
class DelayedFlightCompensation(Base):
    """Change or cancel a reservation with a delayed flight, then a $50-per-passenger certificate."""

    name: str = "delay_compensation"
    tool: str = "send_certificate"
    # Users of the base DB with such a reservation (see has_delay_case), so that every other user is
    # turned away without reading their flights: ``first`` is asked before every write.
    users: frozenset[str] = field(default_factory=frozenset)

    def _open(self, ctx: ComposeContext) -> list[Any]:
        user = ctx.db.users[ctx.user_id]
        return [
            r for r in user_reservations(ctx) if ctx.fresh(f"reservations:{r.reservation_id}") and ways(ctx.db, user, r)
        ]

    def first(self, ctx: ComposeContext) -> bool:
        """Go first when the task has room for both writes and the user has such a reservation."""
        return (
            ctx.user_id in self.users
            and ctx.writes_left >= 2
            and not ctx.state.get("certificates")
            and bool(self._open(ctx))
        )

    def propose(self, ctx: ComposeContext) -> Decision:
        db = ctx.db
        user = db.users[ctx.user_id]
        if ctx.user_id not in self.users:
            raise Skip("no flight of this user's is delayed today")
        if ctx.state.get("certificates", 0) >= 1:
            raise Skip("one compensation per task")
        if ctx.writes_left < 2:
            raise Skip("no room for the certificate after the change")
        loc = locate_reservation(ctx, self.cities, lambda r: bool(ways(db, user, r)), lambda r: _facts(db, r))
        r = loc.reservation
        way = ctx.rng.choice(ways(db, user, r))
        late = next(r.flights[i] for i in delayed_legs(db, r) if r.flights[i].date == TODAY)
        route = ph.SAY["delay_route"].format(origin=self.cities[late.origin], destination=self.cities[late.destination])
        if way == "change":
            leg_i = _movable_leg(db, r)
            assert leg_i is not None
            first = move_leg(
                ctx,
                self.cities,
                loc,
                leg_i,
                tuple(m.format(route=route) for m in ph.DELAY_CHANGE_MOTIVES),
                keep_motive=True,
            )
        else:
            first = _cancel(ctx, loc, route)
        first.follow_up = _certificate(ctx, r)
        return first


def _facts(db: Any, r: Any) -> list[Call]:
    """What "after confirming the facts" reads: the delayed flights' status, before anything is done."""
    return [
        ("get_flight_status", {"flight_number": r.flights[i].flight_number, "date": r.flights[i].date})
        for i in delayed_legs(db, r)
    ]


def _cancel(ctx: ComposeContext, loc: Located, route: str) -> Decision:
    """Cancelling the located reservation because of the delay on ``route``."""
    ctx.require_evidence(loc.reads)
    w = ctx.words
    rid = loc.reservation.reservation_id
    return Decision(
        write=("cancel_reservation", {"reservation_id": rid}),
        reads=loc.reads,
        candidates=loc.candidates,
        say=Request(
            f"cancel {loc.phrase}",
            w.choice(ph.DELAY_CANCEL_MOTIVES).format(route=route),
            [w.choice(ph.WHOLE_TRIP)],
            keep_motive=True,
        ),
        unknown=loc.unknown,
        entities=[f"reservations:{rid}"],
        targets=[f"reservations:{rid}"],
        comparisons=loc.comparisons,
    )


def _certificate(ctx: ComposeContext, r: Any) -> Decision:
    """The compensation the user asks for next: the policy's certificate for reservation ``r``."""
    w = ctx.words
    amount = policy.delayed_flight_certificate(r)
    ctx.state["certificates"] = ctx.state.get("certificates", 0) + 1
    ask = w.random() < 0.6
    return Decision(
        write=("send_certificate", {"user_id": ctx.user_id, "amount": amount}),
        reads=[],
        candidates=1,
        say=Request(
            w.choice(ph.DELAY_COMPENSATION_ACTIONS),
            w.choice(ph.DELAY_COMPENSATION_MOTIVES),
            [w.choice(ph.ACCEPT_CERTIFICATE)],
            ph.SAY["ask"]["certificate"] if ask else "",
        ),
        communicate=[money(amount)] if ask else [],
        entities=[f"reservations:{r.reservation_id}"],
        targets=[f"certificate:{r.reservation_id}"],
    )
