"""How a retail customer words their requests: motives, facts beside a request, and questions.

Each pool holds phrasings of one meaning; blueprints draw from them with the task's wording
RNG. A cancellation's motive is the reason the policy records, so its pools keep that meaning.
"""

from __future__ import annotations

CANCEL_MOTIVES: dict[str, tuple[str, ...]] = {
    "no longer needed": (
        "you no longer need it",
        "you changed your mind and don't need it anymore",
        "it turns out you no longer need it",
    ),
    "ordered by mistake": (
        "you ordered it by mistake",
        "you placed it by accident",
        "you ordered it by mistake and never meant to buy it",
    ),
}
SOLD_OUT_MOTIVE = (
    "you heard that some things you ordered are sold out now, which may hold up delivery, and you no longer need it"
)
SHIP_MOTIVES = (
    "you won't be home when it arrives",
    "you are staying somewhere else for a while",
    "it is easier to receive parcels there",
    "",
)
PAY_MOTIVES = (
    "you'd rather not use the current method for it",
    "you want to keep your spending on one method",
    "you prefer to pay another way",
    "",
)
MODIFY_MOTIVES = (
    "you changed your mind about the options",
    "you realised you picked the wrong option",
    "you'd like something slightly different",
    "",
)
EXCHANGE_MOTIVES = (
    "the one you got doesn't suit you",
    "you are not happy with the option you received",
    "it isn't quite what you needed",
    "",
)
RETURN_MOTIVES = (
    "you don't use it",
    "it isn't what you expected",
    "it arrived and you don't like it",
    "you found a better option elsewhere",
    "",
)
# Questions answered by reads alone.
TRACK_MOTIVES = (
    "you want to follow the delivery",
    "you want to see where the parcel is",
    "a neighbour may take it in and wants to check",
    "you want to know when to be home",
)
# A cancelled order the user wants back: no tool can reinstate one, so only a human agent can help.
REINSTATE_MOTIVES = (
    "you cancelled an order by mistake",
    "you changed your mind after cancelling an order",
    "you cancelled an order in a hurry and regret it",
    "you need the things you had ordered after all",
)
REINSTATE_DETAILS = (
    "You want the very same order back, not a new one.",
    "You'd like it restored exactly as it was, with the same items.",
    "You hope it can simply be switched back on.",
)
MOVE_MOTIVES = ("you have moved", "you recently moved house", "you moved last month")

DIFF_PAYMENT = (
    "Any price difference is to be paid with, or refunded to, {m}.",
    "Settle any price difference with {m}.",
    "Use {m} for any difference, either way.",
    "Any difference in price goes through {m}.",
)
REFUND_TO = ("The refund should go to {m}.", "Send the refund to {m}.", "You want the money back on {m}.")

UNKNOWN_IDS = (
    "You do not remember your order ids.",
    "You don't have your order numbers at hand.",
    "You can't recall any order numbers.",
    "You threw away the order confirmations.",
    "You never kept the order numbers.",
    "You have no order ids with you.",
)
# Identification, as clauses the writer joins.
NAME_CLAUSES = (
    "you are {name}",
    "your name is {name}",
    "your account is under {name}",
    "you shop as {name}",
    "you are {name}, a long-time customer",
)
EMAIL_CLAUSES = (
    "your email is {email}",
    "you can be found by your email, {email}",
    "your account email is {email}",
    "you signed up with {email}",
    "you use the email {email}",
)
ZIP_CLAUSES = (
    "your zip code is {zip}",
    "you live in zip code {zip}",
    "your zip is {zip}",
    "your address has the zip code {zip}",
)
NO_EMAIL = (
    "you do not remember your email address",
    "you can't recall which email address you used",
    "you have forgotten your email address",
    "you don't know your email address offhand",
)
WHICH_ITEM = (
    "You do not know which item that is; let the agent work it out.",
    "You have not worked out which item that is; the agent can find it.",
    "Which item it is, you leave to the agent to find.",
    "You haven't checked which one it is.",
)
ONE_ITEM = (
    "Only that one item should change.",
    "Nothing else in the order should change.",
    "Leave every other item alone.",
    "",
)
