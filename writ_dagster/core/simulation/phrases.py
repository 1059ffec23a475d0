"""The scripted agent's grammar: many phrasings per dialogue act, picked by a seeded RNG.

Each act is built from slots (an opener, a core, a tail) whose choices combine into one
sentence, so a batch of conversations speaks in hundreds of sentence shapes rather than one
per act. Every function takes the conversation's ``random.Random`` and is deterministic for
a given seed. What the agent *says* (ids, amounts, the comparison) comes from the caller;
this module only chooses the words around it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from writ_dagster.core.domains.verify import TRANSFER_MESSAGE
from writ_dagster.core.language import formats
from writ_dagster.core.tasks.models import Comparison, Condition

_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
LISTED_OTHERS = 3  # set-aside candidates named one by one; the rest are counted


def pick(rng: random.Random, options: Sequence[str]) -> str:
    """One of ``options``, chosen by ``rng``."""
    return options[rng.randrange(len(options))]


def number_words(n: int) -> str:
    """Small counts as words ("four"), larger ones as digits."""
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def join_words(parts: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    parts = list(parts)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1] if parts else ""


# -- opening and identification -------------------------------------------------------------
_LEAD_TOLD = (
    "I can help with that.",
    "I can take care of that.",
    "Sure, I can look into that.",
    "Happy to help with that.",
    "Of course, let me help.",
    "I'd be glad to sort that out.",
    "Certainly, I can help you there.",
)
_LEAD_UNTOLD = (
    "I'd be happy to help.",
    "Glad to help.",
    "Happy to assist.",
    "Sure, I can help.",
    "Of course.",
    "I'm here to help.",
)
_FIRST = (
    "First,",
    "To start,",
    "Before anything else,",
    "To get started,",
    "Before I can do anything,",
    "So I can pull up your account,",
    "To look you up,",
)
_PLEASE = ("could you please", "can you", "would you", "could you", "may I ask you to")
_GIVE_USER_ID = (
    "provide your user id",
    "share your user id",
    "tell me your user id",
    "give me the user id on your account",
    "send me your user id",
)
_VERIFY = (
    "I need to verify your identity",
    "I have to confirm who I'm speaking with",
    "I need to locate your account",
    "I'll need to verify your identity",
)
_GIVE_EMAIL_OR_NAME = (
    "provide your email address, or your first and last name together with your zip code",
    "share the email on your account, or your full name and zip code",
    "tell me your email address, or else your first name, last name and zip code",
)


def ask_identity(rng: random.Random, told: bool, by_user_id: bool) -> str:
    """Ask the user to identify themself (by user id, or by email / name and zip)."""
    lead = pick(rng, _LEAD_TOLD if told else _LEAD_UNTOLD)
    first = pick(rng, _FIRST)
    please = pick(rng, _PLEASE)
    if by_user_id:
        return f"{lead} {first} {please} {pick(rng, _GIVE_USER_ID)}?"
    verify = pick(rng, _VERIFY)
    return f"{lead} {first} {verify}: {please} {pick(rng, _GIVE_EMAIL_OR_NAME)}?"


def not_found(rng: random.Random, what: str) -> str:
    """Say an identification lookup found nothing (``what``: "a profile with the user id X")."""
    sorry = pick(
        rng,
        [
            "I'm sorry, I couldn't find",
            "Unfortunately I couldn't find",
            "I wasn't able to find",
            "I'm afraid I can't find",
            "Hmm, I don't see",
        ],
    )
    check = pick(
        rng,
        [
            "Could you please double-check it?",
            "Could you double-check that for me?",
            "Would you mind double-checking it?",
            "Can you double-check and send it again?",
        ],
    )
    return f"{sorry} {what}. {check}"


def account_open(rng: random.Random, first: str) -> str:
    """After identification, before the user has said what they need."""
    thanks = pick(
        rng,
        [
            f"Thank you, {first}.",
            f"Thanks, {first}.",
            f"Thanks for that, {first}.",
            f"Great, thank you {first}.",
            f"Perfect, {first}.",
            f"Got it, {first}.",
        ],
    )
    found = pick(
        rng,
        [
            "I have your account open.",
            "I've found your account.",
            "Your account is pulled up.",
            "I've verified your account.",
            "I can see your account now.",
        ],
    )
    ask = pick(
        rng,
        [
            "How can I help you today?",
            "What can I do for you?",
            "What would you like to do today?",
            "How can I help?",
            "What can I help you with today?",
            "What brings you in today?",
        ],
    )
    return f"{thanks} {found} {ask}"


# -- between requests ---------------------------------------------------------------------
def anything_else(rng: random.Random) -> str:
    """Ask whether the user needs anything more (one sentence, many shapes)."""
    when = pick(
        rng,
        [
            "",
            " today",
            " while I have your account open",
            " at the moment",
            " right now",
            " before we wrap up",
            " on your account today",
        ],
    )  # not "for you": some heads end in it
    shape = rng.randrange(4)
    if shape == 0:
        head = pick(
            rng,
            [
                "Is there anything else",
                "Is there something else",
                "Is there anything more",
                "Is there any other request",
            ],
        )
        body = pick(
            rng,
            [
                " I can help you with",
                " I can do for you",
                " I can take care of",
                " I can sort out",
                " you'd like me to look into",
                " you need from me",
            ],
        )
        return f"{head}{body}{when}?"
    if shape == 1:
        head = pick(rng, ["Can I help you with", "Can I help with", "Could I help you with", "May I help you with"])
        return f"{head} anything else{when}?"
    if shape == 2:
        head = pick(rng, ["Do you need help with", "Would you like help with", "Do you want me to look at"])
        return f"{head} anything else{when}?"
    head = pick(
        rng,
        ["What else can I do for you", "What else can I help with", "Anything else I can do", "Anything else you need"],
    )
    return f"{head}{when}?"


def next_topic(rng: random.Random, subject: str) -> str:
    """Lead into the next request after finishing one ("Next, regarding order X,")."""
    return pick(
        rng,
        [
            f"Next, regarding {subject},",
            f"Moving on to {subject}:",
            f"Now, about {subject}:",
            f"On to {subject}:",
            f"As for {subject},",
            f"Turning to {subject},",
        ],
    )


def details_lead(rng: random.Random) -> str:
    """Lead into asking for a request's details when nothing came before in the message."""
    return pick(
        rng,
        [
            "Sure, I can help with that. First,",
            "I can do that. First,",
            "Certainly. Before I start,",
            "Happy to. First,",
            "Of course. To set that up,",
            "Sure. Before I look into it,",
        ],
    )


def details_question(rng: random.Random, wants: str) -> str:
    """Ask for the supporting details of a request (``wants``: "which payment method ...")."""
    ask = pick(
        rng,
        [
            "could you tell me",
            "could you let me know",
            "can you tell me",
            "would you let me know",
            "could you please tell me",
        ],
    )
    return f"{ask} {wants}?"


def declined(rng: random.Random) -> str:
    """The user would not confirm: say the change is not made (the anything-else follows)."""
    return pick(
        rng,
        [
            "Understood, I won't make that change.",
            "No problem, I'll leave that as it is.",
            "All right, I won't go ahead with that.",
            "Okay, nothing has been changed.",
            "Understood, I'll leave it unchanged.",
        ],
    )


def for_records(rng: random.Random, value: str) -> str:
    """State a figure that belongs to no single write."""
    return pick(
        rng,
        [
            f"For your records: {value}.",
            f"For your reference, the figure is {value}.",
            f"Just so you have it: {value}.",
            f"The amount to note is {value}.",
        ],
    )


# -- evidence and proposals ---------------------------------------------------------------
def _others(c: Comparison) -> str:
    named = [f"{o.name} ({o.value})" for o in c.others[:LISTED_OTHERS]]
    rest = len(c.others) - len(named)
    if rest:
        named.append(f"{number_words(rest)} more")
    return join_words(named)


def evidence(rng: random.Random, c: Comparison) -> str:
    """What was compared, which one was chosen and by which value, and what was set aside."""
    n = number_words(len(c.others) + 1)
    chosen, value = c.chosen.name, c.chosen.value
    others = _others(c)
    if not c.others:
        return f"{chosen} is the only one of your {c.things} that fits, with {value}."
    rest = (
        "the other one is"
        if len(c.others) == 1
        else pick(rng, ["the others are", "the rest are", f"the other {number_words(len(c.others))} are"])
    )
    if c.criterion.startswith("the only "):
        # A kind, not a measure ("the only credit card", "the only pending status"): the value names the
        # kind again, so it goes in brackets, not after "has ..." or "at ...".
        if rng.random() < 0.5:
            return f"Of your {n} {c.things}, {chosen} is the only one that fits ({value}); {rest} {others}."
        return f"Only {chosen} fits among your {n} {c.things} ({value}); {rest} {others}."
    shape = rng.randrange(5)
    if shape == 0:
        return f"Of your {n} {c.things}, {chosen} has {c.criterion}, {value}; {rest} {others}."
    if shape == 1:
        verb = pick(rng, ["I compared", "I went through", "I checked", "I looked at"])
        return f"{verb} all {n} of your {c.things}: {chosen} has {c.criterion} ({value}), compared with {others}."
    if shape == 2:
        return (
            f"Looking across your {n} {c.things}, the one with {c.criterion} is {chosen}, at {value}; {rest} {others}."
        )
    if shape == 3:
        lead = pick(rng, ["Based on what I found", "From the records", "Going by the details", "After comparing them"])
        return f"{lead}, {chosen} is the one with {c.criterion}: {value}, against {others}."
    return f"{chosen} has {c.criterion} among your {n} {c.things} ({value}); I set aside {others}."


def after_reads(rng: random.Random) -> str:
    """Open a proposal that follows silent lookups."""
    return pick(
        rng,
        [
            "Thanks for waiting.",
            "Thank you for your patience.",
            "I've checked the details.",
            "Thank you, I have what I need.",
            "Alright, I've looked into it.",
            "I've gone through your records.",
            "Thanks for bearing with me.",
            "I've finished looking.",
            "Okay, I have everything I need.",
            "I've reviewed the details.",
        ],
    )


def plain_intro(rng: random.Random) -> str:
    """Open a proposal that needed no lookups."""
    return pick(rng, ["Certainly.", "Sure.", "Of course.", "Absolutely.", "Happy to.", "No problem."])


def plan_lead(rng: random.Random, next_one: bool = False) -> str:
    """Introduce the list of what the write will do ("Here is what I'll do")."""
    if next_one:
        return pick(
            rng,
            [
                "Next, here is what I'll do",
                "For the next one, here's the plan",
                "Next up, this is what I'd do",
                "Here's what I'll do next",
                "Next, the change would be",
            ],
        )
    return pick(
        rng,
        [
            "Here is what I'll do",
            "Here's the plan",
            "This is what I'd do",
            "Here's what I have in mind",
            "Here is the change I'd make",
            "Here's the change",
            "My plan",
            "What I'll do",
            "Here's what I'm going to do",
            "This is the change",
        ],
    )


def instead_lead(rng: random.Random) -> str:
    """Introduce what the user asked for after taking their first request back."""
    return pick(
        rng,
        [
            "Instead, here is what I'll do",
            "Here's what I'll do instead",
            "So instead, this is the change",
            "Instead, the change would be",
            "Here is the change you'd like instead",
        ],
    )


def corrected_intro(rng: random.Random) -> tuple[str, str]:
    """(intro, lead) after the user corrected a detail."""
    return (
        pick(
            rng,
            [
                "Thanks for catching that.",
                "Good catch, thank you.",
                "Thanks for the correction.",
                "Sorry about that, and thank you.",
            ],
        ),
        pick(
            rng, ["Here are the corrected details", "Here's the corrected version", "With that fixed, here's the plan"]
        ),
    )


def again_intro(rng: random.Random) -> str:
    """Open a repeated proposal."""
    return pick(
        rng,
        [
            "Just to be sure:",
            "Just to double-check:",
            "To make sure we're aligned:",
            "Let me check once more:",
            "Before I go ahead:",
        ],
    )


def confirm_request(rng: random.Random) -> str:
    """Ask for an explicit yes to exactly the action just listed (one or two sentences)."""
    obj = pick(rng, ["", " with this", " with that", " with this change", " now"])
    shape = rng.randrange(3)
    if shape == 0:
        ask = pick(
            rng,
            [
                "Would you like me to proceed",
                "Shall I go ahead",
                "Should I go ahead",
                "Shall I proceed",
                "Do you want me to go ahead",
                "Can I go ahead",
                "May I proceed",
            ],
        )
        tail = pick(
            rng,
            [
                "Please confirm with yes.",
                "Please reply yes to confirm.",
                "A yes from you is all I need.",
                "Just reply yes if it all looks right.",
                "Please answer yes to continue.",
                "Let me know with a yes.",
            ],
        )
        return f"{ask}{obj}? {tail}"
    if shape == 1:
        ask = pick(
            rng,
            [
                "Do you confirm (yes/no) that I should proceed",
                "Can you confirm (yes/no) that I should go ahead",
                "Please confirm (yes/no): shall I proceed",
                "Do I have your go-ahead (yes/no)",
            ],
        )
        return f"{ask}{obj}?"
    ask = pick(
        rng,
        [
            "If everything looks right, please reply yes and I'll go ahead",
            "If that's all correct, please say yes and I'll proceed",
            "Once you confirm with a yes, I'll proceed",
            "Say yes and I'll go ahead",
        ],
    )
    return f"{ask}{obj}."


# -- conditional requests ---------------------------------------------------------------
def condition_found(rng: random.Random, c: Condition) -> str:
    """The figure the reads gave and which side of the user's limit it is (said before acting on it)."""
    fig, lim = formats.money(c.figure), formats.money(c.limit)
    lead = pick(
        rng,
        [
            "I've checked:",
            "I've looked it up:",
            "Here is what I found:",
            "I've worked it out:",
            "I have the figure now:",
        ],
    )
    verb = pick(rng, ["comes to", "would be", "is"])
    if c.kind == "cost":
        side = (
            pick(rng, [f"which is under your limit of {lim}", f"below the {lim} you set", f"less than {lim}"])
            if c.holds
            else pick(
                rng,
                [
                    f"which is more than your limit of {lim}",
                    f"above the {lim} you were willing to pay",
                    f"over the {lim} you set",
                ],
            )
        )
    else:
        side = (
            pick(
                rng,
                [
                    f"which is at least the {lim} you wanted back",
                    f"which meets your minimum of {lim}",
                    f"which is above your minimum of {lim}",
                ],
            )
            if c.holds
            else pick(
                rng,
                [
                    f"which is less than the {lim} you wanted back",
                    f"short of your minimum of {lim}",
                    f"under the {lim} you asked for",
                ],
            )
        )
    return f"{lead} {c.what} {verb} {fig}, {side}."


def condition_met(rng: random.Random) -> str:
    """The user's condition holds: the proposal of the write follows."""
    return pick(
        rng,
        [
            "So, as you asked, I can go ahead with it.",
            "That meets your condition.",
            "So the condition you gave is met.",
            "That is within what you said.",
        ],
    )


def condition_failed(rng: random.Random, subject: str) -> str:
    """The user's condition fails: nothing is changed (``subject``: "reservation X")."""
    return pick(
        rng,
        [
            f"So, as you asked, I'll leave {subject} as it is.",
            f"As you wanted in that case, I won't change {subject}.",
            f"Following your instruction, {subject} stays as it is; I haven't changed anything.",
            f"So I'm leaving {subject} unchanged, as you asked.",
        ],
    )


# -- refusals -----------------------------------------------------------------------------
def keep_it(rng: random.Random, action: str) -> str:
    """Acknowledge a write the user takes back when asked to confirm it (``action``: "cancel reservation X")."""
    return pick(
        rng,
        [
            f"No problem, I won't {action}.",
            f"Understood, I won't {action} then.",
            f"Of course, I'll leave it as it is and won't {action}.",
            f"That's fine, I won't {action}.",
            f"Sure, no need to {action} then.",
        ],
    )


def answer(rng: random.Random, fact: str) -> str:
    """State what the reads found (``fact``: "you paid $1,284 in total for reservation X")."""
    lead = pick(
        rng, ["I've looked it up:", "I checked the records:", "Here is what I found:", "According to our records,"]
    )
    return f"{lead} {fact}."


def transfer(rng: random.Random, action: str, reason: str) -> str:
    """Explain why a human agent must handle a request, then the policy's transfer message."""
    sorry = pick(
        rng,
        [
            f"I'm sorry, but I can't {action} myself:",
            f"Unfortunately, I'm not able to {action} for you:",
            f"I've checked, and I can't {action} here:",
        ],
    )
    hand = pick(
        rng,
        [
            "I'm transferring you to a human agent who can look into it.",
            "Let me hand you over to a human agent for this.",
            "A colleague from our human team will take it from here.",
        ],
    )
    return f"{sorry} {reason}. {hand} {TRANSFER_MESSAGE}"


def refuse(rng: random.Random, action: str, reason: str) -> str:
    """Decline a request the policy forbids, giving the policy's reason (``action``: "cancel reservation X")."""
    looked = pick(
        rng,
        [
            "",
            "I've checked the details.",
            "I've looked into it.",
            "I've gone through the booking.",
            "Thanks for waiting while I checked.",
        ],
    )
    sorry = pick(
        rng,
        [
            f"I'm sorry, but I can't {action}:",
            f"Unfortunately, I'm not able to {action}:",
            f"I'm afraid I can't {action}:",
            f"I have to decline to {action}:",
            f"I'm sorry, I'm unable to {action}:",
        ],
    )
    return " ".join(p for p in (looked, f"{sorry} {reason}.") if p)
