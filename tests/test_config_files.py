"""Config files are read bounded and strict: each hostile or careless file is refused in one line, exit 2,
before anything is written (real files, real FIFOs, real `writ run` processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from writ_dagster.core.config_files import ConfigFileError, read_config_file

ROOT = Path(__file__).resolve().parents[1]
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"


def _refused(path: Path, says: str) -> None:
    with pytest.raises(ConfigFileError) as exc:
        read_config_file(path)
    message = str(exc.value)
    assert says in message and "\n" not in message and len(message) < 400, message


@pytest.mark.timeout(60)
def test_hostile_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    cases = {
        "bomb.yaml": ("batches:\n  n: 1\n" + BOMB.replace("\n", "\n  ").replace("a: &a", "  a: &a", 1), "aliases"),
        "dup.yaml": ("tasks_per_batch: 4\ntasks_per_batch: 6\n", "appears twice"),
        "dup.json": ('{"seed": 1, "seed": 2}', "appears twice"),
        "intkey.yaml": ("1: 3\n", "keys must be text"),
        "deep.yaml": ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
        "deep.json": ("[" * 100000 + "]" * 100000, "nested"),
        "list.yaml": ("- 1\n- 2\n", "must hold a mapping"),
    }
    for name, (text, says) in cases.items():
        (tmp_path / name).write_text(text)
        _refused(tmp_path / name, says)
    (tmp_path / "utf16.yaml").write_bytes("seed: 1\n".encode("utf-16"))
    _refused(tmp_path / "utf16.yaml", "not UTF-8")
    (tmp_path / "big.yaml").write_text("# " + "x" * (2 << 20))
    _refused(tmp_path / "big.yaml", "bytes")
    _refused(Path("/dev/zero"), "not a regular file")
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    _refused(fifo, "not a regular file")  # no writer: opening it would block forever
    (tmp_path / "UPPER.YAML").write_text("seed: 5\n")
    assert read_config_file(tmp_path / "UPPER.YAML") == {"seed": 5}  # YAML whatever the suffix's case


@pytest.mark.timeout(120)
def test_writ_run_refuses_each_bad_config_in_one_line_writing_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "WRIT_UPSTREAM_TASKS")}
    home = tmp_path / "home"
    env.update(WRIT_HOME=str(home), PYTHONPATH=str(ROOT))
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("teacher:\n  options:\n    x: 1\n" + BOMB)
    typo = tmp_path / "typo.yaml"
    typo.write_text("teacher: {knd: scripted}\n")
    for config, says in ((bomb, "aliases"), (typo, "unknown field(s) knd")):
        proc = subprocess.run([sys.executable, "-m", "writ_dagster.cli", "run", "--config", str(config),
                               "--until", "trajectories"], env=env, capture_output=True, text=True, timeout=100)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2 and len(lines) == 1 and says in lines[0], proc.stderr
    assert not home.exists()
