"""The miaw package imports nothing from the rest of handover_miaw (its purity: tests/test_purity.py)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "handover_miaw" / "miaw"


def test_no_imports_from_the_rest_of_the_package() -> None:
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, f"{path.name} imports from outside the miaw package"
                assert node.level == 1 or not (node.module or "").startswith("handover_miaw"), path.name
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("handover_miaw") for a in node.names), path.name
