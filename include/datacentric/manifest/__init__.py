"""The manifest: one YAML file that lists every source, how sources tie together, the label task
and the feature definitions. Ingestion, validation, labeling and features are all driven by it."""

from datacentric.manifest.loader import load_manifest, manifest_json_schema, parse_manifest
from datacentric.manifest.model import LoadedManifest, Manifest

__all__ = ["LoadedManifest", "Manifest", "load_manifest", "manifest_json_schema", "parse_manifest"]
