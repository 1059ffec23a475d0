"""Phrase pools as data, and the one seeded picker every speaker uses.

A pool is a list of phrasings of one meaning. Pools live in YAML files shipped with the package:
the shared ones in this folder (``phrases.yaml``), each domain's in its own folder
(``core/tasks/<domain>/phrases.yaml``). :func:`pools` reads a package's file once; a mapping of
pools keeps its keys, every list becomes a tuple. Adding a phrasing is an edit to a data file.

:func:`pick` chooses one phrasing with the conversation's or the task's ``random.Random``, one
draw per pick (``rng.randrange(len(options))``, the same draw as ``rng.choice``), so a given seed
speaks the same words; ``{slot}`` fields are filled from its keyword arguments.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from string import Formatter
from typing import Any

import yaml

FILE = "phrases.yaml"


def pick(rng: random.Random | None, options: Sequence[str], **slots: object) -> str:
    """One of ``options``, chosen by ``rng`` (the first without one: stable wording), its ``{slots}``
    filled when slots are given (a pool picked with slots writes a literal brace as ``{{``); without
    slots the phrasing comes back as written, its slots left for the caller to fill."""
    chosen = options[0] if rng is None else options[rng.randrange(len(options))]
    return chosen.format(**slots) if slots else chosen


@lru_cache(maxsize=4096)
def slot_names(template: str) -> tuple[str, ...]:
    """The ``{slots}`` ``template`` names, in order (each once)."""
    return tuple(dict.fromkeys(name for _, name, _, _ in Formatter().parse(template) if name))


class Slots(dict[str, Any]):
    """Slots for ``str.format_map`` whose callable values are worked out only when a template names them."""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        return value() if callable(value) else value


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


@lru_cache(maxsize=None)
def pools(package: str, file: str = FILE) -> dict[str, Any]:
    """The pools of ``package`` (a dotted package name) read from its ``file``, lists as tuples."""
    text = resources.files(package).joinpath(file).read_text(encoding="utf-8")
    loaded = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return _frozen(loaded or {})


def shared() -> dict[str, Any]:
    """The pools every domain shares (the scripted agent's grammar, the instruction writer's frames)."""
    return pools(__package__ or "writ_dagster.core.language")
