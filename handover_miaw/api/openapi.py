"""The /v1 API document (schemas/openapi.json) completed with the manifest's derived schemas, and the
compiled validators of every JSON request body, keyed by operationId."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from handover_miaw.errors import SchemaViolationError
from handover_miaw.manifest import Manifest
from handover_miaw.names import CONNECTOR_NAME_PATTERN, CONNECTOR_NAME_RULE
from handover_miaw.resources import schema_path
from handover_miaw.schema import CompiledSchema

__all__ = ["ApiDocument"]


class ApiDocument:
    """The OpenAPI document served at /v1/openapi.json and the body validators derived from it."""

    def __init__(self, manifest: Manifest) -> None:
        document: dict[str, Any] = orjson.loads(schema_path("openapi.json").read_bytes())
        components = document["components"]["schemas"]
        components["ConnectorConfig"] = _as_component(manifest.connector_schema)
        components["NodeSettings"] = _as_component(manifest.node_schema)
        # The one rule for connector names (names.py); a pattern failure is reported with this description.
        components["ConnectorName"] = {
            "type": "string",
            "pattern": CONNECTOR_NAME_PATTERN,
            "description": CONNECTOR_NAME_RULE,
        }
        document["info"]["version"] = manifest.version
        self.document = document
        self.body = orjson.dumps(document)
        self._validators: dict[str, CompiledSchema] = {}
        for path_item in document["paths"].values():
            for operation in path_item.values():
                if not isinstance(operation, dict) or "operationId" not in operation:
                    continue
                content = operation.get("requestBody", {}).get("content", {})
                if "application/json" in content:
                    schema = content["application/json"]["schema"]
                elif "multipart/form-data" in content:
                    schema = _text_parts(content["multipart/form-data"]["schema"])
                else:
                    continue
                root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": document["components"]}
                self._validators[operation["operationId"]] = CompiledSchema({**root, **schema})

    def validate(self, operation_id: str, body: Any) -> None:
        """Raise SchemaViolationError listing every problem of a request body."""
        validator = self._validators[operation_id]
        problems = validator.problems(body)
        if problems:
            first = problems[0]
            plain = [p for p in validator.problems(body, quote_values=False) if p.pointer == first.pointer]
            summary = plain[0].message if len(plain) == 1 else "several problems, each listed in `problems`"
            raise SchemaViolationError(problems, summary=summary)

    def is_valid(self, operation_id: str, body: Any) -> bool:
        """Fast path used by benchmarks."""
        return self._validators[operation_id].is_valid(body)


def _text_parts(schema: dict[str, Any]) -> dict[str, Any]:
    """A multipart body's schema for its text parts alone, as an object of strings: the binary parts (a
    `contentMediaType`) are checked by their route as they are read."""
    binary = {name for name, part in schema.get("properties", {}).items() if "contentMediaType" in part}
    return {
        **schema,
        "properties": {name: part for name, part in schema.get("properties", {}).items() if name not in binary},
        "required": [name for name in schema.get("required", []) if name not in binary],
    }


def _as_component(schema: dict[str, Any]) -> dict[str, Any]:
    # Inside the OpenAPI document a component is not a resource of its own: drop $schema and $id, which
    # would otherwise re-base the references around it.
    component = copy.deepcopy(schema)
    component.pop("$schema", None)
    component.pop("$id", None)
    return component
