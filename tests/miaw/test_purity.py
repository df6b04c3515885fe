"""The pure modules import without aiohttp, and the package imports nothing from the rest of handover_miaw."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "handover_miaw" / "miaw"
PURE = ["errors", "jwt", "retry", "sse", "events", "decoding", "models", "stream_status", "_decode"]

PROBE = """
import importlib, sys, types
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "aiohttp":
            raise ImportError("aiohttp is not allowed here")
sys.meta_path.insert(0, Block())
package = types.ModuleType("handover_miaw.miaw")  # skip __init__, which exports the client
package.__path__ = [sys.argv[1]]
sys.modules["handover_miaw.miaw"] = package
for name in sys.argv[2:]:
    importlib.import_module("handover_miaw.miaw." + name)
"""


def test_pure_modules_do_not_need_aiohttp() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(PACKAGE), *PURE], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_no_imports_from_the_rest_of_the_package() -> None:
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, f"{path.name} imports from outside the miaw package"
                assert node.level == 1 or not (node.module or "").startswith("handover_miaw"), path.name
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("handover_miaw") for a in node.names), path.name
