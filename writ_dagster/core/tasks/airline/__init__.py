"""Airline task synthesis: policy rules and blueprints over tau2's airline DB."""
