"""How long an SFT row is for a training recipe: its tokens as the trainer renders it.

The trainer (TRL's ``SFTTrainer``, :mod:`~writ_dagster.core.training.sft_train`) renders each row
with the tokenizer's chat template, the row's ``tools`` passed to it, and, for assistant-only loss
with a template that has no ``{% generation %}`` markers, TRL's training variant of that template;
then it cuts the token sequence at the recipe's ``max_length``, which loses the end of the
conversation, where its final writes are. :class:`TokenCounter` renders a row the same way and
counts its tokens, so the SFT stage can leave out the rows a recipe would cut, and the training
program counts again (with the tokenizer it actually loaded) before it trains.

Needs transformers (and trl for the training template) only when counting; no tau2, vLLM, Dagster
or DuckDB: the training program imports this module.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field


class LengthFigures(BaseModel):
    """The distribution of row lengths in one unit, and how many rows exceed a limit."""

    unit: Literal["tokens", "characters"]
    rows: int
    min: int = 0
    median: float = 0
    p90: int = 0
    p99: int = 0
    max: int = 0
    limit: int | None = Field(None, description="the length compared against (tokens: the recipe's max_length)")
    over_limit: int | None = Field(None, description="rows longer than `limit` (None: no limit in this unit)")

    def text(self) -> str:
        """One line: ``218 rows: min 310, median 1,502, p90 ..., max ... tokens; 3 over 1,024``."""
        if not self.rows:
            return f"0 rows ({self.unit})"
        over = "" if self.limit is None else f"; {self.over_limit} over {self.limit:,}"
        return (
            f"{self.rows} rows: min {self.min:,}, median {self.median:,.0f}, p90 {self.p90:,}, "
            f"p99 {self.p99:,}, max {self.max:,} {self.unit}{over}"
        )


def _rank(ordered: Sequence[int], share: float) -> int:
    # nearest rank: the smallest value with at least `share` of the rows at or below it
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def length_figures(
    lengths: Iterable[int], unit: Literal["tokens", "characters"], limit: int | None = None
) -> LengthFigures:
    """Min, median, p90, p99 and max of ``lengths`` (nearest rank), and how many exceed ``limit``."""
    ordered = sorted(lengths)
    if not ordered:
        return LengthFigures(unit=unit, rows=0, limit=limit, over_limit=0 if limit is not None else None)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return LengthFigures(
        unit=unit,
        rows=len(ordered),
        min=ordered[0],
        median=median,
        p90=_rank(ordered, 0.9),
        p99=_rank(ordered, 0.99),
        max=ordered[-1],
        limit=limit,
        over_limit=None if limit is None else sum(n > limit for n in ordered),
    )


class TokenizerUnavailable(RuntimeError):
    """The recipe's tokenizer is not at hand (the message completes 'tokenizer of recipe X ...')."""


def _offline() -> bool:
    # read at call time: huggingface_hub reads its own flag once, at import
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def load_tokenizer(name: str, probe_timeout_s: float = 10.0) -> Any:
    """The tokenizer of a model folder or hub id, without waiting on a hub that cannot be reached.

    A folder, or a hub id already in the local cache, loads at once. Otherwise the hub is asked
    once (``probe_timeout_s``) whether the model is there, and only then is the tokenizer
    downloaded: transformers' own retries wait about a minute on a machine without network.
    Raises :class:`TokenizerUnavailable` saying why it is not at hand.
    """
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise TokenizerUnavailable("not available: transformers is not installed (the `llm` extra)") from None
    if Path(name).expanduser().is_dir():
        return AutoTokenizer.from_pretrained(str(Path(name).expanduser()))
    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError):
        pass  # not in the local cache
    if _offline():
        raise TokenizerUnavailable(f"not available offline ({name} is not in the local cache; HF_HUB_OFFLINE is set)")
    try:
        from huggingface_hub import HfApi

        HfApi().model_info(name, timeout=probe_timeout_s)
    except Exception as exc:  # noqa: BLE001 - no network, no such model, gated: all mean 'not at hand'
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise TokenizerUnavailable(
            f"not available offline ({name} is not in the local cache and the hub did not answer: {reason})"
        ) from None
    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise TokenizerUnavailable(f"could not be downloaded ({name}: {str(exc).splitlines()[0][:160]})") from None


def training_chat_template(tok: Any, assistant_only_loss: bool) -> str | None:
    """The chat template TRL renders with instead of the tokenizer's own, or None if it keeps the own one.

    With assistant-only loss and a template without ``{% generation %}`` markers, TRL swaps in its
    training variant (the Qwen3 Instruct-2507 template is one); the count must use the same one.
    """
    if not assistant_only_loss or not isinstance(tok.chat_template, str):
        return None
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tok.chat_template):
        return None
    return get_training_chat_template(tok)


class TokenCounter:
    """Counts a row's tokens as the trainer renders it: chat template, tools, training template."""

    def __init__(self, tok: Any, assistant_only_loss: bool = True, chat_template: str | None = None) -> None:
        self.tok = tok
        self.chat_template = (
            chat_template if chat_template is not None else training_chat_template(tok, assistant_only_loss)
        )

    def __call__(self, messages: list[dict[str, Any]], tools: str | list[dict[str, Any]] | None) -> int:
        """Tokens of one row (``tools`` as the JSON text the SFT Parquet holds, or parsed)."""
        parsed = json.loads(tools) if isinstance(tools, str) else tools
        out = self.tok.apply_chat_template(
            messages, tools=parsed, chat_template=self.chat_template, tokenize=True, return_dict=True
        )
        return len(out["input_ids"])


def message_characters(messages: Iterable[dict[str, Any]]) -> int:
    """Characters of a row's text: message contents and tool-call arguments (not the tool schemas)."""
    total = 0
    for m in messages:
        total += len(m.get("content") or "")
        for call in m.get("tool_calls") or []:
            total += len((call.get("function") or {}).get("arguments") or "")
    return total
