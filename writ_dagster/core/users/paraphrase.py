"""Saying the same first-person request or fact in other words, drawn by a variant's seed.

The grammar only moves and swaps *frame* words (how a want, a question or a payment is
introduced, where a motive sits); the content of a line (its ids, amounts, names, dates,
conditions and content words) is carried over untouched, which is what the script checker
judges (:func:`writ_dagster.core.users.meaning.conveys`).
"""

from __future__ import annotations

import random
import re

from writ_dagster.core.language.pools import shared
from writ_dagster.core.tasks.instructions import capitalize

# The pools are data: the "paraphrase" section of core/language/phrases.yaml.
_S = shared()

_LEAD = r"(?:I'd like to get help to|I want to|I'd like to|I would like to|I need to|I'm calling to|I am hoping to)"
# Request sentence shapes the instruction writer produces (after first-person rewriting).
_SHAPES: list[re.Pattern[str]] = [
    re.compile(rf"^{_LEAD} (?P<a>.+?) because (?P<m>.+)\.$"),
    re.compile(rf"^(?:Since|As) (?P<m>[^,]+), {_LEAD} (?P<a>.+)\.$"),
    re.compile(rf"^(?P<m>[^,]+), (?:so|which is why) {_LEAD} (?P<a>.+)\.$"),
    re.compile(rf"^{_LEAD} (?P<a>.+?), since (?P<m>.+)\.$"),
    re.compile(rf"^{_LEAD} (?P<a>.+)\.$"),
]
_WITH_MOTIVE: tuple[str, ...] = _S["paraphrase"]["with_motive"]
_PLAIN: tuple[str, ...] = _S["paraphrase"]["plain"]
# Interchangeable frame phrases: any member may stand for any other (none carries content).
_SWAPS: tuple[tuple[str, ...], ...] = _S["paraphrase"]["swaps"]


# Words that may lose their capital when a motive moves inside a sentence (names keep theirs).
_COMMON_OPENERS = frozenset(
    """the a an it its my our this that there some plans work i'm i've i'd i
one two three everything nothing something all his her their we they someone""".split()
)


def _inside(text: str) -> str:
    """A clause as it reads mid-sentence: lower-cased only if it opens with a common word."""
    first = text.split(" ", 1)[0]
    if first == "I" or first.startswith("I'") or first.lower() not in _COMMON_OPENERS:
        return text
    return text[:1].lower() + text[1:]


def paraphrase_request(line: str, rng: random.Random) -> str:
    """One first-person request sentence in other words (the line itself if no shape fits)."""
    if "\n" in line:
        return line
    for shape in _SHAPES:
        m = shape.match(line)
        if m is None:
            continue
        action = m.group("a")
        motive = m.groupdict().get("m")
        if motive:
            template = rng.choice(_WITH_MOTIVE)
            return template.format(a=action, m=_inside(motive), M=capitalize(motive))
        # A clause after ';' reads badly inside a question: only statements then.
        pool = [t for t in _PLAIN if t.endswith(".")] if ";" in action else _PLAIN
        return rng.choice(pool).format(a=action)
    return swap_frames(line, rng)


def swap_frames(text: str, rng: random.Random) -> str:
    """``text`` with each frame phrase it contains swapped for another of its group."""
    for group in _SWAPS:
        pattern = re.compile(
            r"(?<![\w'])(" + "|".join(re.escape(p) for p in sorted(group, key=len, reverse=True)) + r")(?![\w'])", re.I
        )
        text = pattern.sub(lambda m: _fit(m, rng.choice(group)), text)
    return text


def _fit(match: re.Match[str], choice: str) -> str:
    """``choice`` capitalised at a sentence start, else lower-case (except 'I')."""
    before = match.string[: match.start()].rstrip()
    if not before or before.endswith((".", "!", "?")):
        return capitalize(choice)
    if choice.startswith(("I ", "I'")):
        return choice
    return choice[:1].lower() + choice[1:]


_WHO = re.compile(r"(?:^|(?<=[.!?] ))(?:I am|This is|My name is) ([A-Z][a-z]+(?: [A-Z][a-z'-]+)+)\.")
_WHO_SAID: tuple[str, ...] = _S["paraphrase"]["who_said"]


def paraphrase_identity(text: str, rng: random.Random) -> str:
    """An identification line in other words (who the user is said differently)."""
    said = _WHO.sub(lambda m: rng.choice(_WHO_SAID).format(n=m.group(1)), text)
    return said if said != text else swap_frames(text, rng)


def paraphrase_facts(text: str, rng: random.Random) -> str:
    """Supporting fact sentences in other words (frame phrases swapped, content kept)."""
    return swap_frames(text, rng)
