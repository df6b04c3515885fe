"""Build dist/<name>-<version>.tar.gz, the archive a user uploads.

Usage: python build.py [--out DIR]
Exit 0 with the path, size and sha256 printed; 2 when the manifest is invalid or the package is refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from handover_miaw.manifest import ManifestError
from handover_miaw.packaging import BuildError, build_package


def main(argv: list[str] | None = None) -> int:
    """Build the package from the folder this script lives in."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output folder (default: dist)")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent
    try:
        built = build_package(root, args.out)
    except ManifestError as exc:
        for problem in exc.problems:
            print(f"{exc.path}: {problem.pointer or '/'}: {problem.message}", file=sys.stderr)
        print("build refused: the manifest is invalid", file=sys.stderr)
        return 2
    except BuildError as exc:
        print(f"build refused: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {built.path} ({built.size} bytes, {built.files} files) sha256 {built.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
