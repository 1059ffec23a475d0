"""Figures about a synthesized batch of tasks that a person reads: counts and a small markdown table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from writ_dagster.core.tasks.models import Rejection, TaskRecord

# Evidence-burden buckets of `max_reads_before_write` (the read axis of WRIT).
BURDEN_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-1", 0, 1),
    ("2-3", 2, 3),
    ("4-5", 4, 5),
    ("6-8", 6, 8),
    ("9+", 9, None),
)


def burden_bucket(reads: int) -> str:
    """The bucket label of a ``max_reads_before_write`` value."""
    for label, lo, hi in BURDEN_BUCKETS:
        if reads >= lo and (hi is None or reads <= hi):
            return label
    return BURDEN_BUCKETS[0][0]


def rejection_counts(rejections: Sequence[Rejection]) -> dict[str, int]:
    """Rejected attempts per reason, most frequent first."""
    return dict(Counter(r.reason for r in rejections).most_common())


def write_tool_counts(records: Sequence[TaskRecord]) -> dict[str, int]:
    """How often each write tool appears in the gold plans, most frequent first."""
    return dict(Counter(s.name for r in records for s in r.gold_actions if s.kind == "write").most_common())


def joint_counts(records: Sequence[TaskRecord]) -> dict[tuple[int, str], int]:
    """Tasks per (write count, evidence-burden bucket)."""
    return dict(Counter((r.axes.writes, burden_bucket(r.axes.max_reads_before_write)) for r in records))


def joint_table_markdown(records: Sequence[TaskRecord]) -> str:
    """Markdown table: rows are write counts, columns are buckets of max reads before a write."""
    joint = joint_counts(records)
    labels = [b[0] for b in BURDEN_BUCKETS]
    writes = sorted({w for w, _ in joint})
    head = "| writes \\ max reads before a write | " + " | ".join(labels) + " | total |"
    sep = "|---" * (len(labels) + 2) + "|"
    lines = [head, sep]
    for w in writes:
        cells = [joint.get((w, b), 0) for b in labels]
        lines.append(f"| {w} | " + " | ".join(str(c) for c in cells) + f" | {sum(cells)} |")
    totals = [sum(joint.get((w, b), 0) for w in writes) for b in labels]
    lines.append("| total | " + " | ".join(str(t) for t in totals) + f" | {sum(totals)} |")
    return "\n".join(lines)
