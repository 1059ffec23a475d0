"""Upper bounds on `writ run`'s sizes and seeds, in one place so that ``--help`` can state them
without importing the models that enforce them.

The sizes keep a typo (``--tasks-per-batch 1000000000``) from starting a run that never ends;
seeds are stored in signed 64-bit columns.
"""

from __future__ import annotations

MAX_TASKS_PER_BATCH = 10_000
# Variants are distinct script dimensions drawn at random per task; past a few dozen a task runs out
# of distinct ones and would silently get fewer scripts than asked for.
MAX_VARIANTS = 16
MAX_WORKERS = 64
MAX_CONCURRENCY = 1024
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1
# Counts that multiply a run's work: far above any real protocol (τ²: 200 steps, 4 trials), far below
# a typo's 10^30 that would be accepted and then never end.
MAX_TRIALS = 1_000
MAX_STEPS = 10_000
MAX_ATTEMPTS_PER_TASK = 10_000
