"""Partition definitions shared by every partitioned WRIT asset: domain × batch.

``domain`` is static (the τ²-bench domains WRIT synthesizes for); ``batch`` is dynamic so a
data set grows by adding keys (``b0000``, ``b0001``, ...) without a code change.
"""

from __future__ import annotations

import dagster as dg

from writ_dagster.core.keys import WRIT_DOMAINS, check_batch_key, check_domain

BATCH_PARTITIONS_NAME = "batch"

domain_partitions = dg.StaticPartitionsDefinition(list(WRIT_DOMAINS))
batch_partitions = dg.DynamicPartitionsDefinition(name=BATCH_PARTITIONS_NAME)
domain_batch_partitions = dg.MultiPartitionsDefinition({"domain": domain_partitions, "batch": batch_partitions})


def domain_batch_key(domain: str, batch: str) -> dg.MultiPartitionKey:
    """The multi-partition key of one domain × batch (validated)."""
    return dg.MultiPartitionKey({"domain": check_domain(domain), "batch": check_batch_key(batch)})


def split_key(key: str) -> tuple[str, str]:
    """(domain, batch) of a domain × batch partition key, given as a MultiPartitionKey or its string."""
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
    else:
        # The string form joins the dimension keys in dimension-name order: "batch|domain".
        dims = dict(zip(sorted(["domain", "batch"]), key.split("|")))
    return dims["domain"], dims["batch"]


def ensure_batches(instance: dg.DagsterInstance, batches: list[str]) -> list[str]:
    """Add any missing batch keys to the instance's dynamic partitions; return the ones added."""
    keys = [check_batch_key(b) for b in batches]
    missing = [b for b in dict.fromkeys(keys) if not instance.has_dynamic_partition(BATCH_PARTITIONS_NAME, b)]
    if missing:
        instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, missing)
    return missing
