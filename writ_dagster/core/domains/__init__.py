"""The tau2 adapter: domain registry, copy-on-write DB state and fast verification."""
