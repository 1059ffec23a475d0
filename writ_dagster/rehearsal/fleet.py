"""Run the simulated serving fleet (``writ-simulated-fleet``): command line and Python API.

Command line (serves until SIGTERM or SIGINT, then exits 0; with ``--die-with-parent``, on
Linux, it also ends when the process that started it dies)::

    python -m writ_dagster.rehearsal.fleet --home WRIT_HOME [--config fleet.yaml] [--port-base N]
        [--replicas N] [--time-scale X] [--urls-file FILE] [--writ-config FILE] [--die-with-parent]

prints one base URL per replica on stdout (``http://127.0.0.1:PORT/v1``), then serves.
``--urls-file`` writes the same lines to a file once every replica listens (atomically);
``--writ-config`` writes a `writ run --config` layer (YAML) that points the ``teacher`` and
``user_simulator`` roles at the fleet.

Python::

    with start_fleet(home, {"replica_count": 4, "teacher": {"pass_rate": 0.6}}) as fleet:
        fleet.base_urls          # one per replica
        fleet.stats()            # GET /stats
        fleet.writ_roles()       # the teacher/user_simulator mappings for a writ config
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from writ_dagster.core.processes import die_with_parent
from writ_dagster.rehearsal.config import (
    TEACHER_MODEL,
    USER_MODEL,
    FleetConfig,
    load_fleet_config,
)


def writ_roles(
    base_urls: list[str], teacher: dict[str, Any] | None = None, user: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``teacher`` and ``user_simulator`` mappings of a writ config that use the fleet.

    ``teacher``/``user``: more options of each role (``OpenAICompatibleResource`` fields:
    ``max_tokens``, ``temperature``, ``seed``, ``max_retries``, ``timeout_s``, ...). ``max_tokens``
    defaults to the preset's 4096 (teacher) and 1024 (user): the fleet, as a real server, cuts a
    reply longer than the request's limit (``finish_reason: length``), and the resources' own
    default (256) would cut the oracle's longer turns.
    """
    return {
        "teacher": {
            "kind": "openai-compatible",
            "options": {"base_urls": list(base_urls), "model": TEACHER_MODEL, "max_tokens": 4096, **(teacher or {})},
        },
        "user_simulator": {
            "kind": "openai-compatible",
            "options": {"base_urls": list(base_urls), "model": USER_MODEL, "max_tokens": 1024, **(user or {})},
        },
    }


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def serve(
    home: Path, config: FleetConfig, urls_file: Path | None = None, writ_config: Path | None = None, ready: Any = None
) -> None:
    """Serve until SIGTERM/SIGINT: print the base URLs, write the requested files."""
    from writ_dagster.rehearsal.catalogue import Catalogue
    from writ_dagster.rehearsal.server import FleetServer

    catalogue = Catalogue(home, config.catalogue_refresh_s)
    await asyncio.to_thread(catalogue.refresh, True)
    server = FleetServer(config, catalogue)
    urls = await server.start()
    for url in urls:
        print(url, flush=True)
    if writ_config is not None:
        import yaml

        _write_atomic(
            writ_config,
            "# written by writ-simulated-fleet: a simulation, not a model\n"
            + yaml.safe_dump(writ_roles(urls), sort_keys=False),
        )
    if urls_file is not None:
        _write_atomic(urls_file, "\n".join(urls) + "\n")
    print(
        f"writ-simulated-fleet: {len(urls)} simulated replicas, {len(catalogue.entries)} stored scripts from {home}",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready(server, urls)
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m writ_dagster.rehearsal.fleet",
        description="writ-simulated-fleet: scripted OpenAI-compatible servers that "
        "simulate a teacher and user-simulator fleet",
    )
    parser.add_argument(
        "--home", type=Path, default=None, help="WRIT home whose tasks and scripts it plays (default $WRIT_HOME)"
    )
    parser.add_argument("--config", type=Path, default=None, help="fleet config, YAML or JSON")
    parser.add_argument("--port-base", type=int, default=None, help="replica i listens on N + i (default: free)")
    parser.add_argument("--replicas", type=int, default=None, help="replica count (overrides the config)")
    parser.add_argument("--time-scale", type=float, default=None, help="latency factor (overrides the config)")
    parser.add_argument("--urls-file", type=Path, default=None, help="write the base URLs here, one a line")
    parser.add_argument(
        "--writ-config",
        type=Path,
        default=None,
        help="write a writ config layer (YAML) whose teacher and user_simulator use the fleet",
    )
    parser.add_argument(
        "--die-with-parent", action="store_true", help="end when the starting process dies (Linux; start_fleet sets it)"
    )
    args = parser.parse_args(argv)
    if args.die_with_parent and not die_with_parent():
        return 0  # the process that started it is gone already
    from writ_dagster.core.home import writ_home

    config = load_fleet_config(args.config)
    updates: dict[str, Any] = {}
    if args.port_base is not None:
        updates["port_base"] = args.port_base
    if args.replicas is not None:
        updates["replica_count"] = args.replicas
    if args.time_scale is not None:
        updates["time_scale"] = args.time_scale
    if updates:
        config = FleetConfig.model_validate({**config.model_dump(), **updates})
    home = (args.home or writ_home()).expanduser().resolve()
    asyncio.run(serve(home, config, args.urls_file, args.writ_config))
    return 0


class FleetHandle:
    """A fleet running in a subprocess (see :func:`start_fleet`)."""

    def __init__(self, process: subprocess.Popen, base_urls: list[str], folder: tempfile.TemporaryDirectory) -> None:
        self.process = process
        self.base_urls = base_urls
        self._folder = folder

    @property
    def roots(self) -> list[str]:
        """Each replica's root URL (without ``/v1``)."""
        return [u.removesuffix("/v1") for u in self.base_urls]

    def stats(self, timeout_s: float = 10.0) -> dict[str, Any]:
        """The fleet's ``/stats`` (every replica's figures)."""
        with urllib.request.urlopen(self.roots[0] + "/stats", timeout=timeout_s) as response:
            return json.loads(response.read())

    def writ_roles(self, teacher: dict[str, Any] | None = None, user: dict[str, Any] | None = None) -> dict[str, Any]:
        """:func:`writ_roles` for this fleet's URLs."""
        return writ_roles(self.base_urls, teacher, user)

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it does not end in ``timeout_s``; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._folder.cleanup()
        return int(self.process.returncode)

    def __enter__(self) -> FleetHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fleet(
    home: str | Path,
    config: FleetConfig | dict[str, Any] | str | Path | None = None,
    *,
    startup_timeout_s: float = 120.0,
    log: Path | None = None,
) -> FleetHandle:
    """Start a fleet in a subprocess playing ``home``'s tasks; returns once every replica listens.

    ``config``: a :class:`FleetConfig`, a mapping, or a YAML/JSON path (None: the defaults).
    ``log``: file for the fleet's stderr (default: inherited).
    """
    cfg = config if isinstance(config, FleetConfig) else load_fleet_config(config)
    folder = tempfile.TemporaryDirectory(prefix="writ-simulated-fleet-")
    base = Path(folder.name)
    (base / "fleet.json").write_text(cfg.model_dump_json())
    urls_file = base / "urls.txt"
    err = open(log, "ab") if log is not None else None
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "writ_dagster.rehearsal.fleet",
            "--home",
            str(home),
            "--config",
            str(base / "fleet.json"),
            "--urls-file",
            str(urls_file),
            "--die-with-parent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=err,
        stdin=subprocess.DEVNULL,
    )
    if err is not None:
        err.close()
    deadline = time.monotonic() + startup_timeout_s
    while not urls_file.exists():
        if process.poll() is not None:
            folder.cleanup()
            raise RuntimeError(f"writ-simulated-fleet exited with {process.returncode} before it listened")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            folder.cleanup()
            raise TimeoutError(f"writ-simulated-fleet did not listen within {startup_timeout_s:.0f}s")
        time.sleep(0.05)
    urls = [line for line in urls_file.read_text().splitlines() if line.strip()]
    return FleetHandle(process, urls, folder)


class ThreadFleet:
    """A fleet served by a thread of this process (its own event loop): real HTTP on loopback,
    started in well under a second. For tests; benches and rehearsals use :func:`start_fleet`,
    whose CPU is not the caller's."""

    def __init__(self, home: str | Path, config: FleetConfig | dict[str, Any] | str | Path | None = None) -> None:
        import threading

        from writ_dagster.rehearsal.catalogue import Catalogue
        from writ_dagster.rehearsal.server import FleetServer

        self.config = config if isinstance(config, FleetConfig) else load_fleet_config(config)
        self.catalogue = Catalogue(Path(home), self.config.catalogue_refresh_s)
        self.catalogue.refresh(True)
        self.loop = asyncio.new_event_loop()
        self.server: FleetServer | None = None
        self.base_urls: list[str] = []
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = FleetServer(self.config, self.catalogue)
            self.base_urls = self.loop.run_until_complete(self.server.start())
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="writ-simulated-fleet", daemon=True)
        self.thread.start()
        if not started.wait(60):
            raise TimeoutError("the in-thread fleet did not start")

    def stats(self) -> dict[str, Any]:
        """The fleet's figures (as ``GET /stats``)."""
        assert self.server is not None
        return asyncio.run_coroutine_threadsafe(self._stats(), self.loop).result(10)

    async def _stats(self) -> dict[str, Any]:
        assert self.server is not None
        return self.server.stats()

    def stop(self) -> None:
        """Stop serving and end the thread."""
        if self.server is not None and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    def __enter__(self) -> ThreadFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
