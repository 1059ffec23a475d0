"""Turning second-person instruction lines into what the customer says, in several tones.

Instruction lines are written to the user ("You want to cancel reservation X. The reason is
...: you are ill"). A scripted user says them in the first person; tone and verbosity only
change the wrapping (greetings, connectors, thanks), never the facts themselves, so the
checker can find every fact in what the user says; the words around the facts are varied
per script by :mod:`writ_dagster.core.users.paraphrase` and the pools below.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

# Ordered rewrites; the generic pronoun swap comes last.
_IDIOMS: list[tuple[str, str]] = [
    (r"\bYou are ([A-Z][a-z]+ [A-Z][a-z'-]+)\.$", r"This is \1."),
    (r"\bIf there is a fee, you pay with\b", "If there is a fee, I'll pay with"),
    (r"\b[Yy]ou pay with\b", "I'll pay with"),
    (r"\b[Yy]ou accept paying\b", "I'm fine paying"),
    (r"\bgoes to (your|the)\b", r"should go to \1"),
    (r"\bYou ask for\b", "I'd like to ask for"),
    (r"^Accept a\b", "I'd accept a"),
    (r"\blet the agent work it out\b", "please work it out for me"),
    (r"\bthe agent\b", "you"),
    (r"\b[Yy]ou're\b", "I'm"),
    (r"\b[Yy]ou've\b", "I've"),
    (r"\b[Yy]ou'll\b", "I'll"),
    (r"\b[Yy]ou'd\b", "I'd"),
    (r"\b[Yy]ou have\b", "I have"),
    (r"\b[Yy]ou do not\b", "I don't"),
    (r"\b[Yy]ou are not\b", "I'm not"),
    (r"\b[Yy]ou are\b", "I am"),
    (r"\b[Yy]ou were\b", "I was"),
    (r"\byourself\b", "myself"),
    (r"\bYourself\b", "Myself"),
    (r"\byours\b", "mine"),
    (r"\byour\b", "my"),
    (r"\bYour\b", "My"),
    (r"\bthan you (first |had |originally )?(thought|expected|planned)\b", r"than I \1\2"),
    (r"\b(keeps|keep|stops|prevents|lets|makes) you\b", r"\1 me"),
    (r"\b(for|to|with|of|about|at|from|by|tell|give|send|help|ask|than) (just )?you\b", r"\1 \2me"),
    (r"\byou\b", "I"),
    (r"\bYou\b", "I"),
]
_COMPILED = [(re.compile(p), r) for p, r in _IDIOMS]


def to_first_person(line: str) -> str:
    """A second-person instruction line as the customer would say it."""
    out = line
    for pattern, repl in _COMPILED:
        out = pattern.sub(repl, out)
    return out


def lower_first(text: str) -> str:
    """``text`` with its first letter lower-cased, unless it starts with 'I ' or a name (two capitalised
    words: 'Amelia Martin'; a word before 'I' is no name: 'Because I am ...')."""
    if not text or text.startswith(("I ", "I'", "I'm")) or re.match(r"^[A-Z][a-z]+ (?!I\b)[A-Z]", text):
        return text
    return text[0].lower() + text[1:]


@dataclass(frozen=True)
class Tone:
    """How a persona wraps what they say (never what they say)."""

    name: str
    persona: str
    hello: tuple[str, ...]
    confirm: tuple[str, ...]
    thanks: tuple[str, ...]
    closing: tuple[str, ...]
    oops: tuple[str, ...]
    vague: tuple[str, ...]
    more: tuple[str, ...]


TONES: dict[str, Tone] = {
    t.name: t
    for t in [
        Tone(
            "neutral",
            "",
            ("Hi.", "Hello."),
            ("Yes, please go ahead.", "Yes, that's correct.", "Yes, please proceed."),
            ("Thanks.", "Thank you."),
            ("No, that's all. Thank you!", "That's everything, thanks."),
            ("Sorry, my mistake.", "Sorry, I got that wrong."),
            ("Hi, I need some help with my {things}.", "Hello, I have a question about my {things}."),
            ("There's one more thing.", "I also need something else."),
        ),
        Tone(
            "friendly",
            "You are friendly and warm, and you thank the agent often.",
            ("Hi there!", "Hello! Hope your day is going well."),
            ("Yes, that all looks right. Please go ahead, thank you!", "Yes, perfect, please do that!"),
            ("Thank you so much!", "That's great, thanks!"),
            (
                "No, that's everything. Thanks so much for your help!",
                "That's all for today. You've been very helpful, thank you!",
            ),
            ("Oh, I'm so sorry, my mistake!", "Oops, sorry about that!"),
            (
                "Hi there! I was hoping you could help me with my {things}.",
                "Hello! I need a hand with my {things}, if you don't mind.",
            ),
            ("Oh, and one more thing!", "While I have you, there's something else."),
        ),
        Tone(
            "busy",
            "You are a busy professional who wants things done quickly and dislikes small talk.",
            ("Hi.", ""),
            ("Yes.", "Yes, go ahead.", "Yes, proceed."),
            ("Ok.", "Thanks."),
            ("That's all.", "No, that's it."),
            ("Correction:", "Sorry, typo."),
            ("I need help with my {things}.", "Quick question about my {things}."),
            ("Next:", "Also:"),
        ),
        Tone(
            "anxious",
            "You are a bit anxious about getting this right and want reassurance that each change is correct.",
            ("Hi, I hope you can help me.", "Hello, I'm a little worried about this, can you help?"),
            ("Yes, that sounds right. Please go ahead.", "Okay, yes, I confirm. Please proceed."),
            ("Okay, thank you, that's a relief.", "Thank you, that helps."),
            ("No, that's everything. Thank you for your patience!", "I think that's all. Thanks for bearing with me."),
            ("Oh no, sorry, I said that wrong.", "Wait, sorry, that's not right."),
            (
                "Hi, I'm a bit worried about my {things} and need some help.",
                "Hello, I need help with my {things}, I hope it's not complicated.",
            ),
            ("Sorry, there's one more thing.", "I also need one more thing, if that's okay."),
        ),
        Tone(
            "frustrated",
            "You are frustrated after a long day but stay polite.",
            ("Hi. I hope this is quick.", "Hello. I've had a long day, so let's sort this out."),
            ("Yes, fine, go ahead.", "Yes. Please just do it."),
            ("Okay.", "Fine, thanks."),
            ("No, that's all. Thanks.", "That's it. Thank you."),
            ("Ugh, sorry, my mistake.", "Sorry, I mixed that up."),
            ("Hi. I need to sort something out with my {things}.", "I have an issue with my {things}."),
            ("And another thing.", "One more thing."),
        ),
        Tone(
            "formal",
            "You are formal and precise in how you write.",
            ("Good afternoon.", "Good day."),
            ("Yes, I confirm. Please proceed.", "Yes, that is correct. Kindly proceed."),
            ("Thank you.", "Much appreciated."),
            ("That will be all. Thank you for your assistance.", "Nothing further. Thank you."),
            ("My apologies, I misspoke.", "I beg your pardon, that was an error."),
            (
                "Good afternoon. I require assistance with my {things}.",
                "Good day. I would like help regarding my {things}.",
            ),
            ("I have a further request.", "There is one additional matter."),
        ),
        Tone(
            "non_technical",
            "You are not very comfortable with technology and appreciate simple explanations.",
            (
                "Hello, I'm not very good with these things, I hope you can help.",
                "Hi, my grandson usually does this for me.",
            ),
            ("Yes, that sounds right to me. Please go ahead.", "Yes, please do that."),
            ("Thank you, dear.", "Oh good, thank you."),
            ("No, that's all. Thank you for being so patient!", "That's everything. Thank you kindly."),
            ("Oh dear, I got that wrong.", "Sorry, I misread my notes."),
            (
                "Hello, I need some help with my {things}, I'm not sure how this works.",
                "Hi, could you help me with my {things}?",
            ),
            ("Oh, there's one more thing.", "I almost forgot, there's something else."),
        ),
    ]
}

VERBOSITY_FILLERS: dict[str, tuple[str, ...]] = {
    "terse": (),
    "normal": (),
    "chatty": (
        "I've been meaning to sort this out for a while.",
        "I hope this isn't too much trouble.",
        "I really appreciate you taking the time.",
        "I wanted to get this done before the weekend.",
    ),
}

ORDINALS = ("First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth")


# -- larger pools, drawn per variant ------------------------------------------------------
# A confirmation is "<yes>, <go>." : every <yes> says yes (the checker requires it), every
# <go> approves the action just proposed and nothing else.
_YES: dict[str, tuple[str, ...]] = {
    "neutral": (
        "Yes",
        "Yes, that's right",
        "Yes, that's correct",
        "Yes, correct",
        "Yes, that looks right",
        "Yes, that all checks out",
        "Yes please",
        "Yes, that matches",
    ),
    "friendly": (
        "Yes",
        "Oh yes",
        "Yes, perfect",
        "Yes, lovely",
        "Yes, that all looks right",
        "Yes, wonderful",
        "Yes, sounds great",
        "Yes, that's exactly it",
    ),
    "busy": ("Yes", "Yes, correct", "Yes, right", "Yes, fine", "Yes, confirmed", "Yes, all good"),
    "anxious": (
        "Yes",
        "Yes, I think so",
        "Okay, yes",
        "Yes, that sounds right",
        "Yes, I checked and it's right",
        "Yes, I believe that's correct",
        "Yes, that's what I meant",
    ),
    "frustrated": ("Yes", "Yes, fine", "Yes, finally", "Yes, that's it", "Yes, right", "Yes, that's what I said"),
    "formal": (
        "Yes",
        "Yes, that is correct",
        "Yes, I confirm",
        "Yes, that is accurate",
        "Yes, those details are correct",
        "Yes, indeed",
    ),
    "non_technical": (
        "Yes",
        "Yes, I think that's right",
        "Oh yes",
        "Yes, that sounds right to me",
        "Yes, dear",
        "Yes, that's what I wanted",
    ),
}
_GO: dict[str, tuple[str, ...]] = {
    "neutral": (
        "please go ahead",
        "please proceed",
        "go ahead with it",
        "you can do that",
        "please do it",
        "that works for me",
        "let's do it",
        "please make the change",
        "you can go ahead",
    ),
    "friendly": (
        "please go ahead, thank you",
        "please do that",
        "go right ahead",
        "that would be great",
        "please make it happen",
        "let's do it",
        "thanks so much, go ahead",
    ),
    "busy": ("go ahead", "proceed", "do it", "go", "make the change", "please proceed"),
    "anxious": (
        "please go ahead",
        "please proceed",
        "I'm okay with that, go ahead",
        "please do it carefully",
        "you can make the change",
        "I'm ready, go ahead",
    ),
    "frustrated": (
        "just do it",
        "go ahead",
        "please proceed",
        "get it done, please",
        "go on then",
        "let's get this over with",
    ),
    "formal": (
        "kindly proceed",
        "please proceed",
        "you may proceed",
        "please carry on",
        "I authorise the change",
        "please go ahead with it",
    ),
    "non_technical": (
        "please go ahead",
        "please do that for me",
        "go ahead, dear",
        "do whatever is needed",
        "please do it",
        "that's fine by me",
    ),
}
# A closing is "<done>, <thanks>" + an ending.
_DONE: dict[str, tuple[str, ...]] = {
    "neutral": (
        "No, that's all",
        "That's everything",
        "Nothing else",
        "No, that covers it",
        "That's all I needed",
        "No, I'm all set",
        "That's it for today",
    ),
    "friendly": (
        "No, that's everything",
        "That's all for today",
        "Nope, that's it",
        "That's all I needed",
        "I'm all sorted now",
        "No, you've covered it all",
    ),
    "busy": ("That's all", "No, that's it", "Done", "Nothing else", "All set"),
    "anxious": (
        "No, that's everything",
        "I think that's all",
        "That should be everything",
        "No, I think I'm done",
        "That's all I needed",
    ),
    "frustrated": ("No, that's all", "That's it", "Nothing else", "No, we're done", "That's everything"),
    "formal": (
        "That will be all",
        "Nothing further",
        "That concludes my requests",
        "No, that is everything",
        "I have nothing further",
    ),
    "non_technical": (
        "No, that's all",
        "That's everything",
        "I think that's all I needed",
        "No, that's it, dear",
        "Nothing else",
    ),
}
_THANKS: dict[str, tuple[str, ...]] = {
    "neutral": ("thank you", "thanks", "thanks for your help", "thank you for the help", "appreciate it"),
    "friendly": (
        "thanks so much for your help",
        "you've been very helpful, thank you",
        "thank you so much",
        "you've made my day, thanks",
        "thanks a million",
    ),
    "busy": ("thanks", "thank you", "appreciated"),
    "anxious": (
        "thank you for your patience",
        "thanks for bearing with me",
        "thank you, that's a relief",
        "thanks for checking everything",
    ),
    "frustrated": ("thanks", "thank you", "thanks for sorting it out", "I appreciate it"),
    "formal": ("thank you for your assistance", "much appreciated", "thank you kindly", "I appreciate your help"),
    "non_technical": (
        "thank you for being so patient",
        "thank you kindly",
        "thank you, dear",
        "you've been a great help",
    ),
}
UNKNOWN = (
    "Sorry, I don't have that information.",
    "I'm afraid I don't know that.",
    "I don't have that detail to hand, sorry.",
    "Hmm, I'm not sure about that.",
    "That I don't know, sorry.",
    "I couldn't tell you, I'm afraid.",
    "Sorry, I don't know.",
)
INTROS = (
    "I have a few things to sort out.",
    "There are a few things I need.",
    "I need help with several things.",
    "I've got a couple of things to take care of.",
    "A few things today, if that's okay.",
    "I have more than one request.",
    "Let me list what I need.",
)
CONNECTOR_STYLES: tuple[tuple[str, ...], ...] = (
    ("First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth"),
    ("To start", "Then", "After that", "Also", "On top of that", "Besides that", "Next", "And"),
    ("For one", "Also", "Plus", "And", "Then", "Also", "And", "Lastly"),
    ("Firstly", "Secondly", "Thirdly", "Fourthly", "Fifthly", "Sixthly", "Seventhly", "Eighthly"),
)
# Lead-ins ending in ':' or ',' open the request's own sentence, so the pair reads as one sentence.
MORE = (
    "There's one more thing:",
    "I also need something else:",
    "Something else, too:",
    "One other thing:",
    "I have another request:",
    "While I'm here,",
    "Next,",
    "Also,",
    "And then,",
    "Another thing:",
    "Before I forget,",
    "On top of that,",
    "One last thing:",
    "Oh, and",
    "Plus,",
)


_HELLO: dict[str, tuple[str, ...]] = {
    "neutral": (
        "Hi.",
        "Hello.",
        "Hi there.",
        "Good morning.",
        "Hello there.",
        "Hi, good afternoon.",
        "Hey.",
        "Good evening.",
    ),
    "friendly": (
        "Hi there!",
        "Hello! Hope your day is going well.",
        "Hey, good morning!",
        "Hi, lovely to talk to you!",
        "Hello, hope you're having a nice day!",
        "Hi! Thanks for picking up.",
    ),
    "busy": ("Hi.", "", "Morning.", "Hello.", "Hey."),
    "anxious": (
        "Hi, I hope you can help me.",
        "Hello, I'm a little worried about this, can you help?",
        "Hi, sorry to bother you.",
        "Hello, I hope I'm in the right place.",
        "Hi, I'm a bit nervous about this.",
    ),
    "frustrated": (
        "Hi. I hope this is quick.",
        "Hello. I've had a long day, so let's sort this out.",
        "Hi. This is my second try today.",
        "Hello. Let's get this done.",
        "Hi.",
    ),
    "formal": (
        "Good afternoon.",
        "Good day.",
        "Good morning.",
        "Good evening.",
        "Greetings.",
        "Hello, good afternoon.",
    ),
    "non_technical": (
        "Hello, I'm not very good with these things, I hope you can help.",
        "Hi, my grandson usually does this for me.",
        "Hello, dear, I hope you can help me.",
        "Hi, I'm not sure I'm doing this right.",
        "Hello, this computer business confuses me.",
    ),
}
_FIX = (
    "My {label} is actually {right}.",
    "The right {label} is {right}.",
    "It should be {right}.",
    "Let me try again: my {label} is {right}.",
    "I meant {right}.",
    "The correct {label} is {right}.",
    "Please try {right} instead.",
    "Try {right}, that's the right one.",
)


def hello(tone: str, rng: random.Random) -> str:
    """A greeting in ``tone`` (may be empty for a busy user)."""
    return rng.choice(_HELLO[tone])


def identity_fix(label: str, right: str, rng: random.Random) -> str:
    """The sentence that corrects a mistyped identification detail."""
    return rng.choice(_FIX).format(label=label, right=right)


def confirmations(tone: str, rng: random.Random, k: int = 6) -> list[str]:
    """``k`` different confirmations in ``tone`` (each says yes and approves only what was proposed)."""
    combos = [f"{y}, {g}." for y in _YES[tone] for g in _GO[tone]]
    combos += [f"{y}." for y in _YES[tone] if "," in y]
    return rng.sample(combos, min(k, len(combos)))


def closing(tone: str, rng: random.Random) -> str:
    """One closing line in ``tone`` (the ###STOP### marker is added by the caller)."""
    end = "!" if tone in ("friendly", "anxious", "non_technical") and rng.random() < 0.5 else "."
    return f"{rng.choice(_DONE[tone])}, {rng.choice(_THANKS[tone])}{end}"


def more_leads(tone: str, rng: random.Random, k: int = 4) -> list[str]:
    """Lead-ins for raising a further request: the tone's own and generic ones, shuffled."""
    pool = list(dict.fromkeys(list(TONES[tone].more) + list(MORE)))
    return rng.sample(pool, min(k, len(pool)))
