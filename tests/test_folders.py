"""Folders swapped in whole (writ_dagster.core.folders.replace_dir): a reader polling the folder while it
is replaced again and again always finds it, complete; a replace interrupted between two renames (the
fallback where no atomic swap exists) is undone by the next one."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from writ_dagster.core import folders
from writ_dagster.core.folders import replace_dir

READER = """
import os, sys
from pathlib import Path
out, stop = Path(sys.argv[1]), Path(sys.argv[2])
seen = missing = 0

def read(name, folder):
    fd = os.open(name, os.O_RDONLY, dir_fd=folder)
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)

while not stop.exists():
    try:
        folder = os.open(out, os.O_RDONLY | os.O_DIRECTORY)  # one folder, whatever is swapped in meanwhile
    except FileNotFoundError:
        missing += 1
        continue
    try:
        assert read("a.txt", folder) == read("b.txt", folder), "a half-written folder"
        seen += 1
    except FileNotFoundError:  # the old folder, removed after the swap while open here
        pass
    finally:
        os.close(folder)
print(seen, missing)
"""


def _version(root: Path, i: int) -> Path:
    src = root / f"build-{i}"
    src.mkdir()
    (src / "a.txt").write_text(str(i))
    (src / "b.txt").write_text(str(i))
    return src


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the atomic swap is Linux's")
@pytest.mark.timeout(120)
def test_a_reader_never_finds_the_folder_missing_or_half_replaced(tmp_path: Path) -> None:
    out, stop = tmp_path / "set", tmp_path / "stop"
    replace_dir(_version(tmp_path, 0), out)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(out), str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        for i in range(1, 400):
            replace_dir(_version(tmp_path, i), out)
    finally:
        stop.touch()
        seen, missing = map(int, reader.communicate(timeout=60)[0].split())
    assert reader.returncode == 0 and seen > 0 and missing == 0, (seen, missing)
    assert (out / "a.txt").read_text() == "399"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set", "stop"]  # no build or old folder left


def test_a_replace_interrupted_between_its_renames_is_undone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folders, "_exchange", lambda a, b: False)  # the fallback's two renames
    out = tmp_path / "set"
    replace_dir(_version(tmp_path, 0), out)
    out.rename(tmp_path / ".set.replaced")  # killed after moving the old folder aside
    assert not out.exists()
    replace_dir(_version(tmp_path, 1), out)
    assert (out / "a.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]
