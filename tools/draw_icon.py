"""Draw icon.png (64x64 RGBA): two speech bubbles, bot to agent, on a Salesforce-blue tile.

Kept in the repository so the artwork can be regenerated and reviewed; it uses only the standard
library (zlib + struct), so drawing the icon needs no imaging package.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIZE = 64
BLUE = (1, 118, 211, 255)
WHITE = (255, 255, 255, 255)
NAVY = (3, 45, 96, 255)
CLEAR = (0, 0, 0, 0)


def _inside_rounded(x: float, y: float, x0: float, y0: float, x1: float, y1: float, r: float) -> bool:
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r and x0 <= x <= x1 and y0 <= y <= y1


def _pixel(x: int, y: int) -> tuple[int, int, int, int]:
    px, py = x + 0.5, y + 0.5
    if not _inside_rounded(px, py, 0, 0, 64, 64, 12):
        return CLEAR
    # Bot bubble (upper left) with its tail pointing down-left.
    if _inside_rounded(px, py, 8, 10, 38, 30, 6) or (10 <= px <= 16 and 28 <= py <= 36 and px - 10 >= py - 30):
        return WHITE
    # Agent bubble (lower right), navy, tail down-right.
    if _inside_rounded(px, py, 26, 34, 56, 54, 6) or (48 <= px <= 54 and 52 <= py <= 60 and 54 - px >= py - 54):
        return NAVY
    # Three dots in the bot bubble.
    for cx in (16, 23, 30):
        if (px - cx) ** 2 + (py - 20) ** 2 <= 5:
            return BLUE
    # A white line in the agent bubble.
    if 32 <= px <= 50 and 42 <= py <= 46:
        return WHITE
    return BLUE


def png_bytes() -> bytes:
    """Return the icon as PNG bytes."""
    rows = b"".join(b"\x00" + b"".join(bytes(_pixel(x, y)) for x in range(SIZE)) for y in range(SIZE))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    Path(__file__).resolve().parent.parent.joinpath("icon.png").write_bytes(png_bytes())
