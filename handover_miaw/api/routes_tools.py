"""Tools for the node editor and the package check page: validation with the CLI's engine, the preview
of what Salesforce will receive, and the check of a built package."""

from __future__ import annotations

import asyncio

from aiohttp import web

from handover_miaw.api.app_keys import MANIFEST, SETTINGS
from handover_miaw.api.requests import json_body, read_body
from handover_miaw.api.responses import json_response
from handover_miaw.errors import MalformedRequestError, UnsupportedMediaTypeError
from handover_miaw.handovers.preview import preview
from handover_miaw.validate import check_document
from handover_miaw.validate.archive import check_archive

__all__ = ["routes"]

routes = web.RouteTableDef()

_ARCHIVE_TYPES = frozenset({"application/gzip", "application/x-gzip", "application/octet-stream"})


@routes.post("/v1/validate")
async def validate_document(request: web.Request) -> web.Response:
    """Every problem of node settings or a connector configuration, found as `handover-miaw validate` does."""
    body = await json_body(request, "validateDocument")
    problems = check_document(body["document"], body["kind"], request.app[MANIFEST])
    return json_response({"valid": not problems, "problems": [p.as_dict() for p in problems]})


@routes.post("/v1/preview")
async def preview_handover(request: web.Request) -> web.Response:
    """What the runtime would send to MIAW for these settings and this transcript (settings checked first)."""
    body = await json_body(request, "previewHandover")
    settings = request.app[MANIFEST].node_with_defaults(body["settings"])
    return json_response(preview(settings, body.get("transcript", []), body.get("language")))


@routes.post("/v1/packages/check")
async def check_package_upload(request: web.Request) -> web.Response:
    """A built archive checked as `handover-miaw validate` checks it, with the forms of its manifest."""
    if request.content_type not in _ARCHIVE_TYPES:
        raise UnsupportedMediaTypeError(
            f"send the archive as application/gzip, not {request.content_type!r}", pointer="/Content-Type"
        )
    data = await read_body(request, request.app[SETTINGS].max_file_bytes)
    if not data:
        raise MalformedRequestError("the request body is empty; a .tar.gz archive is expected")
    # Reading a tar is blocking file work: keep it off the event loop.
    return json_response(await asyncio.to_thread(check_archive, data))
