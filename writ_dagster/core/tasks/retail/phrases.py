"""How a retail customer words their requests: motives, facts beside a request, and questions.

Each pool holds phrasings of one meaning; blueprints draw from them with the task's wording
RNG. A cancellation's motive is the reason the policy records, so its pools keep that meaning.
"""

from __future__ import annotations

from typing import Any

from writ_dagster.core.language.pools import pools

# The pools are data: this folder's phrases.yaml. The names here are the blueprints' handles on them.
_P = pools(__name__.rpartition(".")[0])

CANCEL_MOTIVES: dict[str, tuple[str, ...]] = _P["cancel_motives"]
SOLD_OUT_MOTIVE: str = _P["sold_out_motive"]
SHIP_MOTIVES: tuple[str, ...] = _P["ship_motives"]
PAY_MOTIVES: tuple[str, ...] = _P["pay_motives"]
MODIFY_MOTIVES: tuple[str, ...] = _P["modify_motives"]
EXCHANGE_MOTIVES: tuple[str, ...] = _P["exchange_motives"]
RETURN_MOTIVES: tuple[str, ...] = _P["return_motives"]
# Questions answered by reads alone.
TRACK_MOTIVES: tuple[str, ...] = _P["track_motives"]
# A cancelled order the user wants back: no tool can reinstate one, so only a human agent can help.
REINSTATE_MOTIVES: tuple[str, ...] = _P["reinstate_motives"]
REINSTATE_DETAILS: tuple[str, ...] = _P["reinstate_details"]
MOVE_MOTIVES: tuple[str, ...] = _P["move_motives"]

DIFF_PAYMENT: tuple[str, ...] = _P["diff_payment"]
REFUND_TO: tuple[str, ...] = _P["refund_to"]

UNKNOWN_IDS: tuple[str, ...] = _P["unknown_ids"]
# Identification, as clauses the writer joins.
NAME_CLAUSES: tuple[str, ...] = _P["name_clauses"]
EMAIL_CLAUSES: tuple[str, ...] = _P["email_clauses"]
ZIP_CLAUSES: tuple[str, ...] = _P["zip_clauses"]
NO_EMAIL: tuple[str, ...] = _P["no_email"]
WHICH_ITEM: tuple[str, ...] = _P["which_item"]
ONE_ITEM: tuple[str, ...] = _P["one_item"]

# What the blueprints say around these pools: requests, comparisons, refusals and answers, as templates.
SAY: dict[str, Any] = _P["composer"]
