"""The τ²-bench conversation engine, its scripted backends and trajectory records.

``SimulationEngine`` runs (task, user script, seed) jobs through an agent backend and a
user backend; ``OracleAgent`` and ``ScriptedUser`` are the offline, rule-based backends
(no model). See ``engine.py`` for the flow and ``backends.py`` for plugging in LLMs.
"""

from writ_dagster.core.simulation.batch import plan_jobs, simulate
from writ_dagster.core.simulation.engine import Job, SimulationEngine, build_record
from writ_dagster.core.simulation.oracle import OracleAgent
from writ_dagster.core.simulation.protocol import ConversationView, RawToolCall, Reply
from writ_dagster.core.simulation.records import SimulationConfig, TrajectoryRecord, load_messages
from writ_dagster.core.simulation.scripted_user import ScriptedUser

__all__ = ["ConversationView", "Job", "OracleAgent", "RawToolCall", "Reply", "ScriptedUser", "SimulationConfig",
           "SimulationEngine", "TrajectoryRecord", "build_record", "load_messages", "plan_jobs", "simulate"]
