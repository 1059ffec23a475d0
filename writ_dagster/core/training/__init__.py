"""Fine-tuning WRIT checkpoints with TRL: recipes, the untrained tiny base, the trainer and the
program Dagster Pipes launches (``python -m writ_dagster.core.training.pipes_main``).

Nothing here imports tau2, vLLM, Dagster, DuckDB or the rest of ``writ_dagster.core`` beyond
``folders``: the training program runs on GPU hosts and in pods that have only the training
stack (torch, transformers, trl, datasets, peft, accelerate) and ``dagster-pipes``. The CPU
recipe's tiny base, whose tokenizer is trained on tau2 conversations, is therefore built by the
launching process (``writ_dagster.core.llm.tiny_model.ensure_tiny_base``), which hands the
training its folder.
"""

# The name of the completion marker, written last into a finished checkpoint. Defined here, not
# in ``core/storage/checkpoints.py`` (which imports it from here), so the training program need not load
# DuckDB.
COMPLETE_MARKER = "writ_checkpoint.json"
