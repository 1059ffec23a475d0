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


def _latest_metadata(home: Path, asset: str, partition: str | None = None) -> dict:
    """The metadata of ``asset``'s latest materialization (of ``partition``, if partitioned)."""
    records = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset),
                                    asset_partitions=[partition] if partition else None)
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        [record] = instance.fetch_materializations(records, limit=1).records
        return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def _beyond_writes(intent_json: str) -> list[dict]:
    """The parts of a stored intent beyond plain writes: refused, transferred, asked, conditional, taken back."""
    return [p for p in json.loads(intent_json)["parts"] if p["kind"] != "write"]


def _is_refusal(part: dict) -> bool:
    """A request the agent declines: not handed to a human, not answered, not conditional, not taken back."""
    return part["kind"] == "refusal"


def test_task_shares_and_family_counts_match_the_stored_tasks(default_home: Path) -> None:
    with connect(default_home / "writ.duckdb", read_only=True) as con:
        rows = con.execute("SELECT domain, partition, family, intent_json FROM tasks").fetchall()
    assert rows
    for domain, partition in sorted({(d, p) for d, p, _, _ in rows}):
        mine = [(family, _beyond_writes(intent)) for d, p, family, intent in rows if (d, p) == (domain, partition)]
        meta = _latest_metadata(default_home, "tasks", f"{partition}|{domain}")
        n = len(mine)
        assert meta["share_with_refusal"] == round(sum(any(map(_is_refusal, parts)) for _, parts in mine) / n, 4)
        assert meta["share_beyond_writes"] == round(sum(bool(parts) for _, parts in mine) / n, 4)
        shown = dict(re.findall(r"^\| (\w+) \| (\d+) \|", meta["families"], flags=re.M))
        counted = {f: sum(1 for family, _ in mine if family == f) for f, _ in mine}
        assert {k: int(v) for k, v in shown.items()} == counted, meta["families"]
    # the label means refusals only: the default mix has other parts beyond writes
    shares = [_latest_metadata(default_home, "tasks", f"b0000|{d}") for d in ("airline", "retail")]
    assert any(m["share_with_refusal"] < m["share_beyond_writes"] for m in shares)


def test_samples_are_readable_conversations_of_each_type(default_home: Path) -> None:
    """`trajectories` (per partition) and `sft_set` show one stored conversation per trajectory type."""
    with connect(default_home / "writ.duckdb", read_only=True) as con:
        stored = {r[0]: (r[1], json.loads(r[2])) for r in con.execute(
            "SELECT trajectory_id, trajectory_type, messages_json FROM trajectories").fetchall()}
        in_set = {r[0] for r in con.execute("SELECT trajectory_id FROM sft_rows WHERE sft_version = "
                                            "(SELECT sft_version FROM sft_sets ORDER BY written_at DESC LIMIT 1)").fetchall()}
    sft_meta = _latest_metadata(default_home, "sft_set")
    for meta, allowed in ((_latest_metadata(default_home, "trajectories", "b0000|airline"), set(stored)),
                          (sft_meta, in_set)):
        samples = {k: v for k, v in meta.items() if k.startswith("sample_")}
        assert set(samples) == {"sample_normal", "sample_read_heavy", "sample_write_intensive"}
        for key, text in samples.items():
            trajectory_id = re.match(r"\*\*(traj-\w+)\*\*", text)[1]
            kind, messages = stored[trajectory_id]
            assert trajectory_id in allowed and key == f"sample_{kind.replace('-', '_')}"
            assert "```text\n" in text and f"`writ show {trajectory_id}`" in text
            first_user = next(m["content"] for m in messages if m["role"] == "user")
            assert " ".join(first_user.split())[:40] in " ".join(text.split())


def test_repeated_sentences_keep_their_placeholders(default_home: Path) -> None:
    """Masked sentences hold `<id>`-like placeholders; in the UI's markdown they must show, not vanish as HTML."""
    meta = _latest_metadata(default_home, "trajectories", "b0000|airline")
    top = meta["quality_top_agent_sentences"]
    masked = [t["sentence"] for t in top if "<" in t["sentence"]]
    assert masked, top  # the default run's top sentences hold placeholders
    table = meta["quality"]
    assert "<" not in table.split("most repeated agent sentences")[1]
    assert all(s.replace("<", "&lt;").replace(">", "&gt;").replace("|", "&#124;") in table for s in masked)


def _table(markdown: str, header: str) -> dict[str, int]:
    """The two-column table under ``header`` in ``markdown`` (name -> count)."""
    block = markdown.split(f"| {header} |", 1)[1].split("\n\n", 1)[0]
    return {m[0]: int(m[1]) for m in re.findall(r"^\| ([^|]+?) \| (\d+) \|$", block, flags=re.M)}


def test_the_dataset_card_and_sft_metadata_count_what_the_rows_hold(default_home: Path) -> None:
    from writ_dagster.core.sft.filters import FILTERS

    with connect(default_home / "writ.duckdb", read_only=True) as con:
        version, directory, considered, dropped_json = con.execute(
            "SELECT sft_version, directory, considered, dropped_json FROM sft_sets ORDER BY written_at DESC "
            "LIMIT 1").fetchone()
        families = dict(con.execute("SELECT family, count(*) FROM sft_rows WHERE sft_version = ? GROUP BY 1",
                                    [version]).fetchall())
        axes = dict(((w, r), n) for w, r, n in con.execute(
            "SELECT writes, max_reads_before_write, count(*) FROM sft_rows WHERE sft_version = ? GROUP BY ALL",
            [version]).fetchall())
        n_rows = con.execute("SELECT count(*) FROM sft_rows WHERE sft_version = ?", [version]).fetchone()[0]
    card = (Path(directory) / "README.md").read_text()
    shown = _table(card, "family")
    assert {k: v for k, v in shown.items() if v} == families and len(shown) >= 7  # every family, zeros too
    dropped = json.loads(dropped_json)
    removed = _table(card, "removed because")
    assert list(removed)[:len(FILTERS)] == list(FILTERS)  # every filter, in order, zeros included
    assert {k: v for k, v in removed.items() if v} == dropped and sum(removed.values()) == considered - n_rows
    # the axis table: rows by writes (down) and most reads before a write (across)
    head, _, *body = card.split("| writes \\ most reads before a write |", 1)[1].split("\n\n", 1)[0].splitlines()
    reads = [int(x) for x in head.strip(" |").split(" | ")]
    table = {(int(line.split("|")[1]), k): int(c) for line in body
             for k, c in zip(reads, line.strip(" |").split(" | ")[1:])}
    assert {key: n for key, n in table.items() if n} == axes
    assert "## A sample record" in card and "## Lengths" in card
    meta = _latest_metadata(default_home, "sft_set")
    assert _table(meta["dropped"], "filter") == removed
    # paths inside the home are shown relative to it: a moved or copied home still reads right
    assert (meta["path"], meta["database"]) == (f"sft/{version}", "writ.duckdb")
    assert (default_home / meta["path"] / "README.md").read_text() == card
    assert meta["dropped_total"] == sum(dropped.values())



PLOTS = {("tasks", "b0000|airline"): "plot_writes_x_reads", ("trajectories", "b0000|retail"): "plot_pass_rate_by_cell",
         ("sft_set", None): "plot_writes_x_reads", ("checkpoint", None): "plot_loss_curve",
         ("evaluation", None): "plot_pass_hat_1"}


def test_every_asset_page_shows_its_plot_as_a_png(default_home: Path) -> None:
    """Each plot is a PNG inline in its asset's markdown metadata, decodable, of a plot's size."""
    import base64
    import io

    from PIL import Image
    from writ_testing import LLM_EXTRA

    for (asset, partition), key in PLOTS.items():
        if asset in ("checkpoint", "evaluation") and not LLM_EXTRA:
            continue
        meta = _latest_metadata(default_home, asset, partition)
        [(alt, data)] = re.findall(r"^!\[([^]]+)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)$", meta[key])
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n", (asset, key)
        with Image.open(io.BytesIO(png)) as image:
            image.load()  # decodes every pixel: a cut or corrupt file fails here
            assert image.format == "PNG" and 200 <= image.width <= 2000 and 150 <= image.height <= 1500, image.size
            assert len(set(image.convert("L").getdata())) > 10, (asset, "a blank image")
