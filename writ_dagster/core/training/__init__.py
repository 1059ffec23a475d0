"""Fine-tuning WRIT checkpoints with TRL: recipes, the untrained tiny base, the trainer and the
program Dagster Pipes launches (``python -m writ_dagster.core.training.pipes_main``).

Importing this package, ``recipes``, ``tiny_base`` or ``sft_train`` needs neither tau2, vLLM
nor Dagster: the training program runs on GPU hosts and in pods that have only the training
stack (torch, transformers, trl, datasets, peft, accelerate) and ``dagster-pipes``. Only
building the CPU recipe's tiny base reaches into tau2 (for its tokenizer's corpus), lazily.
"""

# The name of the completion marker, written last into a finished checkpoint. Defined here, not
# in ``checkpoint_storage`` (which imports it from here), so the training program need not load
# DuckDB.
COMPLETE_MARKER = "writ_checkpoint.json"
