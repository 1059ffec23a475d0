"""Small markdown renderings of figures for asset metadata, shared by every asset."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from writ_dagster.core.home import writ_home
from writ_dagster.core.simulation.quality import quality_markdown

if TYPE_CHECKING:
    from writ_dagster.core.simulation.records import TrajectoryRecord

# Asset metadata as Dagster takes it: MetadataValue, text, numbers, lists, dicts (its RawMetadataValue,
# which dagster does not export).
Metadata = dict[str, Any]


def home_path(path: str | Path) -> dg.MetadataValue:
    """``path`` relative to WRIT_HOME when it lies inside it (a moved or copied home still reads right),
    else as it is."""
    try:
        shown = str(Path(path).resolve().relative_to(writ_home().resolve()))
    except ValueError:
        shown = str(path)
    return dg.MetadataValue.path(shown)


def counts_markdown(counts: dict[str, int], key: str, value: str = "count") -> str:
    """A two-column markdown table of a count mapping (``_none_`` if empty)."""
    if not counts:
        return "_none_"
    lines = [f"| {key} | {value} |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in counts.items()]
    return "\n".join(lines)


def quality_metadata(figures: dict[str, Any]) -> Metadata:
    """Data-quality entries of a batch (see ``core.simulation.quality``): variety of agent and user
    language, evidence shown in read-heavy rows, and the most repeated agent sentences."""
    return {
        "quality_agent_distinct_sentence_share": figures.get("agent_distinct_share", 0.0),
        "quality_user_distinct_sentence_share": figures.get("user_distinct_share", 0.0),
        "quality_read_heavy_evidence_share": figures.get("read_heavy_evidence_share", 0.0),
        "quality_read_heavy_set_aside_named_share": figures.get("read_heavy_set_aside_named_share", 0.0),
        "quality": dg.MetadataValue.md(quality_markdown(figures)),
        "quality_top_agent_sentences": dg.MetadataValue.json(figures.get("top_agent_sentences", [])),
    }


def samples_metadata(records: Sequence[TrajectoryRecord]) -> Metadata:
    """One readable conversation per trajectory type (``sample_<type>``), as ``writ show`` prints it."""
    from writ_dagster.core.domains.registry import get_domain
    from writ_dagster.core.simulation.transcript import transcript_markdown

    out: Metadata = {}
    for r in records:
        head = (
            f"**{r.trajectory_id}**: {r.domain}/{r.partition}, task {r.task_id}, variant {r.variant}, reward "
            f"{r.reward:g}, ended {r.termination_reason}. In a terminal: `writ show {r.trajectory_id}`.\n\n"
        )
        body = transcript_markdown(r.messages, get_domain(r.domain).write_tools)
        out[f"sample_{r.trajectory_type.replace('-', '_')}"] = dg.MetadataValue.md(head + body)
    return out
