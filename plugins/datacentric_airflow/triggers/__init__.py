"""Triggers of the datacentric provider."""
