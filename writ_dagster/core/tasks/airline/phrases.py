"""How an airline customer words their requests: motives, facts beside a request, and questions.

Each pool holds phrasings of one meaning; blueprints draw from them with the task's wording
RNG. Motives are clauses ("your plans changed") the instruction writer builds sentences around.
A cancellation's motive is the reason the policy judges, so its pools keep that reason's meaning.
"""

from __future__ import annotations

CANCEL_MOTIVES: dict[str, tuple[str, ...]] = {
    "recent": (
        "you booked it less than a day ago and your plans have already changed",
        "you made the booking less than 24 hours ago and no longer need it",
        "your plans changed right after you booked it, under a day ago",
    ),
    "airline_cancelled": (
        "the airline cancelled one of its flights",
        "one of the flights on it was cancelled by the airline",
        "the airline called off one of the flights in it",
    ),
    "business": (
        "your plans have changed",
        "the trip is no longer happening",
        "the meeting you were flying for was called off",
    ),
    "health": (
        "you are ill and cannot travel",
        "you have come down with the flu and your doctor told you not to fly",
        "a health problem keeps you from travelling",
    ),
}
BAG_MOTIVES = (
    "you are packing for a longer stay than planned",
    "you are bringing gifts for your family",
    "you are taking sports gear along",
    "you are bringing more luggage than you first thought",
    "",
)
UPGRADE_MOTIVES = (
    "you want more comfort on this trip",
    "you have work to do on the flight and want more room",
    "you'd like to treat yourself this time",
    "",
)
DOWNGRADE_MOTIVES = (
    "you are trying to cut costs",
    "the fare is more than you want to spend right now",
    "you don't need the extra comfort after all",
    "",
)
CHANGE_FLIGHT_MOTIVES = (
    "your meeting moved",
    "you need to travel on a different day",
    "your schedule shifted",
    "something came up on the original day",
    "",
)
BOOK_MOTIVES = (
    "you are visiting family",
    "you have a conference there",
    "you are going on holiday",
    "you are attending a friend's wedding",
    "you have a job interview there",
    "",
)
COMPENSATION_MOTIVES = (
    "a flight in {r} was cancelled by the airline and you are unhappy about it",
    "the airline cancelled a flight in {r}, which upset your plans",
    "your flight in {r} was cancelled and it caused you real trouble",
)

# Facts beside a request. {pay}: the payment method in the user's words.
FEE_PAYMENT = (
    "Any fee goes on {pay}.",
    "If there is a charge, you'll pay it with {pay}.",
    "You'd cover any fee with {pay}.",
    "Should anything be owed, use {pay}.",
)
DIFF_PAYMENT = (
    "Any price difference, either way, goes through {pay}.",
    "Settle any difference with {pay}.",
    "Use {pay} for whatever the change costs or refunds.",
    "Any payment or refund for the change goes to {pay}.",
)
CHARGE_PAYMENT = (
    "You accept paying the difference with {pay}.",
    "You're fine paying the extra with {pay}.",
    "Any extra cost goes on {pay}.",
)
REFUND_PAYMENT = (
    "Any refund of the difference goes to {pay}.",
    "Have any money back sent to {pay}.",
    "If money comes back, it should go to {pay}.",
)
TOTAL_PAYMENT = (
    "You'll pay with {pay}.",
    "You want to pay with {pay}.",
    "Payment is by {pay}.",
    "You'll put it on {pay}.",
)
BAGS = (
    "You have {n} checked {bags} in total for the trip.",
    "You'll check {n} {bags} altogether.",
    "There will be {n} checked {bags} for the whole trip.",
)
NO_BAGS = (
    "You won't check any bags.",
    "You are travelling with carry-on only, no checked bags.",
    "You have no checked bags.",
)
INSURANCE = {
    "yes": ("You want travel insurance.", "You'd like to add travel insurance.", "Travel insurance is a must for you."),
    "no": ("You do not want travel insurance.", "You'll skip the travel insurance.", "No travel insurance, thanks."),
}
KEEP_OTHERS = (
    "Every other flight stays as it is.",
    "Keep the rest of the itinerary unchanged.",
    "Nothing else about the trip should change.",
    "The other flights are fine as they are.",
    "",
    "",
)
KEEP_PASSENGERS = (
    "Every other passenger stays the same.",
    "Nobody else on the booking changes.",
    "The rest of the travellers stay on the booking.",
    "",
    "",
)
WHOLE_TRIP = (
    "You want the whole reservation cancelled, all flights and passengers.",
    "All flights and passengers on it should go.",
    "Cancel all of it, not just one flight.",
    "Everyone on the booking is dropping the trip.",
    "",
    "",
)
ACCEPT_CERTIFICATE = (
    "You'll accept a travel certificate as compensation.",
    "A travel certificate would be fine as compensation.",
)
UNKNOWN_PRICE = (
    "You do not know the new price.",
    "You don't know what it will cost.",
    "You have no idea how the fares compare.",
    "",
    "",
)
UNKNOWN_FLIGHTS = (
    "You do not know flight numbers or prices.",
    "You don't know the flight numbers or fares.",
    "You haven't looked up any flights yourself.",
    "You have no flight numbers in mind.",
)
UNKNOWN_BAGS = (
    "You do not know how many of the bags are free.",
    "You are not sure which bags are free.",
    "You don't know what your membership allows for bags.",
    "",
    "",
)

# Identification, as two clauses the writer joins: who the user is, and their user id.
NAME_CLAUSES = (
    "you are {name}",
    "your name is {name}",
    "you go by {name}",
    "your airline profile is under {name}",
    "you are {name}, a regular flyer",
)
ID_CLAUSES = (
    "your user id is {uid}",
    "the user id on your profile is {uid}",
    "you have your user id to hand: {uid}",
    "your profile's user id is {uid}",
    "you know your user id, {uid}",
)

# Refused requests: a change of plan is the motive the policy does not cover for an old booking.
REFUSED_CANCEL_MOTIVES = (
    "your plans have changed",
    "you no longer need the trip",
    "the event you were travelling for was postponed",
    "you decided not to go after all",
)
# Questions answered by reads alone.
PAID_MOTIVES = (
    "you are doing your expense report",
    "you are checking your card statement",
    "you want your records straight",
    "your company asks for the amount",
)
# A trip already under way: the user still wants the rest of it cancelled (the policy: a transfer).
FLOWN_CANCEL_MOTIVES = (
    "you have to cut the trip short",
    "you need to come home early and won't use the rest of it",
    "something came up and you won't take the remaining flights",
    "you are staying where you are and don't need the rest of the trip",
)
REST_OF_TRIP = (
    "The flights you have already taken are behind you; you want the rest of the reservation cancelled.",
    "You know part of the trip is already flown; it is the remaining flights you no longer need.",
    "You are already travelling on this reservation and want what is left of it cancelled.",
)
KEEP_CABIN = (
    "You want to stay in the same cabin.",
    "Everything else about the booking should stay the same.",
    "You'd keep the same cabin and passengers.",
    "",
)
# Bookings. {cert}, {card}: a certificate and a credit card in the user's words.
SPLIT_PAYMENT = (
    "You'll use up {cert} first and put the rest on {card}.",
    "You want {cert} applied in full, with whatever is left charged to {card}.",
    "Pay with {cert} for as much as it covers, and put the remainder on {card}.",
    "You'd like to spend all of {cert} on this and cover the rest with {card}.",
)
QUICKEST = ("quickest", "fastest")
# What "quickest" ({best}) means, beside the request: total travel time first, then the earlier landing.
TRAVEL_TIME = (
    "By {best} you mean the shortest total travel time; if several take equally long, the one that lands first.",
    "What counts is the time from the first take-off to the last landing, and between equally long "
    "trips, the earliest arrival.",
    "You want the least time in transit, and if two trips take the same time, the one that gets you there earlier.",
)
# A delayed flight today, as the motive of a change or cancellation. {route}: "New York to Phoenix".
DELAY_CHANGE_MOTIVES = (
    "your {route} flight today is delayed and you'd rather travel on another day",
    "the {route} flight you're booked on today is running late and the new time doesn't work for you",
    "your {route} flight today has been delayed and you don't want to wait it out",
)
DELAY_CANCEL_MOTIVES = (
    "your {route} flight today is delayed and the trip no longer makes sense",
    "the delay on your {route} flight today has wrecked your plans and you're not going",
    "your {route} flight today is delayed and you've decided not to travel",
)
DELAY_COMPENSATION_ACTIONS = (
    "ask for compensation for the delay",
    "get some compensation for the delayed flight",
    "be compensated for the delay",
)
DELAY_COMPENSATION_MOTIVES = (
    "the delay has cost you a lot of time",
    "the delay threw your plans for the day off",
    "you had to rearrange everything because of it",
    "",
)
