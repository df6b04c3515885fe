"""Every folder of the package is a regular package that the archive carries, and the lazy re-exports of
package `__init__`s resolve every name they list."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from handover_miaw.packaging import collect_files

ROOT = Path(__file__).resolve().parents[1]
LAZY_PACKAGES = ["handover_miaw.miaw", "handover_miaw.store"]


def _module_folders() -> list[Path]:
    return sorted({path.parent for path in (ROOT / "handover_miaw").rglob("*.py") if "__pycache__" not in path.parts})


def test_every_folder_of_modules_is_a_regular_package() -> None:
    """A folder without `__init__.py` is a namespace package, which setuptools' find_packages (without
    namespaces) and type checkers may skip."""
    missing = [
        folder.relative_to(ROOT).as_posix() for folder in _module_folders() if not (folder / "__init__.py").is_file()
    ]
    assert missing == []
    assert {"handovers", "delivery"} <= {folder.name for folder in _module_folders()}


def test_the_archive_carries_every_package() -> None:
    files = collect_files(ROOT)
    for folder in _module_folders():
        assert (folder / "__init__.py").relative_to(ROOT).as_posix() in files


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_lazy_exports_resolve_every_listed_name(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        getattr(module, name)  # AttributeError when the lazy map names the wrong module
        assert name in dir(module)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = module.no_such_name
