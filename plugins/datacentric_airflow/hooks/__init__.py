"""Hooks of the datacentric provider."""
