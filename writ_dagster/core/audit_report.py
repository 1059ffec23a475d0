"""The report every audit returns (tasks, user scripts, trajectories, SFT lineage).

Kept apart from any one stage's audits because all of them, and the Dagster checks that
show them, share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AuditReport:
    """The outcome of one audit: pass/fail, problems found, and figures to show."""

    passed: bool
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
