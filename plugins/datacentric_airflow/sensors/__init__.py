"""Sensors of the datacentric provider."""
