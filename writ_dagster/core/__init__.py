"""The pure core of writ-dagster: synthesis, verification and storage. Never imports dagster."""
