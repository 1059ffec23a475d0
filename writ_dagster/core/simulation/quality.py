"""Data-quality figures of a batch of conversations: how varied the language is, whether the agent
shows its evidence, and which agent sentences repeat most.

Pure functions of message dicts (tau2 JSON) and the tasks' recorded comparisons, so the
Dagster metadata, the CLI and a notebook compute the same numbers. Variety is measured on
sentences with their particulars masked (ids, amounts, numbers, emails, dates, names): two
sentences that differ only in a reservation id are one sentence template.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from writ_dagster.core.domains.pack import pack_of
from writ_dagster.core.domains.registry import WRIT_DOMAINS, get_domain
from writ_dagster.core.tasks.models import Comparison, TaskRecord
from writ_dagster.core.tasks.variety import mask

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z<#$])")


def split_sentences(text: str) -> list[str]:
    """The sentences of a message (split after . ! ? before a capital, an amount or an id)."""
    return [s.strip() for s in _SENTENCE_END.split(text or "") if s.strip()]


def role_sentences(conversations: Iterable[Sequence[dict[str, Any]]], role: str) -> list[str]:
    """Every sentence of ``role``'s text messages (tool calls carry no text), in order."""
    out: list[str] = []
    for messages in conversations:
        for m in messages:
            if m.get("role") == role and m.get("content"):
                out += split_sentences(str(m["content"]).replace("###STOP###", ""))
    return out


def distinct_share(sentences: Sequence[str]) -> float:
    """Distinct masked sentences over all sentences (1.0: no sentence template repeats)."""
    if not sentences:
        return 0.0
    return round(len({mask(s) for s in sentences}) / len(sentences), 4)


def most_repeated(sentences: Sequence[str], n: int = 10) -> list[tuple[str, int]]:
    """The ``n`` most frequent masked sentences with their counts."""
    return Counter(mask(s) for s in sentences).most_common(n)


@lru_cache(maxsize=1)
def _domains_writes() -> tuple[frozenset[str], tuple[str, ...]]:
    """The write tools of every WRIT domain (tau2's own tool kinds) and the argument names that name the
    record a write acts on (each domain's pack), in domain order: the messages alone do not say their domain."""
    domains = [get_domain(name) for name in WRIT_DOMAINS]
    writes = frozenset(tool for d in domains for tool in d.write_tools)
    return writes, tuple(dict.fromkeys(key for d in domains for key in pack_of(d).target_keys))


def _is_write(name: str) -> bool:
    return name in _domains_writes()[0]


def call_parts(call: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(name, arguments) of a tool call in tau2's shape or OpenAI's (``function`` with JSON text)."""
    fn = call.get("function") or call
    args = fn.get("arguments") or {}
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            args = {}
    return str(fn.get("name", "")), args if isinstance(args, dict) else {}


def write_turns(messages: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """Each write call of a conversation with the assistant text said since the previous write."""
    out: list[tuple[dict[str, Any], str]] = []
    said: list[str] = []
    for m in messages:
        if m.get("role") != "assistant":
            continue
        if m.get("content"):
            said.append(str(m["content"]))
        for call in m.get("tool_calls") or []:
            if _is_write(call_parts(call)[0]):
                out.append((call, " ".join(said)))
                said = []
    return out


def names_set_aside(messages: Sequence[dict[str, Any]]) -> bool:
    """Whether, before some write, the agent named a record it read but the write does not act on.

    Needs no record of the comparison: the candidates are the record ids (a reservation's, an order's)
    the conversation's reads looked up, minus the ids in the write's own arguments.
    """
    keys = _domains_writes()[1]
    read_ids: set[str] = set()
    said: list[str] = []
    for m in messages:
        if m.get("role") != "assistant":
            continue
        if m.get("content"):
            said.append(str(m["content"]))
        for call in m.get("tool_calls") or []:
            name, args = call_parts(call)
            ids = {str(args[k]) for k in keys if args.get(k)}
            if not _is_write(name):
                read_ids |= ids
                continue
            text = " ".join(said)
            if any(i in text for i in read_ids - ids):
                return True
            said = []
    return False


def shows_evidence(messages: Sequence[dict[str, Any]], comparisons: Sequence[Sequence[Comparison]]) -> bool:
    """Whether, before a write decided by comparing records, the agent named a candidate it set
    aside and the value that decided (``comparisons``: one list per write, in plan order)."""
    for k, (_, text) in enumerate(write_turns(messages)):
        for c in comparisons[k] if k < len(comparisons) else []:
            if c.chosen.value in text and any(o.name in text for o in c.others):
                return True
    return False


def quality_figures(
    conversations: Sequence[Sequence[dict[str, Any]]],
    read_heavy: Sequence[bool],
    comparisons: Sequence[Sequence[Sequence[Comparison]]],
    top: int = 10,
) -> dict[str, Any]:
    """The figures of a batch: variety of agent and user language, evidence in read-heavy rows,
    and the most repeated agent sentences (all lists run parallel to ``conversations``)."""
    agent = role_sentences(conversations, "assistant")
    user = role_sentences(conversations, "user")
    heavy = [i for i, h in enumerate(read_heavy) if h]
    evidence = sum(shows_evidence(conversations[i], comparisons[i]) for i in heavy)
    set_aside = sum(names_set_aside(conversations[i]) for i in heavy)
    share = (lambda k: round(k / len(heavy), 4)) if heavy else (lambda k: 0.0)
    return {
        "agent_sentences": len(agent),
        "agent_distinct_share": distinct_share(agent),
        "user_sentences": len(user),
        "user_distinct_share": distinct_share(user),
        "read_heavy_rows": len(heavy),
        "read_heavy_evidence_share": share(evidence),
        "read_heavy_set_aside_named_share": share(set_aside),
        "top_agent_sentences": [{"sentence": s, "count": c} for s, c in most_repeated(agent, top)],
    }


def task_comparisons(task: TaskRecord | None) -> list[list[Comparison]]:
    """The recorded comparisons of a task, one list per write (empty for an unknown task)."""
    return [list(w.comparisons) for w in task.axes.per_write] if task is not None else []


def rows_quality(rows: Sequence[Any], tasks: dict[str, TaskRecord], top: int = 10) -> dict[str, Any]:
    """:func:`quality_figures` of stored rows (trajectory records or SFT rows: anything with
    ``messages``, ``trajectory_type`` and ``task_id``) and the tasks they were made from."""
    return quality_figures(
        [r.messages for r in rows],
        [r.trajectory_type == "read-heavy" for r in rows],
        [task_comparisons(tasks.get(r.task_id)) for r in rows],
        top,
    )


def quality_markdown(figures: dict[str, Any]) -> str:
    """The figures as a short markdown block for the Dagster UI."""
    lines = [
        "| language | sentences | distinct after masking |",
        "|---|---|---|",
        f"| agent | {figures.get('agent_sentences', 0)} | {figures.get('agent_distinct_share', 0):.1%} |",
        f"| user | {figures.get('user_sentences', 0)} | {figures.get('user_distinct_share', 0):.1%} |",
        "",
        f"Read-heavy rows: {figures.get('read_heavy_rows', 0)}; the agent names a candidate it set aside and the "
        f"deciding value in {figures.get('read_heavy_evidence_share', 0):.1%} of them (names a set-aside record at "
        f"all: {figures.get('read_heavy_set_aside_named_share', 0):.1%}).",
        "",
        "| most repeated agent sentences | count |",
        "|---|---|",
    ]
    lines += [f"| {md_cell(t['sentence'])} | {t['count']} |" for t in figures.get("top_agent_sentences", [])]
    return "\n".join(lines)


def md_cell(text: str) -> str:
    """``text`` safe in a markdown table cell: a ``|`` would end the cell, and ``<id>`` would be read as an
    HTML tag and vanish."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "&#124;")
