"""Turning second-person instruction lines into what the customer says, in several tones.

Instruction lines are written to the user ("You want to cancel reservation X. The reason is
...: you are ill"). A scripted user says them in the first person; tone and verbosity only
change the wrapping (greetings, connectors, thanks), never the facts themselves, so the
checker can find every fact verbatim in what the user says.
"""

from __future__ import annotations

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
    """``text`` with its first letter lower-cased, unless it starts with 'I ' or a name."""
    if not text or text.startswith(("I ", "I'", "I'm")) or re.match(r"^[A-Z][a-z]+ [A-Z]", text):
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


TONES: dict[str, Tone] = {t.name: t for t in [
    Tone("neutral", "",
         ("Hi.", "Hello."),
         ("Yes, please go ahead.", "Yes, that's correct.", "Yes, please proceed."),
         ("Thanks.", "Thank you."),
         ("No, that's all. Thank you!", "That's everything, thanks."),
         ("Sorry, my mistake.", "Sorry, I got that wrong."),
         ("Hi, I need some help with my {things}.", "Hello, I have a question about my {things}."),
         ("There's one more thing.", "I also need something else.")),
    Tone("friendly", "You are friendly and warm, and you thank the agent often.",
         ("Hi there!", "Hello! Hope your day is going well."),
         ("Yes, that all looks right. Please go ahead, thank you!", "Yes, perfect, please do that!"),
         ("Thank you so much!", "That's great, thanks!"),
         ("No, that's everything. Thanks so much for your help!",
          "That's all for today. You've been very helpful, thank you!"),
         ("Oh, I'm so sorry, my mistake!", "Oops, sorry about that!"),
         ("Hi there! I was hoping you could help me with my {things}.",
          "Hello! I need a hand with my {things}, if you don't mind."),
         ("Oh, and one more thing!", "While I have you, there's something else.")),
    Tone("busy", "You are a busy professional who wants things done quickly and dislikes small talk.",
         ("Hi.", ""),
         ("Yes.", "Yes, go ahead.", "Yes, proceed."),
         ("Ok.", "Thanks."),
         ("That's all.", "No, that's it."),
         ("Correction:", "Sorry, typo."),
         ("I need help with my {things}.", "Quick question about my {things}."),
         ("Next:", "Also:")),
    Tone("anxious", "You are a bit anxious about getting this right and want reassurance that each change is correct.",
         ("Hi, I hope you can help me.", "Hello, I'm a little worried about this, can you help?"),
         ("Yes, that sounds right. Please go ahead.", "Okay, yes, I confirm. Please proceed."),
         ("Okay, thank you, that's a relief.", "Thank you, that helps."),
         ("No, that's everything. Thank you for your patience!", "I think that's all. Thanks for bearing with me."),
         ("Oh no, sorry, I said that wrong.", "Wait, sorry, that's not right."),
         ("Hi, I'm a bit worried about my {things} and need some help.",
          "Hello, I need help with my {things}, I hope it's not complicated."),
         ("Sorry, there's one more thing.", "I also need one more thing, if that's okay.")),
    Tone("frustrated", "You are frustrated after a long day but stay polite.",
         ("Hi. I hope this is quick.", "Hello. I've had a long day, so let's sort this out."),
         ("Yes, fine, go ahead.", "Yes. Please just do it."),
         ("Okay.", "Fine, thanks."),
         ("No, that's all. Thanks.", "That's it. Thank you."),
         ("Ugh, sorry, my mistake.", "Sorry, I mixed that up."),
         ("Hi. I need to sort something out with my {things}.", "I have an issue with my {things}."),
         ("And another thing.", "One more thing.")),
    Tone("formal", "You are formal and precise in how you write.",
         ("Good afternoon.", "Good day."),
         ("Yes, I confirm. Please proceed.", "Yes, that is correct. Kindly proceed."),
         ("Thank you.", "Much appreciated."),
         ("That will be all. Thank you for your assistance.", "Nothing further. Thank you."),
         ("My apologies, I misspoke.", "I beg your pardon, that was an error."),
         ("Good afternoon. I require assistance with my {things}.",
          "Good day. I would like help regarding my {things}."),
         ("I have a further request.", "There is one additional matter.")),
    Tone("non_technical", "You are not very comfortable with technology and appreciate simple explanations.",
         ("Hello, I'm not very good with these things, I hope you can help.",
          "Hi, my grandson usually does this for me."),
         ("Yes, that sounds right to me. Please go ahead.", "Yes, please do that."),
         ("Thank you, dear.", "Oh good, thank you."),
         ("No, that's all. Thank you for being so patient!", "That's everything. Thank you kindly."),
         ("Oh dear, I got that wrong.", "Sorry, I misread my notes."),
         ("Hello, I need some help with my {things}, I'm not sure how this works.",
          "Hi, could you help me with my {things}?"),
         ("Oh, there's one more thing.", "I almost forgot, there's something else.")),
]}

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
