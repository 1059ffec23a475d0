"""WRIT task synthesis: blueprints, per-domain composers, policy rules, axis measurement."""
