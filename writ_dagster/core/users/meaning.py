"""Whether a text still conveys an instruction line once it is said in other words.

The script checker used to look for each line verbatim; scripts now paraphrase, and an LLM
rewriter may too. A line is conveyed when the text carries every particular of it (the ids,
amounts, numbers, dates and names of the task that it states, which the caller gives from the
task's data: :meth:`~writ_dagster.core.users.outline.TaskOutline.particulars`), every condition
word it has ("if", "unless", "only", "otherwise", a negation), and most of its content words
(stems of words that are not frame words such as "want", "please" or "before"). Frame words may
change freely: they are what a paraphrase varies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from writ_dagster.core.users.outline import states

# Share of a line's content stems the text must carry (the particulars must all be there).
CONTENT_SHARE = 0.6
_CONDITIONS = {
    "if": ("if", "should"),
    "unless": ("unless", "only if", "as long as", "provided"),
    "only": ("only", "just", "unless"),
    "otherwise": ("otherwise", "if not", "else", "instead"),
    "not": ("not", "n't", "never", "no ", "without"),
}
_FRAME = frozenset(
    """
a an the and or but so as at by for from in into of on to with about than then that this these those it its
i me my mine myself you your yours yourself we our they them their he she his her is are was were be been being am
do does did done have has had will would shall should can could may might must want wants like need needs
please calling hoping looking trying wondering able help tell told know hear say said give let make made
before after first agree agreeing decide deciding confirm confirming committing commit anything something
what which why because since while when where who also just really today instead i'd i'll i'm i've
yes okay fine name name's there here some any more very well go going ahead go-ahead again still
""".split()
)


def _stem(word: str) -> str:
    return word.lower()[:5]


def content_stems(text: str) -> set[str]:
    """Stems of the content words of ``text`` (alphabetic, 4+ letters, not frame words)."""
    words = re.findall(r"[A-Za-z][A-Za-z'-]+", text)
    return {_stem(w) for w in words if len(w) >= 4 and w.lower() not in _FRAME}


def _has_condition(text: str, forms: tuple[str, ...]) -> bool:
    low = f" {text.lower()} "
    return any(
        re.search(r"(?<![a-z])" + re.escape(f.strip()) + r"(?![a-z])", low) or (f == "n't" and f in low) for f in forms
    )


def missing(line: str, text: str, particulars: Sequence[str]) -> list[str]:
    """What of ``line`` the ``text`` does not carry (empty: conveyed); ``particulars`` are the values
    ``line`` states, each of which ``text`` must state too, in any of its written forms."""
    out = [f"'{v}'" for v in particulars if not states(text, v)]
    for key, forms in _CONDITIONS.items():
        if _has_condition(line, (key,) if key != "not" else ("not", "n't", "never")) and not _has_condition(
            text, forms
        ):
            out.append(f"the condition word '{key}'")
    stems = content_stems(line)
    if stems:
        have = content_stems(text)
        kept = len(stems & have) / len(stems)
        if kept < CONTENT_SHARE:
            out.append(f"its content words ({kept:.0%} kept: {', '.join(sorted(stems - have))} missing)")
    return out


def conveys(line: str, text: str, particulars: Sequence[str]) -> bool:
    """Whether ``text`` conveys ``line``, whose particulars are ``particulars`` (see the module docstring)."""
    return not missing(line, text, particulars)


def conveyed_in_one(line: str, text: str, particulars: Sequence[str]) -> bool:
    """Whether one line of ``text`` (a paragraph, a said message) conveys ``line`` by itself:
    content scattered over a long text does not count as the line being said."""
    return any(conveys(line, part, particulars) for part in text.split("\n") if part.strip())
