"""The manifest (extension.json): loading, checking, and the schemas derived from its fields."""

from handover_miaw.manifest.fields import Field
from handover_miaw.manifest.loader import (
    HANDOVER_NODE,
    Manifest,
    ManifestError,
    check_manifest,
    load_manifest,
    manifest_schema,
)

__all__ = [
    "HANDOVER_NODE",
    "Field",
    "Manifest",
    "ManifestError",
    "check_manifest",
    "load_manifest",
    "manifest_schema",
]
