"""The to-do domain's pack: it declares a transfer part beside plain writes."""

from __future__ import annotations

from writ_dagster.core.domains.pack import DomainPack


class TodoPack(DomainPack):
    part_kinds = frozenset({"write", "transfer"})
    target_keys = ("task_id",)
    record_words = {"tasks": "task"}


PACK = TodoPack()
