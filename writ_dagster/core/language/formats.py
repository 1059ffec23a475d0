"""One way to write an amount or a date, used by everything that puts one into words.

- :func:`money`: ``$4,389.26``; a whole amount without cents, ``$1,284`` (the way an agent says
  it, and τ²-bench's communicate check, which ignores commas, finds "1284" and "4389.26" in both).
- :func:`day`: ``May 17``; with ``year=True`` ``July 17, 1950`` (a date of birth, where the year
  matters). The travel and booking dates of the τ²-bench DBs all fall in 2024, so they go without it.

Readers of text that may carry such a value (the compliance filter, the scripted user) ask
:func:`renderings` for every form the value may take, so a value is recognised however it is written.
"""

from __future__ import annotations

import datetime as dt
import re

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def money(x: float | int | str) -> str:
    """A dollar amount as the agent says it: "$4,389.26", "$12.50", whole dollars "$1,284".

    What is no number (a model's malformed argument) is said as given, after a "$"."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return f"${x}"
    return f"${v:,.0f}" if v.is_integer() else f"${v:,.2f}"


def day(date: str | dt.date, *, year: bool = False) -> str:
    """An ISO date (or a timestamp, or a ``date``) as a person says it: "May 17"; "July 17, 1950" with ``year``.

    What is no date (a model's malformed argument) is returned as given."""
    if isinstance(date, dt.date):
        d = date
    else:
        try:
            d = dt.date.fromisoformat(str(date)[:10])
        except ValueError:
            return str(date)
    return f"{d:%B} {d.day}, {d.year}" if year else f"{d:%B} {d.day}"


def renderings(value: str) -> tuple[str, ...]:
    """The forms in which text may state ``value`` (as a tool argument holds it): the value itself,
    and for an amount its :func:`money` form with and without "$", for an ISO date its :func:`day`
    forms."""
    if _ISO_DATE.match(value):
        return tuple(dict.fromkeys((value, day(value), day(value, year=True))))
    if _NUMBER.match(value):
        said = money(value)
        return (value, said, said[1:]) if said[1:] != value else (value, said)
    return (value,)


def mentions(text: str, value: str) -> bool:
    """Whether ``text`` contains ``value`` in one of its :func:`renderings`."""
    return any(form in text for form in renderings(value))
