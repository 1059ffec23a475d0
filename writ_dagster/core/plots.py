"""Small PNG plots of the data, for asset metadata: WRIT's two axes as heatmaps, a loss curve, score bars.

Pure (figures in, PNG bytes out) and deterministic: the Agg backend, no timestamp in the file. A plot
goes into an asset's markdown metadata as a data URI (:func:`md_image`), so the Dagster UI shows it
inline and it travels with the materialization.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

# the writes × reads cells every heatmap has, so plots of different batches compare at a glance
MIN_WRITES, MIN_READS = 5, 8
DPI = 80


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display; before pyplot is imported
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return buf.getvalue()


def md_image(png: bytes, alt: str) -> str:
    """Markdown that shows ``png`` inline (a data URI)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def axes_heatmaps(
    panels: Mapping[str, Mapping[tuple[int, int], float]], title: str, value: str = "tasks", percent: bool = False
) -> bytes:
    """One heatmap per panel (e.g. per domain): write count (rows) × most reads before a write (columns),
    each cell a count or, with ``percent``, a rate in [0, 1] shown as a percentage."""
    plt = _pyplot()
    names = list(panels) or ["(none)"]
    writes = max([MIN_WRITES - 1, *(w for p in panels.values() for w, _ in p)]) + 1
    reads = max([MIN_READS - 1, *(r for p in panels.values() for _, r in p)]) + 1
    fig, axes = plt.subplots(
        1, len(names), figsize=(0.45 * reads * len(names) + 1.5, 0.45 * writes + 1.2), squeeze=False
    )
    for ax, name in zip(axes[0], names):
        cells = panels.get(name, {})
        grid = [[cells.get((w, r), float("nan")) for r in range(reads)] for w in range(writes)]
        image = ax.imshow(
            grid,
            origin="lower",
            cmap="viridis",
            aspect="auto",
            vmin=0,
            vmax=1 if percent else max([1, *cells.values()]),
        )
        for (w, r), v in cells.items():
            ax.text(
                r,
                w,
                f"{v:.0%}" if percent else f"{v:g}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if (v < 0.6 if percent else v < 0.6 * max(cells.values())) else "black",
            )
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("most reads before a write", fontsize=8)
        ax.set_ylabel("writes", fontsize=8)
        ax.set_xticks(range(reads))
        ax.set_yticks(range(writes))
        ax.tick_params(labelsize=7)
        fig.colorbar(image, ax=ax, label=value, shrink=0.8)
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def loss_curve(points: Sequence[tuple[int, float]], title: str) -> bytes:
    """Training loss by step."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3))
    if points:
        ax.plot([s for s, _ in points], [v for _, v in points], marker="o", markersize=3)
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("training loss", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)
    return _png(fig)


def bar_label(score: float | None) -> str:
    """A score bar's label: a zero-height bar says that nothing passed, and a model with no score in a
    domain says so rather than reading as 0."""
    if score is None:
        return "no score"
    return f"{score:.2f}\nnone passed" if score == 0 else f"{score:.2f}"


def score_bars(scores: Mapping[str, Mapping[str, float]], title: str, value: str) -> bytes:
    """Grouped bars: one group per key of ``scores`` (a domain), one bar per model in it."""
    plt = _pyplot()
    groups = list(scores)
    models = sorted({m for s in scores.values() for m in s}, key=lambda m: (m != "base", m))
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(1.2 + 1.4 * max(1, len(groups)), 3))
    for i, model in enumerate(models):
        xs = [g + (i - (len(models) - 1) / 2) * width for g in range(len(groups))]
        ys = [scores[name].get(model) for name in groups]
        bars = ax.bar(xs, [y or 0.0 for y in ys], width, label=model)
        ax.bar_label(bars, labels=[bar_label(y) for y in ys], fontsize=7)
    ax.axhline(0.0, color="0.3", linewidth=0.8)  # a score of 0 has no bar: the axis line shows where it would be
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(value, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    return _png(fig)
