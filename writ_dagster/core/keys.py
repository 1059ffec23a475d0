"""Partition keys shared by storage, the CLI and the Dagster definitions.

A batch key names one synthesis batch of a domain (``b0000``, ``b0001``, ...). It ends up
inside task ids and Dagster multi-partition keys, so its alphabet is kept narrow.
"""

from __future__ import annotations

import re

# The partitioned domains come from the registry (the one list of domains); imported from here too.
from writ_dagster.core.domains.registry import WRIT_DOMAINS

DEFAULT_BATCH = "b0000"
# ASCII digits only, exactly four: one spelling per batch (b0001, never b00001 or b0001 + newline).
BATCH_KEY_RE = re.compile(r"b[0-9]{4}")
MAX_BATCH = 9999


class BadKeyError(ValueError):
    """A domain or batch key that WRIT does not know or cannot use."""


def batch_key(n: int) -> str:
    """The key of batch number ``n`` (``batch_key(3) == 'b0003'``)."""
    if not 0 <= n <= MAX_BATCH:
        raise BadKeyError(f"batch number must be 0 to {MAX_BATCH}, got {n}")
    return f"b{n:04d}"


def check_batch_key(key: str) -> str:
    """Return ``key`` if it is a well-formed batch key, else raise :class:`BadKeyError`."""
    if not isinstance(key, str) or not BATCH_KEY_RE.fullmatch(key):
        raise BadKeyError(
            f"bad batch key {key!r}: expected 'b' followed by exactly 4 digits 0-9, like {DEFAULT_BATCH!r}"
        )
    return key


def check_domain(name: str) -> str:
    """Return ``name`` if it is one of WRIT's partitioned domains, else raise :class:`BadKeyError`."""
    if name not in WRIT_DOMAINS:
        raise BadKeyError(f"unknown domain {name!r}; expected one of: {', '.join(WRIT_DOMAINS)}")
    return name
