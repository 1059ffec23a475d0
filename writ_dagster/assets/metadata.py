"""Small markdown renderings of figures for asset metadata, shared by every asset."""

from __future__ import annotations


def counts_markdown(counts: dict[str, int], key: str, value: str = "count") -> str:
    """A two-column markdown table of a count mapping (``_none_`` if empty)."""
    if not counts:
        return "_none_"
    lines = [f"| {key} | {value} |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in counts.items()]
    return "\n".join(lines)
