"""Progress you can watch: the counts and their line, the terminal's in-place line and a file's
periodic lines, and a real `writ run` showing them (stderr a file, then a pseudo-terminal) with the
same counts in the Dagster run log."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from writ_testing import writ_cli, writ_env

from writ_dagster.cli.progress import TerminalProgress
from writ_dagster.core.progress import Progress, listening, publish


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_line_counts_passing_tokens_and_time_left_from_this_run_only():
    clock = Clock()
    # 40 rows kept from an earlier run (30 passing): done, but not part of the rate
    p = Progress("airline/b0000", "stored", "trajectories", planned=120, done=40, passing=30, clock=clock)
    assert p.line() == "airline/b0000: stored 40/120 trajectories, 30 passing"
    clock.now += 20
    for _ in range(10):
        p.advance(passed=True, tokens=400)
    p.advance(passed=False, tokens=200)  # 11 in 20 s: 69 left at 0.55/s -> 125 s
    assert p.line() == "airline/b0000: stored 51/120 trajectories, 40 passing, 210 tokens/s, about 2m05s left"
    p.advance(passed=True, done=120, planned=120)
    assert p.finished and p.line().endswith(", took 20s")
    assert Progress("x", "played", "conversations", planned=3, clock=clock).seconds_left() is None


def test_a_file_gets_a_plain_line_every_interval_and_the_last_one():
    clock = Clock()
    out = io.StringIO()
    listener = TerminalProgress(out, every_s=30, clock=clock)
    p = Progress("retail/b0001", "stored", "trajectories", planned=4, clock=clock)
    with listening(listener):
        for step in (1, 10, 31, 35):  # seconds: the first line at once, then one per 30 s, then the last
            clock.now += step
            p.advance(passed=True)
            publish(p)
    publish(p)  # nobody listens any more
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["retail/b0001: stored 1/4 trajectories",
                                                       "retail/b0001: stored 3/4 trajectories",
                                                       "retail/b0001: stored 4/4 trajectories"]
    assert "\r" not in out.getvalue() and lines[-1].endswith("took 1m17s")
    TerminalProgress(silent := io.StringIO(), every_s=0, clock=clock)(p)
    assert silent.getvalue() == ""


def test_a_terminal_gets_one_line_redrawn_in_place():
    clock = Clock()
    out = FakeTerminal()
    listener = TerminalProgress(out, every_s=30, clock=clock)
    p = Progress("airline/b0000", "stored", "trajectories", planned=3, clock=clock)
    for step in (1, 0.05, 1):  # the second comes within the redraw interval: skipped
        clock.now += step
        p.advance(passed=True)
        listener(p)
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("took 2s\x1b[K\n") and text.count("\n") == 1
    # a stage that stops early: its open line is ended before anything else is printed
    q = Progress("airline/b0001", "stored", "trajectories", planned=3, clock=clock)
    clock.now += 1
    q.advance(passed=False)
    listener(q)
    listener.end_line()
    listener.end_line()
    assert out.getvalue().endswith("stored 1/3 trajectories, 0 passing, about 2s left\x1b[K\n")


RUN = ("run", "--domain", "airline", "--tasks-per-batch", "8", "--variants", "2", "--max-concurrency", "1",
       "--until", "trajectories")
LINE = re.compile(r"airline/b0000: stored (\d+)/(\d+) trajectories, (\d+) passing(, about (\d+m)?\d+s left|, took (\d+m)?\d+s)")


def test_writ_run_shows_progress_in_a_file_on_a_terminal_and_in_the_run_log(tmp_path: Path):
    import dagster as dg

    home = tmp_path / "home"
    done = writ_cli(home, *RUN, "--progress-every", "0.001")
    assert done.returncode == 0, done.stderr[-2000:]
    found = [LINE.fullmatch(line) for line in done.stderr.splitlines() if line.startswith("airline/b0000: stored")]
    assert len(found) >= 3 and all(found), done.stderr[-2000:]
    counts = [int(m[1]) for m in found]
    assert counts == sorted(counts) and found[-1][1] == found[-1][2] == found[-1][3] == "16"
    assert "took" in found[-1][4] and "\r" not in done.stderr
    assert "16 conversations (16 simulated, 0 kept)" in done.stdout  # the summary line is still there

    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        logged = [e.user_message for run in instance.get_runs() for e in instance.all_logs(run.run_id)
                  if "stored" in (e.user_message or "")]
    assert any(re.search(r"stored 16/16 trajectories, 16 passing, took", m) for m in logged), logged

    # The same run again, stderr a terminal: one line redrawn in place, ended before the next output.
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "writ_dagster.cli", *RUN, "--fresh"], env=writ_env(home),
                            stdout=subprocess.PIPE, stderr=terminal, text=True)
    os.close(terminal)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child closed its end
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(controller)
    screen = b"".join(chunks).decode()
    assert proc.returncode == 0, screen[-2000:]
    assert "\rairline/b0000: stored 1/16 trajectories, 1 passing" in screen
    assert re.search(r"\rairline/b0000: stored 16/16 trajectories, 16 passing, took \d+s\x1b\[K\r?\n", screen), screen
    assert "16 conversations (16 simulated, 0 kept)" in out


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_a_negative_interval_is_refused(tmp_path: Path, value: str):
    done = writ_cli(tmp_path / "home", *RUN, "--progress-every", value)
    assert done.returncode == 2 and "--progress-every must be 0 or more seconds" in done.stderr
    assert not (tmp_path / "home").exists()
