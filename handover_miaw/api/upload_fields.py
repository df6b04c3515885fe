"""The checks of a file upload's fields, which come as multipart parts, not JSON: the API document's rules for
them (`id` 1 to 200 characters, `text` up to 1,000), and a file name MIAW's multipart request can carry.

Unchecked, an empty or 4,096-character `id` was taken as the caller's id, and a file name of bytes other than
UTF-8, or with a NUL, failed while the runtime built the request to MIAW: a 500 after the upload was read.
"""

from __future__ import annotations

import re

from handover_miaw.errors import SchemaViolationError
from handover_miaw.problems import Problem

__all__ = ["MAX_FILENAME_CHARS", "checked_filename", "checked_text_part"]

MAX_FILENAME_CHARS = 255
# C0 controls, DEL and C1 controls: no file name holds them, and a header cannot carry them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _refuse(pointer: str, message: str) -> SchemaViolationError:
    return SchemaViolationError([Problem(pointer, message)])


def checked_text_part(name: str, raw: bytes, *, min_chars: int, max_chars: int) -> str:
    """A text part's value: UTF-8 of `min_chars` to `max_chars` characters, else a 422 at `/name`."""
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(f"/{name}", "the value is not UTF-8 text") from None
    if not min_chars <= len(value) <= max_chars:
        raise _refuse(f"/{name}", f"the value must be {min_chars} to {max_chars} characters long (got {len(value)})")
    return value


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
