"""writ-dagster: WRIT task synthesis and agent training data for τ²-bench, as a Dagster asset graph."""

__version__ = "0.1.0"
