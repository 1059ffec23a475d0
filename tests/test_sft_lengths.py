"""Lengths that agree: an SFT set built for a training recipe counts each row in the recipe's own tokens
(its tokenizer and chat template, tools included, as the trainer renders it), drops and counts the rows
the recipe would cut, and shows the distribution in its card; offline, it says the tokens were not
counted and drops nothing.

Uses the CPU recipe's real tokenizer (the tiny base's, built once per session under a shared folder).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from writ_testing import scripted_conversations, session_shared_dir

from writ_dagster.core.sft.curate import OVER_MAX_LENGTH, RecipeLimit, build_sft
from writ_dagster.core.sft.export import write_sft
from writ_dagster.core.sft.models import SFTConfig
from writ_dagster.core.sft.openai_format import chat_rows, domain_prompt_and_tools
from writ_dagster.core.training.lengths import length_figures, message_characters
from writ_dagster.core.training.recipes import get_recipe

pytest.importorskip("trl", reason="the 'llm' extra is not installed")


@pytest.fixture(scope="module")
def scored():
    return scripted_conversations(6, "l0000")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """Where the CPU recipe's tiny base (and so its tokenizer) is built, once for the session."""
    return session_shared_dir(tmp_path_factory) / "models"


@pytest.fixture(scope="module")
def tiny_limit(models_dir):
    """The CPU recipe's limit, counted with its real tokenizer."""
    from writ_dagster.core.stages.sft import recipe_limit

    limit = recipe_limit(get_recipe("cpu-tiny"), models_dir)
    assert limit.count is not None, limit.not_counted
    return limit


def _lengths(limit: RecipeLimit, records) -> dict[str, int]:
    return {r.trajectory_id: limit.count(chat_rows(r), domain_prompt_and_tools(r.domain)[1]) for r in records}


@pytest.mark.timeout(300)
def test_rows_over_the_recipes_max_length_are_dropped_counted_and_shown(scored, tiny_limit, tmp_path) -> None:
    tasks, records = scored
    counts = _lengths(tiny_limit, records)
    # a limit that cuts some rows and keeps others: the median of this batch's lengths
    limit_at = sorted(counts.values())[len(counts) // 2]
    limit = RecipeLimit(recipe="cpu-tiny", tokenizer=tiny_limit.tokenizer, max_length=limit_at,
                        count=tiny_limit.count)
    unlimited = build_sft(records, tasks, SFTConfig())
    build = build_sft(records, tasks, SFTConfig(), limit=limit)

    over = {t for t, n in counts.items() if n > limit_at}
    candidates = {r.trajectory_id for r in unlimited.rows}  # every row that passed the other filters
    assert over & candidates, "the limit should cut some rows of this batch"
    assert build.dropped[OVER_MAX_LENGTH] == len(over & candidates)
    assert {r.trajectory_id for r in build.rows} == candidates - over
    assert all(counts[r.trajectory_id] <= limit_at for r in build.rows)
    # every trajectory is still accounted for, and the version follows the rows
    assert len(build.rows) + sum(build.dropped.values()) == build.considered == len(records)
    assert build.version != unlimited.version

    lengths = build.lengths
    assert lengths is not None and lengths.counted and lengths.max_length == limit_at
    assert lengths.dropped == len(over & candidates)
    assert lengths.candidates == length_figures([counts[t] for t in candidates], "tokens", limit_at)
    assert lengths.rows == length_figures([counts[r.trajectory_id] for r in build.rows], "tokens", limit_at)
    assert lengths.rows.over_limit == 0 and lengths.candidates.over_limit == len(over & candidates)
    assert lengths.characters.unit == "characters" and lengths.characters.over_limit is None
    assert lengths.characters.max == max(message_characters(r.messages) for r in build.rows)

    # the card gives the distribution in the recipe's tokens, and what was left out
    write_sft(build, tmp_path / "set")
    card = (tmp_path / "set" / "README.md").read_text()
    f = lengths.candidates
    assert "## Lengths" in card and "recipe `cpu-tiny`" in card and tiny_limit.tokenizer in card
    assert (f"| before the length filter | tokens | {f.rows:,} | {f.min:,} | {f.median:,.0f} | {f.p90:,} | "
            f"{f.p99:,} | {f.max:,} | {f.over_limit:,} |") in card
    assert f"| {OVER_MAX_LENGTH} | {lengths.dropped} |" in card
    # the Parquet the trainer reads holds the same rows, each counted the same way from the file
    table = pq.read_table(tmp_path / "set" / "train.parquet").to_pylist()
    assert all(tiny_limit.count(r["messages"], r["tools"]) == counts[r["trajectory_id"]] for r in table)


def test_off_the_rows_are_kept_and_the_ones_over_counted(scored, tiny_limit) -> None:
    tasks, records = scored
    counts = _lengths(tiny_limit, records)
    limit_at = min(counts.values())
    build = build_sft(records, tasks, SFTConfig(drop_over_max_length=False),
                      limit=RecipeLimit(recipe="cpu-tiny", tokenizer="t", max_length=limit_at, count=tiny_limit.count))
    assert OVER_MAX_LENGTH not in build.dropped
    assert build.lengths.rows.over_limit == sum(counts[r.trajectory_id] > limit_at for r in build.rows) > 0
    assert f"({build.lengths.rows.over_limit} kept over the limit)" in build.lengths.line()


def test_offline_the_gpu_recipes_tokens_are_not_counted_and_nothing_is_dropped(scored, tmp_path, monkeypatch) -> None:
    from transformers import AutoTokenizer

    from writ_dagster.core.stages.sft import recipe_limit

    recipe = get_recipe("gpu-qwen3-4b")
    try:
        AutoTokenizer.from_pretrained(recipe.base_model, local_files_only=True)
        pytest.skip(f"{recipe.base_model}'s tokenizer is in this machine's cache: nothing is offline here")
    except (OSError, ValueError):
        pass
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    limit = recipe_limit(recipe, tmp_path / "models")
    assert limit.count is None and limit.max_length == 16384
    assert limit.not_counted.startswith("tokenizer of recipe gpu-qwen3-4b not available offline")

    tasks, records = scored
    build = build_sft(records, tasks, SFTConfig(), limit=limit)
    assert build.rows == build_sft(records, tasks, SFTConfig()).rows  # nothing dropped on a guess
    lengths = build.lengths
    assert not lengths.counted and lengths.rows is None and lengths.candidates is None
    assert lengths.characters.rows == len(build.rows) and lengths.characters.unit == "characters"
    line = lengths.line()
    assert line.startswith("token lengths: not counted (tokenizer of recipe gpu-qwen3-4b not available offline")
    assert "characters" in line and "tokens" not in line.split(";", 1)[1]
    write_sft(build, tmp_path / "set")
    card = (tmp_path / "set" / "README.md").read_text()
    assert "Token lengths: not counted (tokenizer of recipe gpu-qwen3-4b not available offline" in card
    assert "| in the set | characters |" in card and "| tokens |" not in card


def test_another_home_in_the_same_process_copies_the_tiny_base(tiny_limit, models_dir, tmp_path) -> None:
    """The sft stage needs the tiny base's tokenizer in every WRIT_HOME: a process that has one copies it
    (the same files, at once) rather than building it again."""
    import time

    from writ_dagster.core.stages.checkpoint import base_model_for

    started = time.perf_counter()
    copied = Path(base_model_for(get_recipe("cpu-tiny"), tmp_path / "models"))
    assert time.perf_counter() - started < 5
    built = models_dir / copied.name
    assert copied.parent == (tmp_path / "models").resolve() and copied.name == tiny_limit.tokenizer
    files = sorted(p.relative_to(built) for p in built.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(copied) for p in copied.rglob("*") if p.is_file())
    assert all((built / f).read_bytes() == (copied / f).read_bytes() for f in files)
