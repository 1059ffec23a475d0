"""SFT sets: every filter counts, tool calls survive `datasets` exactly, no task in two splits."""

from __future__ import annotations

import json

import pytest
from writ_testing import scripted_conversations

from writ_dagster.core.sft.curate import build_sft
from writ_dagster.core.sft.export import write_sft
from writ_dagster.core.sft.models import SFTConfig

WRIT2K_COLUMNS = {"domain", "trajectory_type", "has_user_script", "messages", "tools"}


@pytest.fixture(scope="module")
def scored():
    return scripted_conversations(12, "s0000")


def test_filters_count_every_removal(scored) -> None:
    tasks, records = scored
    failed = records[0].model_copy(update={"reward": 0.0, "trajectory_id": "traj-failed"})
    malformed = records[1].model_copy(update={"malformed": {"invalid_json": 1}, "trajectory_id": "traj-bad"})
    copy = records[2].model_copy(update={"trajectory_id": "traj-zzz-copy"})  # same plan, same words
    build = build_sft(records + [failed, malformed, copy], tasks, SFTConfig())
    assert build.dropped["reward below threshold"] >= 1
    assert build.dropped["malformed tool calls"] >= 1
    assert build.dropped["near-duplicate"] >= 1
    assert build.considered == len(records) + 3
    assert len(build.rows) + sum(build.dropped.values()) == build.considered
    ids = {r.trajectory_id for r in build.rows}
    assert not {"traj-failed", "traj-bad"} & ids
    # two user scripts of one task differ in wording: both survive the near-duplicate filter
    per_task: dict[str, int] = {}
    for r in build.rows:
        per_task[r.task_id] = per_task.get(r.task_id, 0) + 1
    assert max(per_task.values()) >= 2


def test_mixture_targets_and_split_by_task(scored) -> None:
    tasks, records = scored
    full = build_sft(records, tasks, SFTConfig(validation_fraction=0.5))
    # the batch's largest airline cell (which one depends on the family mix) and one retail cell
    big = max((k for k in full.cells if k.startswith("airline/")), key=lambda k: full.cells[k])
    assert full.cells[big] > 2
    targets = {big: 2, "retail/normal/plain": 1}
    build = build_sft(records, tasks, SFTConfig(targets=targets, validation_fraction=0.5))
    assert set(build.cells) <= set(targets)
    assert all(build.cells[k] <= targets[k] for k in build.cells)
    assert build.cells.get(big) == 2  # it holds more than 2: the target, not the supply, stops it
    train = {r.task_id for r in full.rows if r.split == "train"}
    val = {r.task_id for r in full.rows if r.split == "validation"}
    assert train and val and not train & val


@pytest.mark.parametrize("bad", [{"targets": {"airline/chatty/plain": 3}}, {"targets": {"airline/normal/plain": -1}},
                                 {"validation_fraction": 1.5}, {"max_messages": 0}])
def test_bad_sft_config_is_refused(bad) -> None:
    with pytest.raises(ValueError):
        SFTConfig(**bad)


def test_parquet_loads_with_datasets_and_round_trips_tool_calls(scored, tmp_path) -> None:
    datasets = pytest.importorskip("datasets")
    tasks, records = scored
    build = build_sft(records, tasks, SFTConfig(validation_fraction=0.25))
    paths = write_sft(build, tmp_path / "sft")
    ds = datasets.load_dataset("parquet", data_files={k: str(v) for k, v in paths.items() if k != "card"})
    assert WRIT2K_COLUMNS <= set(ds["train"].column_names)
    by_id = {r.trajectory_id: r for r in records}
    n_calls = 0
    for split in ds:
        for row in ds[split]:
            original = [tc for m in by_id[row["trajectory_id"]].tau2_messages()
                        for tc in (getattr(m, "tool_calls", None) or [])]
            exported = [tc for m in row["messages"] for tc in (m["tool_calls"] or [])]
            assert [(tc["function"]["name"], json.loads(tc["function"]["arguments"])) for tc in exported] == \
                   [(tc.name, tc.arguments) for tc in original]
            n_calls += len(exported)
            assert row["messages"][0]["role"] == "system" and "<policy>" in row["messages"][0]["content"]
            assert {t["function"]["name"] for t in json.loads(row["tools"])} >= {"calculate"}
    assert n_calls > 0
    assert "rows:" in paths["card"].read_text()


def test_trajectories_of_remade_tasks_or_scripts_are_dropped(scored) -> None:
    """A row must never point at a task or user script other than the one it was simulated from."""
    tasks, records = scored
    task_id = records[0].task_id
    remade = {**tasks, task_id: tasks[task_id].model_copy(update={"content_hash": "remade"})}
    build = build_sft(records, remade, SFTConfig())
    assert build.dropped["task re-made since simulated"] == sum(r.task_id == task_id for r in records) == 2
    assert task_id not in {r.task_id for r in build.rows}
    hashes = {r.script_id: r.lineage["script_content_hash"] for r in records}
    assert build_sft(records, tasks, SFTConfig(), script_hashes=hashes).dropped == {}
    hashes[records[1].script_id] = "remade"
    build = build_sft(records, tasks, SFTConfig(), script_hashes=hashes)
    assert build.dropped == {"user script re-made since simulated": 1}
    assert records[1].trajectory_id not in {r.trajectory_id for r in build.rows}


def test_the_card_explains_every_task_family_and_names_every_filter() -> None:
    """The card's family table and filter table are built from these lists: a family or filter added
    elsewhere without them would be missing from every card."""
    from writ_dagster.core.sft.export import FAMILY_MEANING
    from writ_dagster.core.sft.filters import FILTERS
    from writ_dagster.core.tasks.models import FAMILIES

    assert list(FAMILY_MEANING) == list(FAMILIES)
    assert len(set(FILTERS)) == len(FILTERS)
