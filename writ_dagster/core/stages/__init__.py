"""The stages after task synthesis, each one partition at a time: read inputs from storage,
call the pure cores (user scripts, simulation), write rows. The Dagster assets call these."""
