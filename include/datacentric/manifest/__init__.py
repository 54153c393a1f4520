"""The manifest: one YAML file that lists every source, label task and feature view."""

from datacentric.manifest.model import LoadedManifest, Manifest, load_manifest, manifest_json_schema, parse_manifest

__all__ = ["LoadedManifest", "Manifest", "load_manifest", "manifest_json_schema", "parse_manifest"]
