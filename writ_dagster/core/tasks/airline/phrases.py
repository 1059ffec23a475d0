"""How an airline customer words their requests: motives, facts beside a request, and questions.

Each pool holds phrasings of one meaning; blueprints draw from them with the task's wording
RNG. Motives are clauses ("your plans changed") the instruction writer builds sentences around.
A cancellation's motive is the reason the policy judges, so its pools keep that reason's meaning.
"""

from __future__ import annotations

from typing import Any

from writ_dagster.core.language.pools import pools

# The pools are data: this folder's phrases.yaml. The names here are the blueprints' handles on them.
_P = pools(__name__.rpartition(".")[0])

CANCEL_MOTIVES: dict[str, tuple[str, ...]] = _P["cancel_motives"]
BAG_MOTIVES: tuple[str, ...] = _P["bag_motives"]
UPGRADE_MOTIVES: tuple[str, ...] = _P["upgrade_motives"]
DOWNGRADE_MOTIVES: tuple[str, ...] = _P["downgrade_motives"]
CHANGE_FLIGHT_MOTIVES: tuple[str, ...] = _P["change_flight_motives"]
BOOK_MOTIVES: tuple[str, ...] = _P["book_motives"]
COMPENSATION_MOTIVES: tuple[str, ...] = _P["compensation_motives"]

# Facts beside a request. {pay}: the payment method in the user's words.
FEE_PAYMENT: tuple[str, ...] = _P["fee_payment"]
DIFF_PAYMENT: tuple[str, ...] = _P["diff_payment"]
CHARGE_PAYMENT: tuple[str, ...] = _P["charge_payment"]
REFUND_PAYMENT: tuple[str, ...] = _P["refund_payment"]
TOTAL_PAYMENT: tuple[str, ...] = _P["total_payment"]
BAGS: tuple[str, ...] = _P["bags"]
NO_BAGS: tuple[str, ...] = _P["no_bags"]
INSURANCE: dict[str, tuple[str, ...]] = _P["insurance"]
KEEP_OTHERS: tuple[str, ...] = _P["keep_others"]
KEEP_PASSENGERS: tuple[str, ...] = _P["keep_passengers"]
WHOLE_TRIP: tuple[str, ...] = _P["whole_trip"]
ACCEPT_CERTIFICATE: tuple[str, ...] = _P["accept_certificate"]
UNKNOWN_PRICE: tuple[str, ...] = _P["unknown_price"]
UNKNOWN_FLIGHTS: tuple[str, ...] = _P["unknown_flights"]
UNKNOWN_BAGS: tuple[str, ...] = _P["unknown_bags"]

# Identification, as two clauses the writer joins: who the user is, and their user id.
NAME_CLAUSES: tuple[str, ...] = _P["name_clauses"]
ID_CLAUSES: tuple[str, ...] = _P["id_clauses"]

# Refused requests: a change of plan is the motive the policy does not cover for an old booking.
REFUSED_CANCEL_MOTIVES: tuple[str, ...] = _P["refused_cancel_motives"]
# Questions answered by reads alone.
PAID_MOTIVES: tuple[str, ...] = _P["paid_motives"]
# A trip already under way: the user still wants the rest of it cancelled (the policy: a transfer).
FLOWN_CANCEL_MOTIVES: tuple[str, ...] = _P["flown_cancel_motives"]
REST_OF_TRIP: tuple[str, ...] = _P["rest_of_trip"]
KEEP_CABIN: tuple[str, ...] = _P["keep_cabin"]
# Bookings. {cert}, {card}: a certificate and a credit card in the user's words.
SPLIT_PAYMENT: tuple[str, ...] = _P["split_payment"]
QUICKEST: tuple[str, ...] = _P["quickest"]
# What "quickest" ({best}) means, beside the request: total travel time first, then the earlier landing.
TRAVEL_TIME: tuple[str, ...] = _P["travel_time"]
# A delayed flight today, as the motive of a change or cancellation. {route}: "New York to Phoenix".
DELAY_CHANGE_MOTIVES: tuple[str, ...] = _P["delay_change_motives"]
DELAY_CANCEL_MOTIVES: tuple[str, ...] = _P["delay_cancel_motives"]
DELAY_COMPENSATION_ACTIONS: tuple[str, ...] = _P["delay_compensation_actions"]
DELAY_COMPENSATION_MOTIVES: tuple[str, ...] = _P["delay_compensation_motives"]

# What the blueprints say around these pools: requests, comparisons, refusals and answers, as templates.
SAY: dict[str, Any] = _P["composer"]
