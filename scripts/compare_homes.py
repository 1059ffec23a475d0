"""Compare every table of two WRIT homes' databases, row for row.

Used to show that a refactor changed no data: run the same `writ run` into two homes (one per code
version), then

    python scripts/compare_homes.py HOME_A HOME_B

Each home's own WRIT_HOME path and code versions are replaced by placeholders in every text
column before comparing, so paths and JSON fields that merely record them do not count as a
difference; so are the ids that are digests of the code version or the clock (SFT versions,
checkpoint and evaluation ids) and the folder names that digest the source building them,
wherever they appear in text. Timestamps (`written_at`) are left
out, and so are the columns in `VOLATILE`: the ones that differed between two runs of the same code
whose only change was a comment in `core/` (which changes the code version) — content hashes and
digests that include the code version, and measured latencies. Rows are compared as sorted multisets
of the remaining columns. Exits 1 and lists the differing tables when any differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import polars as pl

CODE_VERSION_SOURCES = ("partition_runs", "stage_runs", "sft_sets", "checkpoints", "evaluations")
# Ids derived from the code version or the clock, replaced by placeholders in every text column
# (longest first: a checkpoint id contains its SFT version).
DERIVED_IDS = (("checkpoints", "checkpoint_id"), ("evaluations", "evaluation_id"), ("sft_sets", "sft_version"))
# Folder names that are digests of the source code that builds them (the CPU recipe's tiny base).
SOURCE_DIGESTS = ((r"tiny-qwen3-base-[0-9a-f]{16}", "tiny-qwen3-base-<source-digest>"),)
VOLATILE = frozenset(
    {
        "trajectories.content_hash",
        "trajectories.latency_s",
        "trajectory_lineage.trajectory_content_hash",
        "sft_lineage.trajectory_content_hash",
        "sft_rows.row_id",
        "sft_lineage.row_id",
        "sft_sets.trajectories_digest",
        "stage_runs.content_digest",
        "stage_runs.figures_json",
        "evaluations.figures_json",
    }
)


def _code_versions(con: duckdb.DuckDBPyConnection, tables: set[str]) -> set[str]:
    versions: set[str] = set()
    for table in CODE_VERSION_SOURCES:
        if table in tables:
            versions |= {r[0] for r in con.sql(f"SELECT DISTINCT code_version FROM {table}").fetchall()}
    return versions


def _placeholders(con: duckdb.DuckDBPyConnection, tables: set[str]) -> dict[str, str]:
    """Text to replace in every string column: derived ids first, longest first, then code versions."""
    out: dict[str, str] = {}
    for table, column in DERIVED_IDS:
        if table in tables:
            values = sorted(r[0] for r in con.sql(f"SELECT DISTINCT {column} FROM {table}").fetchall())
            out.update({value: f"<{column}:{i}>" for i, value in enumerate(values)})
    out.update({version: "<code-version>" for version in _code_versions(con, tables)})
    return dict(sorted(out.items(), key=lambda kv: -len(kv[0])))


def _normalized(
    con: duckdb.DuckDBPyConnection, table: str, home: Path, replace: dict[str, str], ignore: set[str]
) -> pl.DataFrame:
    frame = con.sql(f'SELECT * FROM "{table}"').pl()
    keep = [c for c in frame.columns if c != "written_at" and c not in ignore and f"{table}.{c}" not in ignore]
    frame = frame.select(keep)
    for column, dtype in frame.schema.items():
        if dtype == pl.String:
            expr = pl.col(column).str.replace_all(str(home), "<home>", literal=True)
            for old, new in replace.items():
                expr = expr.str.replace_all(old, new, literal=True)
            for pattern, new in SOURCE_DIGESTS:
                expr = expr.str.replace_all(pattern, new)
            frame = frame.with_columns(expr)
    return frame.sort(frame.columns, nulls_last=True) if frame.columns else frame


def compare(home_a: Path, home_b: Path, ignore: set[str]) -> list[str]:
    """The lines of a report; a line starting with 'DIFF' names a table whose rows differ."""
    con_a = duckdb.connect(str(home_a / "writ.duckdb"), read_only=True)
    con_b = duckdb.connect(str(home_b / "writ.duckdb"), read_only=True)
    query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
    tables_a = {r[0] for r in con_a.sql(query).fetchall()}
    tables_b = {r[0] for r in con_b.sql(query).fetchall()}
    lines = [
        f"DIFF tables only in {name}: {sorted(only)}"
        for name, only in (("A", tables_a - tables_b), ("B", tables_b - tables_a))
        if only
    ]
    replace_a, replace_b = _placeholders(con_a, tables_a), _placeholders(con_b, tables_b)
    for table in sorted(tables_a & tables_b):
        a = _normalized(con_a, table, home_a, replace_a, ignore)
        b = _normalized(con_b, table, home_b, replace_b, ignore)
        if a.columns != b.columns:
            lines.append(f"DIFF {table}: columns {a.columns} != {b.columns}")
        elif a.height != b.height:
            lines.append(f"DIFF {table}: {a.height} rows != {b.height} rows")
        elif not a.equals(b):
            bad = [c for c in a.columns if not a[c].equals(b[c])]
            lines.append(f"DIFF {table}: {a.height} rows, columns that differ: {bad}")
        else:
            lines.append(f"same {table}: {a.height} rows x {len(a.columns)} columns")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("home_a", type=Path)
    parser.add_argument("home_b", type=Path)
    parser.add_argument(
        "--ignore",
        default=",".join(sorted(VOLATILE)),
        help="comma-separated columns to leave out, NAME or TABLE.NAME (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    ignore = {c.strip() for c in args.ignore.split(",") if c.strip()}
    lines = compare(args.home_a.resolve(), args.home_b.resolve(), ignore)
    print("\n".join(lines))
    differing = sum(line.startswith("DIFF") for line in lines)
    print(f"{len(lines) - differing} tables the same, {differing} differ")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
