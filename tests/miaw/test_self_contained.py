"""The miaw package imports nothing from the rest of handover_miaw but three neutral modules (the backoff
schedule, the rule for numbers sent as text, stopping a task for good), and those import the standard library
only, so the client can be lifted out with them (purity: tests/test_purity.py).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

HANDOVER_MIAW = Path(__file__).resolve().parents[2] / "handover_miaw"
PACKAGE = HANDOVER_MIAW / "miaw"
# The only modules of handover_miaw outside miaw/ that miaw/ may import.
ALLOWED = {"handover_miaw.backoff", "handover_miaw.digits", "handover_miaw.tasks"}


def absolute_imports(path: Path) -> set[str]:
    """The modules `path` imports by absolute name (`from x import y` counts as x, `import x.y` as x.y)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module or "")
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_imports_from_the_rest_of_the_package_but_the_neutral_modules() -> None:
    used: set[str] = set()
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, f"{path.name} imports from outside the miaw package"
        ours = {name for name in absolute_imports(path) if name.split(".")[0] == "handover_miaw"}
        assert ours <= ALLOWED, f"{path.name} imports {sorted(ours - ALLOWED)}"
        used |= ours
    # The allowance is not wider than what is used: a stale entry would let a future import through unseen.
    assert used == ALLOWED


def test_the_allowed_modules_import_the_standard_library_only() -> None:
    for name in ALLOWED:
        path = HANDOVER_MIAW.parent.joinpath(*name.split(".")).with_suffix(".py")
        tree = ast.parse(path.read_text())
        assert not any(isinstance(n, ast.ImportFrom) and n.level > 0 for n in ast.walk(tree)), name
        outside = {m for m in absolute_imports(path) if m.split(".")[0] not in sys.stdlib_module_names}
        assert outside == set(), f"{name} imports {sorted(outside)}"
