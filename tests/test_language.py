"""Language as data (issue 18, item 2): one formatter for amounts and dates, used everywhere."""

from __future__ import annotations

import re

import pytest

from writ_dagster.core.language.formats import day, mentions, money, renderings
from writ_dagster.core.sft.compliance import describes
from writ_dagster.core.simulation import Job, OracleAgent, ScriptedUser, SimulationConfig, SimulationEngine
from writ_dagster.core.users import make_scripts

ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
# "$17204", "$26.5", "$1,234.567": an amount the formatter would have written otherwise
RAW_AMOUNT = re.compile(r"\$\d{4,}|\$\d[\d,]*\.\d(?!\d)|\$\d[\d,]*\.\d{3}")


def test_the_formatter_writes_amounts_and_dates_one_way() -> None:
    assert money(4389.26) == "$4,389.26"
    assert money(1284) == money(1284.0) == money("1284") == "$1,284"  # whole dollars: no cents
    assert money("12.5") == "$12.50"
    assert day("2024-05-17") == "May 17"
    assert day("2024-05-13T09:05:00") == "May 13"
    assert day("1950-07-17", year=True) == "July 17, 1950"
    assert day("not a date") == "not a date"  # a model's malformed argument is said as given


def test_readers_recognise_a_value_in_its_written_form() -> None:
    assert renderings("2024-05-19")[1:] == ("May 19", "May 19, 2024")
    assert mentions("born April 10, 1996", "1996-04-10") and not mentions("born April 1, 1996", "1996-04-10")
    args = {"flights": [{"flight_number": "HAT224", "date": "2024-05-22"}], "amount": 17204, "dob": "1996-04-09"}
    said = "book flight HAT224 on May 22 for Amelia (born April 9, 1996), paid with your visa ($17,204)"
    assert describes(said, args)
    assert not describes(said.replace("May 22", "May 2"), args)
    assert not describes(said.replace("$17,204", "$17,205"), args)


@pytest.fixture(scope="module")
def agent_texts(airline_batch, retail_batch) -> list[str]:
    jobs = [
        Job(rec, s, seed=3)
        for _, batch in (airline_batch, retail_batch)
        for rec in batch.tasks
        for s in make_scripts(rec, 2, seed=3)
    ]
    records = SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig(max_concurrency=16)).run_all(jobs)
    assert all(r.reward == 1.0 for r in records)
    return [m["content"] for r in records for m in r.messages if m.get("role") == "assistant" and m.get("content")]


def test_no_agent_message_says_an_unformatted_amount_or_an_iso_date(agent_texts) -> None:
    assert any("$" in t for t in agent_texts) and any(re.search(r"\bMay \d", t) for t in agent_texts)
    assert [t for t in agent_texts if ISO_DATE.search(t)] == []
    assert [t for t in agent_texts if RAW_AMOUNT.search(t)] == []


def test_one_picker_draws_as_the_rng_chooses() -> None:
    import random

    from writ_dagster.core.language.pools import pick

    options = ("a {x}", "b {x}", "c {x}")
    assert [pick(random.Random(s), options, x=1) for s in range(20)] == [
        random.Random(s).choice(options).format(x=1) for s in range(20)
    ]
    assert pick(None, options) == "a {x}"  # no RNG: the first phrasing, slots left for the caller


_SAYS_NEW_PHRASINGS = """
import random
import writ_dagster
from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.domains.wording import wording_of
from writ_dagster.core.simulation import phrases
words = wording_of(get_domain("airline"))
said = {words.done_summary("cancel_reservation", {"reservation_id": "QW4873"}, "", random.Random(s)) for s in range(200)}
print(writ_dagster.__file__)
print("Reservation QW4873 is off your account now." in said)
print(any(phrases.declined(random.Random(s)) == "Very well, nothing is changed." for s in range(200)))
"""


def test_adding_a_phrasing_is_an_edit_to_a_data_file(tmp_path) -> None:
    """A copy of the package whose only change is one phrasing more in the airline folder's phrases.yaml
    and one in the shared file: the scripted agent says both, and no Python file differs."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import writ_dagster

    source = Path(writ_dagster.__file__).parent
    copy = tmp_path / "writ_dagster"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    domain_file = copy / "core/tasks/airline/phrases.yaml"
    text = domain_file.read_text()
    anchor = "      - Reservation {rid} has been cancelled.\n"
    assert anchor in text
    domain_file.write_text(text.replace(anchor, anchor + "      - Reservation {rid} is off your account now.\n", 1))
    shared_file = copy / "core/language/phrases.yaml"
    text = shared_file.read_text()
    anchor = "    - Understood, I won't make that change.\n"
    assert anchor in text
    shared_file.write_text(text.replace(anchor, anchor + "    - Very well, nothing is changed.\n", 1))

    changed = [p for p in source.rglob("*.py") if p.read_bytes() != (copy / p.relative_to(source)).read_bytes()]
    assert changed == []
    out = subprocess.run(
        [sys.executable, "-c", _SAYS_NEW_PHRASINGS],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,  # not the checkout: "-c" puts the working folder first on the path
        capture_output=True, text=True, check=True,
    )
    where, *says = out.stdout.split()
    assert where == str(copy / "__init__.py") and says == ["True", "True"], out.stderr
