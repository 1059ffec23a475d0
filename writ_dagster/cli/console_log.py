"""The console logger of ``writ run``'s Dagster runs: Dagster's own, silent once a stop signal came.

Dagster turns Ctrl-C or SIGTERM into a failed step and a failed run and logs each as an ERROR with
its traceback (about a hundred lines). Those say nothing the person who pressed Ctrl-C does not know;
``writ run`` ends with one line that says what was kept instead.
"""

from __future__ import annotations

import logging

import dagster as dg

from writ_dagster.cli.stop import StopWatch


def console_logger(stop: StopWatch) -> dg.LoggerDefinition:
    """Dagster's colored console logger (same config: ``log_level``, ``name``), dropping every record
    logged after ``stop`` saw a stop signal."""
    base = dg.colored_console_logger

    def make(init_context: dg.InitLoggerContext) -> logging.Logger:
        log = base.logger_fn(init_context)
        log.addFilter(lambda record: not stop.seen())
        return log

    return dg.LoggerDefinition(make, config_schema=base.config_schema, description=base.description)
