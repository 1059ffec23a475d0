"""Measuring the two WRIT axes on an executed gold plan."""

from __future__ import annotations

from typing import Sequence

from writ_dagster.core.tasks.models import AxisMeasure, Burden, Comparison, PlanStep, WriteMeasure


def measure_axes(
    plan: Sequence[PlanStep],
    outputs: Sequence[str],
    candidates: Sequence[int],
    burdens: Sequence[Burden],
    comparisons: Sequence[Sequence[Comparison]] = (),
) -> AxisMeasure:
    """Count, for each write, the reads made since the previous write and their output size.

    ``outputs`` holds each step's tool output; ``candidates``/``burdens`` (and ``comparisons``,
    when given) hold one entry per write, in plan order.
    """
    per_write: list[WriteMeasure] = []
    reads = chars = 0
    w = 0
    for step, out in zip(plan, outputs):
        if step.kind == "read":
            reads += 1
            chars += len(out)
        elif step.kind == "write":
            per_write.append(
                WriteMeasure(
                    tool=step.name,
                    burden=burdens[w],
                    reads=reads,
                    candidates=candidates[w],
                    evidence_chars=chars,
                    comparisons=list(comparisons[w]) if w < len(comparisons) else [],
                )
            )
            w += 1
            reads = chars = 0
    total_reads = sum(1 for s in plan if s.kind == "read")
    writes = len(per_write)
    return AxisMeasure(
        writes=writes,
        reads=total_reads,
        max_reads_before_write=max((m.reads for m in per_write), default=0),
        reads_per_write=round(total_reads / writes, 4) if writes else 0.0,
        per_write=per_write,
    )


def reads_between_writes(kinds: Sequence[str]) -> list[int]:
    """Reads before each write (since the previous one), for any sequence of step kinds."""
    out: list[int] = []
    reads = 0
    for kind in kinds:
        if kind == "read":
            reads += 1
        elif kind == "write":
            out.append(reads)
            reads = 0
    return out
