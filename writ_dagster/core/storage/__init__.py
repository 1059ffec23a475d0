"""WRIT's DuckDB database (pure: no Dagster here): one module per table family, each owning
its ``CREATE`` statements and its readers and writers.

- ``schema.py``: the schema version, opening the file, creating and upgrading the tables;
- ``base.py``: what every table module shares (transactions, JSON text, frame inserts, digests);
- ``tasks.py``: ``tasks``, ``task_rejections``, ``domain_catalogue`` and ``domain_info``;
- ``runs.py``: ``partition_runs`` (stage ``tasks``) and ``stage_runs`` (the stages after it);
- ``scripts.py``: ``user_scripts``, one row per user behaviour script;
- ``trajectories.py``: ``trajectories``, one row per simulated conversation;
- ``sft.py``: ``sft_sets`` and ``sft_rows``, each SFT set built and its rows with their lineage ids;
- ``checkpoints.py``: ``checkpoints``, each complete fine-tuned checkpoint;
- ``evaluations.py``: ``evaluations``, each τ²-bench evaluation of a model, one row per (model, domain);
- ``lineage.py``: the views ``trajectory_lineage`` and ``sft_lineage`` and the queries over them.

Writing a partition replaces exactly that (domain, partition)'s rows in one transaction, so
re-materializing it yields the same rows (only ``written_at`` differs) and other partitions
are never touched. Trajectories are the exception by design: they are written one small
transaction per finished conversation, so a killed run keeps its finished work.
"""
