"""The to-do domain's pack: it declares a transfer part beside plain writes, and that its users identify
themselves by phone number (the words for it are this folder's phrases.yaml)."""

from __future__ import annotations

from writ_dagster.core.domains.pack import DomainPack, Identification, IdField


class TodoPack(DomainPack):
    part_kinds = frozenset({"write", "transfer"})
    target_keys = ("task_id",)
    record_words = {"tasks": "task"}
    identification = Identification(fields=(IdField("phone_number", "phone_number"),), ask="phone")


PACK = TodoPack()
