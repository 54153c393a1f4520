"""Schema validation: suites from the manifest, row-level quarantine, drift and the gate."""

from datacentric.validation.suite import ValidationResult, load_expectations, validate_source

__all__ = ["ValidationResult", "load_expectations", "validate_source"]
