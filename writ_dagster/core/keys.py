"""Partition keys shared by storage, the CLI and the Dagster definitions.

A batch key names one synthesis batch of a domain (``b0000``, ``b0001``, ...). It ends up
inside task ids and Dagster multi-partition keys, so its alphabet is kept narrow.
"""

from __future__ import annotations

import re

# The partitioned domains come from the registry (the one list of domains); imported from here too.
from writ_dagster.core.domains.registry import WRIT_DOMAINS

DEFAULT_BATCH = "b0000"
BATCH_KEY_RE = re.compile(r"^b\d{4,6}$")


class BadKeyError(ValueError):
    """A domain or batch key that WRIT does not know or cannot use."""


def batch_key(n: int) -> str:
    """The key of batch number ``n`` (``batch_key(3) == 'b0003'``)."""
    if n < 0:
        raise BadKeyError(f"batch number must be non-negative, got {n}")
    return f"b{n:04d}"


def check_batch_key(key: str) -> str:
    """Return ``key`` if it is a well-formed batch key, else raise :class:`BadKeyError`."""
    if not BATCH_KEY_RE.match(key):
        raise BadKeyError(f"bad batch key {key!r}: expected 'b' followed by 4-6 digits, like {DEFAULT_BATCH!r}")
    return key


def check_domain(name: str) -> str:
    """Return ``name`` if it is one of WRIT's partitioned domains, else raise :class:`BadKeyError`."""
    if name not in WRIT_DOMAINS:
        raise BadKeyError(f"unknown domain {name!r}; expected one of: {', '.join(WRIT_DOMAINS)}")
    return name
