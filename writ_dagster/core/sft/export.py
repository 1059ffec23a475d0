"""Writing an SFT set as Parquet files trainers load unchanged, with a dataset card."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from statistics import median

import pyarrow as pa
import pyarrow.parquet as pq

from writ_dagster.core.sft.compliance import REASONS, policy_counts
from writ_dagster.core.sft.filters import every_filter
from writ_dagster.core.sft.models import RecipeLengths, SFTBuild, SFTRow
from writ_dagster.core.training.lengths import LengthFigures, length_figures, message_characters

_CALL = pa.struct(
    [
        ("id", pa.string()),
        ("type", pa.string()),
        ("function", pa.struct([("name", pa.string()), ("arguments", pa.string())])),
    ]
)
_MESSAGE = pa.struct(
    [("role", pa.string()), ("content", pa.string()), ("tool_calls", pa.list_(_CALL)), ("tool_call_id", pa.string())]
)
SCHEMA = pa.schema(
    [
        ("domain", pa.string()),
        ("trajectory_type", pa.string()),
        ("has_user_script", pa.bool_()),
        ("messages", pa.list_(_MESSAGE)),
        ("tools", pa.string()),
        ("trajectory_id", pa.string()),
        ("task_id", pa.string()),
        ("script_id", pa.string()),
        ("partition", pa.string()),
        ("sft_version", pa.string()),
        ("family", pa.string()),
        ("writes", pa.int32()),
        ("reads", pa.int32()),
        ("max_reads_before_write", pa.int32()),
        ("tokens", pa.int32()),
    ]
)

ROW_GROUP = 256  # rows converted and written at a time (bounds the memory a large set needs)


def _table(rows: list[SFTRow]) -> pa.Table:
    cols = {name: [getattr(r, name) for r in rows] for name in SCHEMA.names}
    return pa.Table.from_pydict(cols, schema=SCHEMA)


def _write_parquet(rows: list[SFTRow], path: Path) -> None:
    with pq.ParquetWriter(path, SCHEMA) as writer:
        for start in range(0, len(rows), ROW_GROUP):
            writer.write_table(_table(rows[start : start + ROW_GROUP]))
        if not rows:
            writer.write_table(_table([]))


def write_sft(build: SFTBuild, out_dir: str | Path) -> dict[str, Path]:
    """Write ``train.parquet``, ``validation.parquet`` (if any rows) and ``README.md``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for split in ("train", "validation"):
        rows = [r for r in build.rows if r.split == split]
        if rows or split == "train":
            path = out / f"{split}.parquet"
            tmp = path.with_suffix(".parquet.tmp")
            _write_parquet(rows, tmp)
            tmp.replace(path)  # readers never see half a file
            paths[split] = path
    (out / "README.md").write_text(dataset_card(build))
    paths["card"] = out / "README.md"
    return paths


# What each family asks, as the card explains it (every value of the `family` column).
FAMILY_MEANING: dict[str, str] = {
    "writes": "only writes (each with the reads that determine its arguments)",
    "refusal": "a request the policy forbids, declined with its reason",
    "mixed": "writes plus one refused request",
    "transfer": "a request the policy hands to a human agent (`transfer_to_human_agents` last)",
    "information": "a question the agent answers from what it reads (the answer is in `communicate_info`)",
    "conditional": "a write wanted only on one side of a limit the user sets (the agent states the figure first)",
    "change_of_mind": "a write the user asks for, then declines when read back, and a different one instead",
}


def dataset_card(build: SFTBuild) -> str:
    """A README with the set's statistics and how it was made: columns, the two axes, families, every
    filter with its count, lengths and one sample record."""
    lines = _card_intro(build) + _statistics_section(build)
    lines += length_section(build.lengths) if build.lengths is not None else _character_lengths(build.rows)
    if build.policy_filter or any(r in build.dropped for r in REASONS):
        lines += _policy_section(build)
    return "\n".join(lines + sample_section(build.rows))


def _card_intro(build: SFTBuild) -> list[str]:
    """The front matter, what the set is, and its columns."""
    return [
        "---",
        "license: mit",
        "task_categories: [text-generation]",
        "tags: [tau2-bench, tool-use, agents, writ]",
        "---",
        "",
        f"# WRIT SFT set `{build.version}`",
        "",
        "Multi-turn, tool-using customer-service conversations in τ²-bench's airline and retail domains, "
        "synthesized with writ-dagster: tasks made hard along the write axis (write decisions per task) "
        "and the read axis (evidence gathered before each write), played by an agent and a simulated "
        "user in the real τ²-bench environment and kept only if τ²-bench's evaluator scores them 1.0.",
        "",
        "## Columns",
        "",
        "- `domain`, `trajectory_type` (normal | write-intensive | read-heavy), `has_user_script`: as in WRIT-2K.",
        "- `family`: what the task asks beyond writes: "
        + "; ".join(f"`{name}`: {meaning}" for name, meaning in FAMILY_MEANING.items())
        + ".",
        "- `writes`, `reads`, `max_reads_before_write`: the task's gold plan on WRIT's two axes (write actions, "
        "read actions, and the most reads any one write needs before its arguments are known).",
        "- `tokens`: the row's length under the training recipe the set was built for (its tokenizer and chat "
        "template, tools included); empty where the tokenizer was not at hand.",
        "- `messages`: OpenAI chat format; the system message is τ²-bench's agent prompt with the domain policy. "
        "Tool-call `arguments` are JSON text.",
        "- `tools`: JSON text of the domain's OpenAI function schemas (parse it before passing to a chat template).",
        "- lineage: `trajectory_id`, `task_id`, `script_id`, `partition`, `sft_version` "
        "(`writ trace` follows them back to the DB entities, seed and config; `writ show` prints one).",
        "",
    ]


def _statistics_section(build: SFTBuild) -> list[str]:
    """Counts: rows, conversation sizes, the two axes, families, cells and every filter's toll."""
    splits = Counter(r.split for r in build.rows)
    turns = [len(r.messages) for r in build.rows] or [0]
    calls = [sum(len(m["tool_calls"] or []) for m in r.messages) for r in build.rows] or [0]
    return [
        "## Statistics",
        "",
        f"- rows: {len(build.rows)} (train {splits.get('train', 0)}, validation {splits.get('validation', 0)}; "
        "split by task)",
        f"- messages per conversation: min {min(turns)}, median {median(turns)}, max {max(turns)}",
        f"- tool calls per conversation: min {min(calls)}, median {median(calls)}, max {max(calls)}",
        f"- trajectories considered: {build.considered}",
        "",
        *axis_table(build.rows),
        "",
        "| family | rows |",
        "|---|---|",
        *[f"| {name} | {n} |" for name, n in _family_counts(build.rows).items()],
        "",
        "| cell (domain/type/user script) | rows |",
        "|---|---|",
        *[f"| {cell} | {n} |" for cell, n in build.cells.items()],
        "",
        "Every filter, in the order they apply, and the trajectories it left out:",
        "",
        "| removed because | trajectories |",
        "|---|---|",
        *[f"| {why} | {n} |" for why, n in every_filter(build.dropped).items()],
        "",
    ]


def _character_lengths(rows: list[SFTRow]) -> list[str]:
    """The lengths section of a set built for no training recipe: characters, not tokens."""
    chars = length_figures([message_characters(r.messages) for r in rows], "characters")
    return [
        "## Lengths",
        "",
        "Built for no training recipe: characters (contents and tool-call arguments), not tokens.",
        "",
        "| rows | unit | count | min | median | p90 | p99 | max | over max_length |",
        "|---|---|---|---|---|---|---|---|---|",
        _figures_row("in the set", chars),
        "",
    ]


def _policy_section(build: SFTBuild) -> list[str]:
    """What the policy-compliance filter left out, rule by rule."""
    return [
        "## Policy compliance",
        "",
        "Conversations that scored 1.0 but broke the domain policy's conduct rules are left out: a write "
        "without an explicit yes from the user right after the agent stated its details, a write whose "
        "details the agent did not state before that yes, more than one tool call in a message, and text "
        "with a tool call in one message.",
        "",
        "| rule broken | trajectories |",
        "|---|---|",
        *[f"| {why.removeprefix('policy: ')} | {n} |" for why, n in policy_counts(build.dropped).items()],
        "",
    ]


def axis_table(rows: list[SFTRow]) -> list[str]:
    """Rows by write count (down) and most reads before a write (across): WRIT's two axes."""
    known = [r for r in rows if r.writes is not None and r.max_reads_before_write is not None]
    if not known:
        return ["_The rows carry no axes (stored before those columns existed)._"]
    reads = sorted({r.max_reads_before_write for r in known if r.max_reads_before_write is not None})
    counts = Counter((r.writes, r.max_reads_before_write) for r in known)
    lines = [
        "| writes \\ most reads before a write | " + " | ".join(map(str, reads)) + " |",
        "|---|" + "---:|" * len(reads),
    ]
    for w in sorted({r.writes for r in known if r.writes is not None}):
        lines.append(f"| {w} | " + " | ".join(str(counts.get((w, k), 0)) for k in reads) + " |")
    return lines


def _family_counts(rows: list[SFTRow]) -> dict[str, int]:
    seen = Counter(r.family for r in rows)
    return {name: seen.get(name, 0) for name in FAMILY_MEANING} | {
        k: v for k, v in seen.items() if k not in FAMILY_MEANING
    }


def sample_section(rows: list[SFTRow]) -> list[str]:
    """One record of the set (the first training row by id), its messages in full, as a trainer reads it."""
    train = sorted((r for r in rows if r.split == "train"), key=lambda r: r.trajectory_id)
    if not train:
        return []
    r = train[0]
    shown = {k: v for k, v in r.model_dump().items() if k not in ("tools", "split")}
    shown["tools"] = f"<{len(json.loads(r.tools))} function schemas, JSON text>"
    shown["messages"] = [
        {
            **m,
            "content": m["content"]
            if m["role"] != "system"
            else f"<τ²-bench's agent prompt and {r.domain} policy, {len(m['content'] or ''):,} characters>",
        }
        for m in r.messages
    ]
    return [
        "## A sample record",
        "",
        f"`{r.trajectory_id}` ({r.domain}, {r.trajectory_type}, {r.family}), the "
        "system prompt and tool schemas shortened here only:",
        "",
        "```json",
        json.dumps(shown, indent=1, ensure_ascii=False, sort_keys=True),
        "```",
        "",
    ]


def _figures_row(what: str, f: LengthFigures) -> str:
    over = "" if f.over_limit is None else f"{f.over_limit:,}"
    return (
        f"| {what} | {f.unit} | {f.rows:,} | {f.min:,} | {f.median:,.0f} | {f.p90:,} | {f.p99:,} | {f.max:,} | {over} |"
    )


def length_section(lengths: RecipeLengths) -> list[str]:
    """The card's account of the rows' lengths under the training recipe the set was built for."""
    lines = ["## Lengths", ""]
    if lengths.counted:
        lines += [
            f"Built for training recipe `{lengths.recipe}`, which trains on at most {lengths.max_length:,} "
            f"tokens per conversation and cuts longer ones at the end (where the final writes are). Each "
            f"row was counted with the recipe's tokenizer (`{lengths.tokenizer}`) and chat template, tools "
            f"included, as its trainer renders it; {lengths.dropped:,} rows longer than "
            f"{lengths.max_length:,} tokens were left out.",
            "",
        ]
    else:
        lines += [
            f"Built for training recipe `{lengths.recipe}` (max_length {lengths.max_length:,} tokens). Token "
            f"lengths: not counted ({lengths.not_counted}); no row was left out for its length, and the "
            "trainer counts them again before it trains. The figures below are characters, not tokens.",
            "",
        ]
    lines += [
        "| rows | unit | count | min | median | p90 | p99 | max | over max_length |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    if lengths.candidates is not None:
        lines.append(_figures_row("before the length filter", lengths.candidates))
    if lengths.rows is not None:
        lines.append(_figures_row("in the set", lengths.rows))
    lines += [_figures_row("in the set", lengths.characters), ""]
    return lines
