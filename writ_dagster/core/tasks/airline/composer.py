"""Airline blueprints and composer: eight kinds of write decision over tau2's airline DB (booking in
:mod:`.booking`, delayed-flight compensation in :mod:`.delays`), refusals, a transfer and a question."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.language import formats
from writ_dagster.core.tasks.airline import phrases as ph
from writ_dagster.core.tasks.airline import policy
from writ_dagster.core.tasks.airline.booking import BookFlight
from writ_dagster.core.tasks.airline.common import TRAVEL_DATES, Base, flights_arg, money, seats_ok
from writ_dagster.core.tasks.airline.delays import DelayedFlightCompensation, has_delay_case
from writ_dagster.core.tasks.airline.locate import (
    CABIN_WORDS,
    choose_payment,
    locate_reservation,
)
from writ_dagster.core.tasks.airline.moves import change_amount, movable_shape, move_leg
from writ_dagster.core.tasks.airline.pack import PACK
from writ_dagster.core.tasks.blueprints import (
    Amount,
    Blueprint,
    Call,
    ComposeContext,
    Decision,
    Identity,
    Refusal,
    Skip,
)
from writ_dagster.core.tasks.instructions import ACCEPT_REFUSAL, ACCEPT_TRANSFER, Request, combine, pick

# What the blueprints say is data: the "composer" section of this folder's phrases.yaml.
_SAY = ph.SAY
_ASK: dict[str, str] = _SAY["ask"]

# The reason the policy judges, for each kind of cancellation motive.
_POLICY_REASONS = {
    "recent": "change of plan",
    "airline_cancelled": "airline cancelled flight",
    "business": "change of plan",
    "health": "health",
}


@dataclass
class CancelReservation(Base):
    """Cancel a reservation the policy lets the user cancel, for a reason that makes it legal."""

    name: str = "cancel_reservation"
    tool: str = "cancel_reservation"

    def _reason(self, db: Any, r: Any) -> str | None:
        """The kind of reason (a key of ``phrases.CANCEL_MOTIVES``) that makes cancelling ``r`` legal."""
        if r.created_at >= "2024-05-14T15:00:00":
            return "recent"
        if policy.has_cancelled_segment(db, r):
            return "airline_cancelled"
        if r.cabin == "business":
            return "business"
        if r.insurance == "yes":
            return "health"
        return None

    def propose(self, ctx: ComposeContext) -> Decision:
        db = ctx.db

        def legal(r: Any) -> bool:
            reason = self._reason(db, r)
            return reason is not None and policy.cancellation_reason(db, r, _POLICY_REASONS[reason])

        loc = locate_reservation(ctx, self.cities, legal)
        r = loc.reservation
        reason = self._reason(db, r)
        assert reason is not None
        refund = sum(p.amount for p in r.payment_history)
        w = ctx.words
        ask = refund > 0 and w.random() < 0.5
        say = _SAY["cancel"]
        return Decision(
            write=("cancel_reservation", {"reservation_id": r.reservation_id}),
            reads=loc.reads,
            candidates=loc.candidates,
            say=Request(
                say["action"].format(r=loc.phrase),
                w.choice(ph.CANCEL_MOTIVES[reason]),
                [w.choice(ph.WHOLE_TRIP)],
                _ASK["refund"] if ask else "",
                # an insured trip may be cancelled only for the reason the user gives: never drop it
                keep_motive=reason == "health",
            ),
            unknown=loc.unknown,
            communicate=[money(refund)] if ask else [],
            entities=[f"reservations:{r.reservation_id}"],
            targets=[f"reservations:{r.reservation_id}"],
            comparisons=loc.comparisons,
            amount=Amount(refund, "refund", say["amount"], say["keep"]) if refund > 0 else None,
        )


@dataclass
class AddBaggage(Base):
    """Add checked bags; the fee follows the membership/cabin allowance."""

    name: str = "add_baggage"
    tool: str = "update_reservation_baggages"

    def propose(self, ctx: ComposeContext) -> Decision:
        db = ctx.db
        user = db.users[ctx.user_id]
        loc = locate_reservation(ctx, self.cities, lambda r: policy.can_add_bags(db, r))
        r = loc.reservation
        added = ctx.rng.randint(1, 3)
        nonfree = policy.nonfree_after_adding(
            user.membership, r.cabin, len(r.passengers), r.total_baggages, r.nonfree_baggages, added
        )
        fee = policy.BAG_FEE * max(0, nonfree - r.nonfree_baggages)
        pay = choose_payment(ctx, lambda m: policy.payment_for_change(m, fee))
        say = _SAY["bags"]
        bags = say["bag"] if added == 1 else say["bags"]
        w = ctx.words
        ask = fee > 0 and w.random() < 0.7
        return Decision(
            write=(
                "update_reservation_baggages",
                {
                    "reservation_id": r.reservation_id,
                    "total_baggages": r.total_baggages + added,
                    "nonfree_baggages": nonfree,
                    "payment_id": pay.method.id,
                },
            ),
            reads=loc.reads,
            candidates=loc.candidates,
            say=Request(
                say["action"].format(n=added, bags=bags, r=loc.phrase),
                w.choice(ph.BAG_MOTIVES),
                [pick(w, ph.FEE_PAYMENT, pay=pay.phrase)],
                _ASK["bag_fee"] if ask else "",
            ),
            unknown=loc.unknown + [w.choice(ph.UNKNOWN_BAGS)],
            communicate=[money(fee)] if ask else [],
            entities=[f"reservations:{r.reservation_id}", f"payment_methods:{pay.method.id}"],
            targets=[f"reservations:{r.reservation_id}"],
            comparisons=loc.comparisons + pay.comparisons,
            amount=Amount(fee, "cost", say["amount"].format(bags=bags), say["keep"].format(bags=bags))
            if fee > 0
            else None,
        )


@dataclass
class ChangeCabin(Base):
    """Move every flight of a reservation to another cabin, paying or refunding the difference."""

    name: str = "change_cabin"
    tool: str = "update_reservation_flights"

    def propose(self, ctx: ComposeContext) -> Decision:
        db = ctx.db
        order = list(CABIN_WORDS)
        ctx.rng.shuffle(order)

        def target_cabin(r: Any) -> str | None:
            for cabin in order:
                if cabin != r.cabin and all(
                    seats_ok(db, f.flight_number, f.date, cabin, len(r.passengers)) for f in r.flights
                ):
                    return cabin
            return None

        def price_reads(r: Any) -> list[Call]:
            return [
                ("search_direct_flight", {"origin": f.origin, "destination": f.destination, "date": f.date})
                for f in r.flights
            ]

        loc = locate_reservation(
            ctx, self.cities, lambda r: policy.can_change_cabin(db, r) and target_cabin(r) is not None, price_reads
        )
        r = loc.reservation
        cabin = target_cabin(r)
        assert cabin is not None
        new_total = sum(db.flights[f.flight_number].dates[f.date].prices[cabin] for f in r.flights)
        diff = (new_total - sum(f.price for f in r.flights)) * len(r.passengers)
        pay = choose_payment(ctx, lambda m: policy.payment_for_change(m, diff))
        w = ctx.words
        direction = pick(w, ph.CHARGE_PAYMENT if diff > 0 else ph.REFUND_PAYMENT, pay=pay.phrase)
        upgrade = list(CABIN_WORDS).index(cabin) > list(CABIN_WORDS).index(r.cabin)
        ask = diff != 0 and w.random() < 0.7
        question = _ASK["change_cost"] if diff > 0 else _ASK["refund"]
        return Decision(
            write=(
                "update_reservation_flights",
                {
                    "reservation_id": r.reservation_id,
                    "cabin": cabin,
                    "flights": flights_arg(r),
                    "payment_id": pay.method.id,
                },
            ),
            reads=loc.reads,
            candidates=loc.candidates,
            say=Request(
                _SAY["cabin"]["action"].format(r=loc.phrase, cabin=CABIN_WORDS[cabin]),
                w.choice(ph.UPGRADE_MOTIVES if upgrade else ph.DOWNGRADE_MOTIVES),
                [direction],
                question if ask else "",
            ),
            unknown=loc.unknown + [w.choice(ph.UNKNOWN_PRICE)],
            communicate=[money(abs(diff))] if ask else [],
            entities=[f"reservations:{r.reservation_id}"] + [f"flights:{f.flight_number}" for f in r.flights],
            targets=[f"reservations:{r.reservation_id}"],
            comparisons=loc.comparisons + pay.comparisons,
            amount=change_amount(diff, _SAY["cabin"]["keep"]),
        )


@dataclass
class ChangeFlight(Base):
    """Move one direct leg of a reservation to another date's flight on the same route."""

    name: str = "change_flight"
    tool: str = "update_reservation_flights"

    def propose(self, ctx: ComposeContext) -> Decision:
        db = ctx.db
        loc = locate_reservation(ctx, self.cities, lambda r: policy.can_change_flights(db, r) and movable_shape(r))
        r = loc.reservation
        leg_i = ctx.rng.randrange(len(r.flights))
        return move_leg(ctx, self.cities, loc, leg_i, ph.CHANGE_FLIGHT_MOTIVES)


@dataclass
class UpdatePassenger(Base):
    """Swap one passenger of a reservation for one of the user's saved passengers."""

    name: str = "update_passenger"
    tool: str = "update_reservation_passengers"

    def propose(self, ctx: ComposeContext) -> Decision:
        db = ctx.db
        saved = db.users[ctx.user_id].saved_passengers

        def swappable(r: Any) -> bool:
            names = {(p.first_name, p.last_name) for p in r.passengers}
            return (
                r.status != "cancelled"
                and not policy.is_flown(db, r)
                and any((s.first_name, s.last_name) not in names for s in saved)
            )

        loc = locate_reservation(ctx, self.cities, swappable)
        r = loc.reservation
        names = {(p.first_name, p.last_name) for p in r.passengers}
        new = ctx.rng.choice([s for s in saved if (s.first_name, s.last_name) not in names])
        i = ctx.rng.randrange(len(r.passengers))
        old = r.passengers[i]
        passengers = [p.model_dump() for p in r.passengers]
        passengers[i] = new.model_dump()
        me = db.users[ctx.user_id].name
        newcomer = f"{new.first_name} {new.last_name}"
        w = ctx.words
        say = _SAY["passenger"]
        if (old.first_name, old.last_name) == (me.first_name, me.last_name):
            # The user is the one dropping out: they say so in the first person, never by name.
            action = say["take_my_seat"].format(newcomer=newcomer, r=loc.phrase)
            motive = w.choice(say["my_motives"])
        else:
            action = say["in_place_of"].format(newcomer=newcomer, r=loc.phrase, old=f"{old.first_name} {old.last_name}")
            motive = w.choice(say["their_motives"]).format(first=old.first_name)
        born = w.choice(say["born"]).format(newcomer=newcomer, first=new.first_name, dob=new.dob)
        return Decision(
            write=("update_reservation_passengers", {"reservation_id": r.reservation_id, "passengers": passengers}),
            reads=loc.reads,
            candidates=loc.candidates,
            say=Request(action, motive, [born, w.choice(ph.KEEP_PASSENGERS)]),
            unknown=loc.unknown,
            entities=[f"reservations:{r.reservation_id}"],
            targets=[f"reservations:{r.reservation_id}"],
            comparisons=loc.comparisons,
        )


@dataclass
class CancelledFlightCompensation(Base):
    """A certificate for a flight the airline cancelled, where the policy allows compensation."""

    name: str = "compensation"
    tool: str = "send_certificate"

    def propose(self, ctx: ComposeContext) -> Decision:
        db = ctx.db
        user = db.users[ctx.user_id]
        if ctx.state.get("certificates", 0) >= 1:
            raise Skip("one compensation per task")

        def cancelled_legs(r: Any) -> list[Call]:
            return [
                ("get_flight_status", {"flight_number": f.flight_number, "date": f.date})
                for f in r.flights
                if policy.segment_status(db, f.flight_number, f.date) == "cancelled"
            ]

        loc = locate_reservation(
            ctx,
            self.cities,
            lambda r: policy.has_cancelled_segment(db, r) and policy.compensation_eligible(user, r),
            cancelled_legs,
        )
        r = loc.reservation
        amount = policy.cancelled_flight_certificate(r)
        ctx.state["certificates"] = ctx.state.get("certificates", 0) + 1
        w = ctx.words
        ask = w.random() < 0.6
        return Decision(
            write=("send_certificate", {"user_id": ctx.user_id, "amount": amount}),
            reads=loc.reads,
            candidates=loc.candidates,
            say=Request(
                w.choice(_SAY["compensation"]["actions"]),
                pick(w, ph.COMPENSATION_MOTIVES, r=loc.phrase),
                [w.choice(ph.ACCEPT_CERTIFICATE)],
                _ASK["certificate"] if ask else "",
            ),
            unknown=loc.unknown,
            communicate=[money(amount)] if ask else [],
            entities=[f"reservations:{r.reservation_id}"],
            targets=[f"certificate:{r.reservation_id}"],
            comparisons=loc.comparisons,
        )


def _reservation_and_flight_reads(r: Any) -> list[Call]:
    """The evidence for whether a reservation may be cancelled: its details and each flight's status."""
    return [
        ("get_reservation_details", {"reservation_id": r.reservation_id}),
        *(("get_flight_status", {"flight_number": f.flight_number, "date": f.date}) for f in r.flights),
    ]


def _live_untouched(ctx: ComposeContext) -> list[Any]:
    db = ctx.db
    return sorted(
        (
            r
            for r in (db.reservations[x] for x in db.users[ctx.user_id].reservations if x in db.reservations)
            if r.status != "cancelled" and not policy.is_flown(db, r) and ctx.fresh(f"reservations:{r.reservation_id}")
        ),
        key=lambda r: r.reservation_id,
    )


@dataclass
class RefuseCancellation(Base):
    """Cancel a reservation the policy does not let the user cancel (old booking, no cover, no airline cancel)."""

    name: str = "refuse_cancel"

    def refuse(self, ctx: ComposeContext) -> Refusal:
        db = ctx.db
        # "change of plan" is not covered by insurance, so only the 24 h, airline and business rules could allow it.
        banned = [r for r in _live_untouched(ctx) if not policy.cancellation_reason(db, r, "change of plan")]
        if not banned:
            raise Skip("every live reservation may be cancelled")
        r = ctx.rng.choice(banned)
        rid = r.reservation_id
        reads = _reservation_and_flight_reads(r)
        say = _SAY["refuse_cancel"]
        cover = say["insured"] if r.insurance == "yes" else say["uninsured"]
        article = "an" if r.cabin == "economy" else "a"
        reason = say["reason"].format(article=article, cabin=CABIN_WORDS[r.cabin], cover=cover)
        action = say["action"].format(rid=rid)
        w = ctx.words
        return Refusal(
            reads=reads,
            say=Request(action, w.choice(ph.REFUSED_CANCEL_MOTIVES), [w.choice(ph.WHOLE_TRIP)]),
            action=action,
            reason=reason,
            entities=[f"reservations:{rid}"],
            targets=[f"reservations:{rid}"],
            behaviour=[w.choice(ACCEPT_REFUSAL)],
        )


@dataclass
class RefuseBasicEconomyChange(Base):
    """Move a basic-economy flight to another date: "Basic economy flights cannot be modified"."""

    name: str = "refuse_change_basic"

    def refuse(self, ctx: ComposeContext) -> Refusal:
        basic = [r for r in _live_untouched(ctx) if r.cabin == "basic_economy"]
        if not basic:
            raise Skip("no live basic-economy reservation")
        r = ctx.rng.choice(basic)
        rid = r.reservation_id
        leg = r.flights[0]
        later = [d for d in TRAVEL_DATES if d > leg.date]
        if not later:
            raise Skip("no later date")
        date = ctx.rng.choice(later)
        say = _SAY["refuse_change_basic"]
        w = ctx.words
        return Refusal(
            reads=[("get_reservation_details", {"reservation_id": rid})],
            say=Request(
                say["ask"].format(rid=rid, day=formats.day(date)),
                w.choice(ph.CHANGE_FLIGHT_MOTIVES),
                [w.choice(ph.KEEP_CABIN)],
            ),
            action=say["action"].format(rid=rid),
            reason=say["reason"],
            entities=[f"reservations:{rid}"],
            targets=[f"reservations:{rid}"],
            behaviour=[w.choice(ACCEPT_REFUSAL)],
        )


@dataclass
class TransferFlownCancellation(Base):
    """Cancel a reservation part of which is already flown: "the agent cannot help and transfer is needed"."""

    name: str = "transfer_flown_cancel"

    def refuse(self, ctx: ComposeContext) -> Refusal:
        db = ctx.db
        reservations = (db.reservations[x] for x in db.users[ctx.user_id].reservations if x in db.reservations)
        flown = sorted(
            (
                r
                for r in reservations
                if r.status != "cancelled" and policy.is_flown(db, r) and ctx.fresh(f"reservations:{r.reservation_id}")
            ),
            key=lambda r: r.reservation_id,
        )
        if not flown:
            raise Skip("no live reservation with a flown segment")
        r = ctx.rng.choice(flown)
        rid = r.reservation_id
        reads = _reservation_and_flight_reads(r)
        gone = next(f for f in r.flights if policy.segment_status(db, f.flight_number, f.date) in policy.FLOWN_STATUSES)
        say = _SAY["transfer_flown_cancel"]
        reason = say["reason"].format(flight=gone.flight_number, day=formats.day(gone.date))
        action = say["action"].format(rid=rid)
        w = ctx.words
        return Refusal(
            reads=reads,
            say=Request(action, w.choice(ph.FLOWN_CANCEL_MOTIVES), [w.choice(ph.REST_OF_TRIP)]),
            action=action,
            reason=reason,
            entities=[f"reservations:{rid}", f"flights:{gone.flight_number}"],
            targets=[f"reservations:{rid}"],
            behaviour=[w.choice(ACCEPT_TRANSFER)],
            transfer=True,
        )


@dataclass
class AskTotalPaid(Base):
    """How much the user paid in total for a reservation: the payment history, summed (no write)."""

    name: str = "ask_total_paid"

    def refuse(self, ctx: ComposeContext) -> Refusal:
        db = ctx.db
        ids = sorted(
            x for x in db.users[ctx.user_id].reservations if x in db.reservations and ctx.fresh(f"reservations:{x}")
        )
        if not ids:
            raise Skip("no reservation to ask about")
        rid = ctx.rng.choice(ids)
        total = round(sum(p.amount for p in db.reservations[rid].payment_history), 2)
        w = ctx.words
        say = _SAY["ask_total_paid"]
        return Refusal(
            reads=[("get_reservation_details", {"reservation_id": rid})],
            say=Request(say["ask"].format(rid=rid), w.choice(ph.PAID_MOTIVES)),
            action=say["action"].format(rid=rid),
            reason="",
            entities=[f"reservations:{rid}"],
            targets=[f"reservations:{rid}"],
            answer=say["answer"].format(total=formats.money(total), rid=rid),
            communicate=[money(total)],
        )


DELAY_USER_WEIGHT = 4


class AirlineComposer:
    """Composes airline tasks for one user from the blueprints above."""

    domain = "airline"
    max_writes = 8

    def __init__(self) -> None:
        domain = get_domain("airline")
        tools = domain.environment(domain.base.fork().db).tools
        self.cities = {a.iata: a.city for a in tools.list_all_airports()}
        db: Any = domain.base.db  # tau2's DB models are typed as BaseModel
        routes: dict[str, set[str]] = {}
        for f in db.flights.values():
            routes.setdefault(f.destination, set()).add(f.origin)
        delayed = frozenset(u for u in db.users if has_delay_case(db, u))
        self.blueprints: list[Blueprint] = [
            CancelReservation(self.cities),
            AddBaggage(self.cities),
            ChangeCabin(self.cities),
            ChangeFlight(self.cities),
            UpdatePassenger(self.cities),
            CancelledFlightCompensation(self.cities),
            BookFlight(self.cities, routes={k: sorted(v) for k, v in routes.items()}),
            DelayedFlightCompensation(self.cities, users=delayed),
        ]
        self.refusals = [RefuseCancellation(self.cities), RefuseBasicEconomyChange(self.cities)]
        self.transfers = [TransferFlownCancellation(self.cities)]
        self.questions = [AskTotalPaid(self.cities)]
        # Writes that move money a user may set a limit on ("only if the refund is at least $200").
        self.conditionals = [
            bp for bp in self.blueprints if isinstance(bp, (CancelReservation, AddBaggage, ChangeCabin, ChangeFlight))
        ]
        # A change of mind: cancel, bags, cabin, a flight or a passenger, taken back for another of them.
        self.switchable = [bp for bp in self.blueprints if bp.name in PACK.take_back]
        self._users = sorted(u for u, x in db.users.items() if x.reservations)
        # Users with more reservations afford more writes and more evidence per write. The few users with a
        # flight delayed today weigh DELAY_USER_WEIGHT times more, so delayed-flight compensation reaches a
        # default batch (about 5% of picks).
        self._weights = [
            len(db.users[u].reservations) * (DELAY_USER_WEIGHT if u in delayed else 1) for u in self._users
        ]

    def pick_user(self, db: Any, rng: random.Random) -> str:
        return rng.choices(self._users, self._weights)[0]

    def identify(self, db: Any, user_id: str, rng: random.Random, words: random.Random) -> Identity:
        user = db.users[user_id]
        name = f"{user.name.first_name} {user.name.last_name}"
        return Identity(
            reads=[("get_user_details", {"user_id": user_id})],
            known=[combine(words, pick(words, ph.NAME_CLAUSES, name=name), pick(words, ph.ID_CLAUSES, uid=user_id))],
            opening=_SAY["opening"].format(name=name, uid=user_id),
            name=name,
            knows={"user_id": user_id},
        )

    def persona(self, db: Any, user_id: str, rng: random.Random) -> str | None:
        return None


def build_composer() -> AirlineComposer:
    return AirlineComposer()
