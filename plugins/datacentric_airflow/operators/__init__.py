"""Operators of the datacentric provider."""
