"""The simulated fleet's catalogue: every stored (task, user script) a request can belong to.

A request carries no task id. The fleet recognises the conversation from what a real server
is sent: the user simulator's system prompt is τ²'s prompt built from the script's user
scenario (one hash per stored script), and the teacher's conversation opens with the scripted
user's first message (known per script, or registered when the fleet's user role said it).

Reading the WRIT home's database while ``writ run`` plays a partition: the trajectories stage
holds ``writ.duckdb`` open read-write for the whole partition, and DuckDB's file lock keeps any
other process out (a read-only connection would also lock the writer out if it came first). So
the catalogue never opens the live file: it copies the file's main part (the last checkpoint)
to a temporary file, checks that size and modification time did not change during the copy
(else a checkpoint was being written: copy again), and opens the copy read-only. The tasks and
scripts of the partition being played are in that checkpoint: the stages that wrote them closed
their connections, and DuckDB checkpoints when the last connection closes. Reloads happen on a
catalogue miss (a new partition's first conversation), at most once per ``refresh_s``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from writ_dagster.core.domains.registry import domain_names, get_domain
from writ_dagster.core.home import DB_FILENAME
from writ_dagster.core.simulation.protocol import (
    GREETING,
    ConversationView,
    agent_system_prompt,
    user_system_prompt,
)
from writ_dagster.core.simulation.scripted_user import ScriptedUser
from writ_dagster.core.storage.schema import open_db
from writ_dagster.core.storage.scripts import read_user_scripts
from writ_dagster.core.storage.tasks import read_tasks
from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.users.models import UserScript

SNAPSHOT_TRIES = 8


def text_hash(text: str) -> str:
    """A short stable hash of a text (prompt or message)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Entry:
    """One stored (task, user script): what the scripted roles need to play it."""

    record: TaskRecord
    script: UserScript

    @property
    def key(self) -> tuple[str, str]:
        return (self.record.task_id, self.script.script_id)


class CatalogueError(RuntimeError):
    """The WRIT database could not be read (the message says why)."""


def snapshot_db(db: Path, folder: Path) -> Path:
    """A consistent copy of ``db``'s main file in ``folder`` (see the module docstring).

    Retries while the file changes during the copy (a checkpoint in progress).
    """
    last = "no attempt"
    for attempt in range(SNAPSHOT_TRIES):
        before = os.stat(db)
        out = folder / f"snapshot-{attempt}.duckdb"
        shutil.copyfile(db, out)
        after = os.stat(db)
        if (before.st_size, before.st_mtime_ns) == (
            after.st_size,
            after.st_mtime_ns,
        ) and out.stat().st_size == after.st_size:
            return out
        out.unlink(missing_ok=True)
        last = "the file changed during the copy"
        time.sleep(0.05 * (attempt + 1))
    raise CatalogueError(f"cannot copy {db}: {last} on {SNAPSHOT_TRIES} tries")


def read_entries(home: Path) -> list[Entry]:
    """Every stored (task, user script) of the WRIT home ``home`` (read from a snapshot copy)."""
    db = Path(home) / DB_FILENAME
    if not db.exists():
        return []
    last: Exception | None = None
    for _ in range(3):
        with tempfile.TemporaryDirectory(prefix="writ-simulated-fleet-") as tmp:
            try:
                copy = snapshot_db(db, Path(tmp))
                con = open_db(copy, read_only=True)
            except Exception as exc:  # a torn copy that DuckDB refuses: copy again
                last = exc
                time.sleep(0.1)
                continue
            try:
                out: list[Entry] = []
                for domain in domain_names():
                    records = {r.task_id: r for r in read_tasks(con, domain)}
                    for script in read_user_scripts(con, domain):
                        record = records.get(script.task_id)
                        if record is not None:
                            out.append(Entry(record, script))
                return out
            finally:
                con.close()
    raise CatalogueError(f"cannot read {db}: {last}")


def opening_of(entry: Entry) -> str:
    """The scripted user's first message for ``entry`` (what the teacher's conversation opens with)."""
    from writ_dagster.core.tau2_adapter import AssistantMessage

    view = ConversationView(
        conv_id="",
        role="user",
        domain=entry.record.domain,
        record=entry.record,
        task=None,
        script=entry.script,
        seed=0,
        messages=[AssistantMessage(role="assistant", content=GREETING)],
        system_prompt="",
        tools=[],
        state={},
    )
    return ScriptedUser().respond(view).content or ""


class Catalogue:
    """Stored (task, script) pairs indexed by user system prompt and by opening message.

    Thread-safe; :meth:`refresh` rereads the home's database at most once per ``refresh_s``.
    """

    def __init__(self, home: Path | None, refresh_s: float = 2.0) -> None:
        self.home = Path(home) if home is not None else None
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self.entries: dict[tuple[str, str], Entry] = {}
        self.by_prompt: dict[str, list[tuple[str, str]]] = {}
        self.prompts: dict[tuple[str, str], str] = {}
        self._openings: dict[str, list[tuple[str, str]]] = {}
        self._opened: set[tuple[str, str]] = set()
        self.agent_prompts = {text_hash(agent_system_prompt(get_domain(d).policy)): d for d in domain_names()}
        self._last_load = float("-inf")
        self.loads = 0
        self.load_seconds = 0.0
        self.errors: list[str] = []

    def add(self, entries: list[Entry]) -> int:
        """Index ``entries`` (the ones not known yet); returns how many were new."""
        new = 0
        with self._lock:
            for e in entries:
                old = self.entries.get(e.key)
                if old is not None and (old.record.content_hash, old.script.content_hash) == (
                    e.record.content_hash,
                    e.script.content_hash,
                ):
                    continue
                new += 1  # new, or stored again with other content (a partition made anew)
                self.entries[e.key] = e
                prompt = text_hash(user_system_prompt(e.script.user_scenario))
                self.prompts[e.key] = prompt
                self.by_prompt.setdefault(prompt, []).append(e.key)
                self._opened.discard(e.key)
        return new

    def refresh(self, force: bool = False) -> bool:
        """Reread the database unless it was read less than ``refresh_s`` ago; True if it was read."""
        if self.home is None:
            return False
        with self._lock:
            if not force and time.monotonic() - self._last_load < self.refresh_s:
                return False
            self._last_load = time.monotonic()
        started = time.perf_counter()
        try:
            self.add(read_entries(self.home))
        except Exception as exc:  # the fleet keeps serving what it knows; the stats say why
            self.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            return False
        finally:
            self.loads += 1
            self.load_seconds += time.perf_counter() - started
        return True

    def for_prompt(self, prompt: str) -> list[Entry]:
        """The stored scripts whose user system prompt is ``prompt``."""
        h = text_hash(prompt)
        keys = {k for k in self.by_prompt.get(h, []) if self.prompts.get(k) == h}  # not a changed entry's old prompt
        return [self.entries[k] for k in sorted(keys)]

    def openings_ready(self) -> int:
        """Compute the scripted user's opening of every entry not done yet; returns how many were done."""
        with self._lock:
            todo = [e for k, e in self.entries.items() if k not in self._opened]
        found: dict[str, list[tuple[str, str]]] = {}
        for e in todo:
            found.setdefault(text_hash(opening_of(e)), []).append(e.key)
        with self._lock:
            for h, keys in found.items():
                self._openings.setdefault(h, []).extend(keys)
            self._opened.update(e.key for e in todo)
        return len(todo)

    def for_opening(self, text: str) -> list[Entry]:
        """The stored scripts whose scripted user opens with ``text``."""
        self.openings_ready()
        with self._lock:
            keys = sorted(set(self._openings.get(text_hash(text), [])))
        return [self.entries[k] for k in keys]

    def domain_of_agent_prompt(self, prompt: str) -> str | None:
        """The domain whose τ² agent system prompt is ``prompt`` (None: not an agent prompt)."""
        return self.agent_prompts.get(text_hash(prompt))

    def stats(self) -> dict[str, Any]:
        """Figures for the fleet's stats route."""
        return {
            "entries": len(self.entries),
            "loads": self.loads,
            "load_seconds": round(self.load_seconds, 3),
            "errors": self.errors[-5:],
        }
