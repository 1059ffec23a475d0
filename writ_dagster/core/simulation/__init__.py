"""The τ²-bench conversation engine, its scripted backends and trajectory records.

``SimulationEngine`` runs (task, user script, seed) jobs through an agent backend and a
user backend; ``OracleAgent`` and ``ScriptedUser`` are the offline, rule-based backends
(no model). See ``engine.py`` for the flow, ``backends.py`` for plugging in LLMs and
``registry.py`` for selecting a backend by name.
"""

from writ_dagster.core.simulation.batch import jobs_for_scripts, plan_jobs, simulate, simulate_jobs
from writ_dagster.core.simulation.engine import Job, SimulationEngine, build_record
from writ_dagster.core.simulation.oracle import OracleAgent
from writ_dagster.core.simulation.protocol import ConversationView, RawToolCall, Reply
from writ_dagster.core.simulation.records import SimulationConfig, TrajectoryRecord, load_messages
from writ_dagster.core.simulation.registry import backend_names, create_backend, register_backend
from writ_dagster.core.simulation.scripted_user import ScriptedUser
from writ_dagster.core.simulation.settings import TrajectoryConfig

__all__ = [
    "ConversationView",
    "Job",
    "OracleAgent",
    "RawToolCall",
    "Reply",
    "ScriptedUser",
    "SimulationConfig",
    "SimulationEngine",
    "TrajectoryConfig",
    "TrajectoryRecord",
    "backend_names",
    "build_record",
    "create_backend",
    "jobs_for_scripts",
    "load_messages",
    "plan_jobs",
    "register_backend",
    "simulate",
    "simulate_jobs",
]
