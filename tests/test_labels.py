"""The figures the UI shows under a name are what the name says: each is recounted here from the stored
rows (plain SQL and JSON, not WRIT's own summaries) on the default run's home."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import pytest
from writ_testing import DEFAULT_RUN_ARGS, default_run_home

from writ_dagster.core.storage.schema import connect

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_run_home(tmp_path_factory, *DEFAULT_RUN_ARGS)


def _latest_metadata(home: Path, asset: str, partition: str) -> dict:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        [record] = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1).records
        return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def _is_refusal(part: dict) -> bool:
    """A request the agent declines: not handed to a human, not answered, not conditional, not taken back."""
    return not part.get("transfer") and not part.get("answer") and part.get("condition") is None \
        and part.get("declined") is None


def test_task_shares_and_family_counts_match_the_stored_tasks(default_home: Path) -> None:
    with connect(default_home / "writ.duckdb", read_only=True) as con:
        rows = con.execute("SELECT domain, partition, family, refusals_json FROM tasks").fetchall()
    assert rows
    for domain, partition in sorted({(d, p) for d, p, _, _ in rows}):
        mine = [(family, json.loads(parts)) for d, p, family, parts in rows if (d, p) == (domain, partition)]
        meta = _latest_metadata(default_home, "tasks", f"{partition}|{domain}")
        n = len(mine)
        assert meta["share_with_refusal"] == round(sum(any(map(_is_refusal, parts)) for _, parts in mine) / n, 4)
        assert meta["share_beyond_writes"] == round(sum(bool(parts) for _, parts in mine) / n, 4)
        shown = dict(re.findall(r"^\| (\w+) \| (\d+) \|", meta["families"], flags=re.M))
        counted = {f: sum(1 for family, _ in mine if family == f) for f, _ in mine}
        assert {k: int(v) for k, v in shown.items()} == counted, meta["families"]
    # the label means refusals only: the default mix has other parts beyond writes
    assert any(meta_share < beyond for meta_share, beyond in
               ((_latest_metadata(default_home, "tasks", f"b0000|{d}")["share_with_refusal"],
                 _latest_metadata(default_home, "tasks", f"b0000|{d}")["share_beyond_writes"])
                for d in ("airline", "retail")))
