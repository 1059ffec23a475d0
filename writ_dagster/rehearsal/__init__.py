"""A simulated serving fleet for rehearsals and benchmarks: no model runs here.

``writ-simulated-fleet`` is a set of OpenAI-compatible HTTP servers (one per replica, each on
its own port, all hosted by one process so they share conversation state) that answer chat
completions the way a GPU serving fleet would be seen from the pipeline, while the replies are
*scripted*: as the teacher (model id ``simulated-teacher``) the fleet plays WRIT's scripted
oracle agent for the conversation's task, erring at a configured rate the way models do; as
the user simulator (``simulated-user``) it plays the scripted user. Latency, a capacity limit
of concurrent sequences, reasoning text, length truncations and faults (5xx, timeouts,
connection resets) are simulated too. It is never used by the default run: a rehearsal points
the ``teacher`` and ``user_simulator`` roles at it (``kind: openai-compatible``).

- :mod:`.config`: the fleet's settings (pydantic, YAML/JSON);
- :mod:`.catalogue`: the stored tasks and user scripts a request is matched against;
- :mod:`.dialogue`: OpenAI messages back to τ² messages, conversation state, the scripted roles;
- :mod:`.behaviour`: the teacher's errors, reasoning text, truncations and token counts;
- :mod:`.server`: the HTTP replicas (latency, capacity, faults, statistics);
- :mod:`.fleet`: the command line and :func:`start_fleet` (a fleet in a subprocess).
"""

from typing import Any

__all__ = ["FleetConfig", "FleetHandle", "load_fleet_config", "start_fleet", "writ_roles"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m writ_dagster.rehearsal.fleet` does not import its own module twice.
    if name in ("FleetConfig", "load_fleet_config"):
        from writ_dagster.rehearsal import config

        return getattr(config, name)
    if name in ("FleetHandle", "start_fleet", "writ_roles"):
        from writ_dagster.rehearsal import fleet

        return getattr(fleet, name)
    raise AttributeError(name)
