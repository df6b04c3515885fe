"""What a file upload's parts must be before the API document's schema can check them (its text parts as
UTF-8 text), and a file name MIAW's multipart request can carry.

Unchecked, an empty or 4,096-character `id` was taken as the caller's id, and a file name of bytes other than
UTF-8, or with a NUL, failed while the runtime built the request to MIAW: a 500 after the upload was read.
"""

from __future__ import annotations

import re

from handover_miaw.errors import SchemaViolationError
from handover_miaw.problems import Problem

__all__ = ["MAX_FILENAME_CHARS", "checked_filename", "text_part"]

MAX_FILENAME_CHARS = 255
# C0 controls, DEL and C1 controls: no file name holds them, and a header cannot carry them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _refuse(pointer: str, message: str) -> SchemaViolationError:
    return SchemaViolationError([Problem(pointer, message)])


def text_part(name: str, raw: bytes) -> str:
    """A text part's value as UTF-8 text, else a 422 at `/name` (its length is the schema's to check)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(f"/{name}", "the value is not UTF-8 text") from None


def checked_filename(filename: str) -> str:
    """The file's name as MIAW will get it, else a 422 at `/file`.

    aiohttp hands over a name whose bytes are not UTF-8 with those bytes as lone surrogates; such a name is
    read as Latin-1, the charset older clients send names in (RFC 7578 leaves it open), rather than refused.
    """
    if any("\udc80" <= char <= "\udcff" for char in filename):
        filename = filename.encode("utf-8", "surrogateescape").decode("latin-1")
    try:
        filename.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a `filename*=` in a charset of the client's choosing
        raise _refuse("/file", "the file name is not Unicode text") from None
    if _CONTROL.search(filename):
        raise _refuse("/file", "the file name holds a control character")
    if len(filename) > MAX_FILENAME_CHARS:
        raise _refuse("/file", f"the file name is longer than {MAX_FILENAME_CHARS} characters")
    return filename
