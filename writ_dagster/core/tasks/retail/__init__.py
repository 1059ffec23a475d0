"""Retail task composition: the policy rules and the blueprints that synthesize retail tasks."""
