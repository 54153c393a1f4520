"""Errors of the domain library. Each carries its context (file, source, field, row) in its message."""

from __future__ import annotations


class DataCentricError(Exception):
    """Base class of every error this library raises on purpose."""


class InputError(DataCentricError):
    """Bad input that running again cannot fix (a manifest, a Param, a missing definition, data that
    fails its gate): the Airflow operators fail such a task at once, without retrying."""


class ManifestError(InputError):
    """The manifest is missing, not YAML, or breaks its schema; the message names line and field."""


class MissingDefinitionError(ManifestError):
    """The manifest lacks what a stage needs: a label task, a features block, a named source."""


class ParamError(InputError, ValueError):
    """An operator argument or a DAG Param has a value the stage cannot use; the message names it."""


class TimeFormatError(ParamError):
    """A date or time given by a person (a Param, an option, a restore target) is not ISO 8601."""


class SourceError(DataCentricError):
    """A source could not be read; the message names the source and the file, table or object."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        super().__init__(f"source {source!r}: {where}: {problem}")
        self.source = source
        self.where = where
        self.problem = problem


class ValidationGateError(InputError):
    """A source failed its validation gate; downstream stages must not run on it."""


class RepositoryError(DataCentricError):
    """The data repository is missing, inconsistent or a requested state does not exist."""


class LabelingError(DataCentricError):
    """A labeling job or its responses could not be used."""


class FeatureStoreError(DataCentricError):
    """Feature definitions, materialization or online reads went wrong."""
