"""Find the files that live beside the package: extension.json, schemas/, icon.png.

They sit outside the import package so that the manifest is the same file in a checkout, an unpacked
upload archive and an installed wheel (which ships them under ``share/handover-miaw``).
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

__all__ = ["ResourceNotFoundError", "project_root", "schema_path"]

MANIFEST_NAME = "extension.json"
ENV_HOME = "HANDOVER_MIAW_HOME"


class ResourceNotFoundError(FileNotFoundError):
    """The manifest and schemas could not be found in any known place."""


def _candidates() -> list[Path]:
    places: list[Path] = []
    if home := os.environ.get(ENV_HOME):
        places.append(Path(home))
    places.append(Path(__file__).resolve().parent.parent)
    places.append(Path(sys.prefix) / "share" / "handover-miaw")
    return places


@cache
def project_root() -> Path:
    """Return the folder that holds extension.json and schemas/."""
    for place in _candidates():
        if (place / MANIFEST_NAME).is_file() and (place / "schemas").is_dir():
            return place
    searched = ", ".join(str(p) for p in _candidates())
    raise ResourceNotFoundError(f"{MANIFEST_NAME} and schemas/ not found (searched {searched}; set {ENV_HOME})")


def schema_path(name: str) -> Path:
    """Return the path of a schema file in schemas/."""
    return project_root() / "schemas" / name
