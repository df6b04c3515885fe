"""The manifest pipeline: the real manifest passes; each kind of breakage is found with its pointer."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi

from handover_miaw.manifest import ManifestError, load_manifest
from handover_miaw.manifest.checks import check_icon

WriteManifest = Callable[[dict[str, Any]], Path]


def _pointers(path: Path) -> dict[str, str]:
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    return {p.pointer: p.message for p in caught.value.problems}


def _node(doc: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = doc["nodes"][0]
    return node


def test_every_schema_file_passes_its_metaschema(root: Path) -> None:
    files = sorted((root / "schemas").glob("*.json"))
    assert len(files) >= 3, "schemas/ lost files"
    for path in files:
        document = json.loads(path.read_text())
        if "openapi" in document:
            validate_openapi(document)
            continue
        validator = jsonschema.validators.validator_for(document)
        assert validator is jsonschema.Draft202012Validator, path.name
        validator.check_schema(document)


def test_the_project_manifest_is_valid(root: Path) -> None:
    manifest = load_manifest(root / "extension.json")
    assert manifest.name == "handover-miaw"
    assert [f.label for f in manifest.connector_fields][:5] == [
        "Base URL",
        "Organization ID",
        "Embedded Service Developer Name",
        "Capabilities Version",
        "Forward Events to the Flow",
    ]


def test_the_derived_schemas_pass_the_metaschema(root: Path) -> None:
    manifest = load_manifest(root / "extension.json")
    jsonschema.Draft202012Validator.check_schema(manifest.connector_schema)
    jsonschema.Draft202012Validator.check_schema(manifest.node_schema)


def test_malformed_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "extension.json"
    path.write_text('{\n  "name": "x",\n  "label" "y"\n}')
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (3, 11)
    assert "invalid JSON" in problem.message


def test_duplicate_json_keys_are_reported(tmp_path: Path, root: Path) -> None:
    text = (
        (root / "extension.json")
        .read_text()
        .replace('"label": "Salesforce MIAW Handover",', '"label": "A", "label": "B",', 1)
    )
    path = tmp_path / "extension.json"
    path.write_text(text)
    assert _pointers(path) == {"/label": "duplicate key 'label'"}


def test_wrong_types_unknown_and_missing_properties(
    manifest_doc: dict[str, Any], write_manifest: WriteManifest
) -> None:
    manifest_doc["version"] = 1
    manifest_doc["surprise"] = True
    del manifest_doc["author"]
    manifest_doc["connector"]["fields"][4]["type"] = "checkbox"
    found = _pointers(write_manifest(manifest_doc))
    assert set(found) == {"/version", "/surprise", "/author", "/connector/fields/4/type"}


def test_duplicate_field_keys(manifest_doc: dict[str, Any], write_manifest: WriteManifest) -> None:
    manifest_doc["connector"]["fields"][1]["key"] = "baseUrl"
    found = _pointers(write_manifest(manifest_doc))
    assert found == {"/connector/fields/1/key": "duplicate field key 'baseUrl' (first at /connector/fields/0)"}


def test_condition_pointing_at_a_missing_field(manifest_doc: dict[str, Any], write_manifest: WriteManifest) -> None:
    _node(manifest_doc)["fields"][3]["condition"] = {"key": "noSuchToggle", "value": True}
    found = _pointers(write_manifest(manifest_doc))
    assert list(found) == ["/nodes/0/fields/3/condition/key"]
    assert "noSuchToggle" in found["/nodes/0/fields/3/condition/key"]


def test_nested_condition_value_must_fit_the_field(manifest_doc: dict[str, Any], write_manifest: WriteManifest) -> None:
    _node(manifest_doc)["fields"][3]["condition"] = {
        "and": [{"key": "useIdentityToken", "value": True}, {"or": [{"key": "sendTranscript", "value": "yes"}]}]
    }
    found = _pointers(write_manifest(manifest_doc))
    assert list(found) == ["/nodes/0/fields/3/condition/and/1/or/0/value"]


def test_section_and_form_references_must_resolve(manifest_doc: dict[str, Any], write_manifest: WriteManifest) -> None:
    node = _node(manifest_doc)
    node["sections"][0]["fields"].append("ghost")
    node["form"].append({"type": "section", "key": "missingSection"})
    found = _pointers(write_manifest(manifest_doc))
    assert set(found) == {"/nodes/0/sections/0/fields/9", "/nodes/0/form/1/key"}


def test_field_not_shown_by_the_form(manifest_doc: dict[str, Any], write_manifest: WriteManifest) -> None:
    _node(manifest_doc)["sections"][0]["fields"].remove("endOnParticipantChange")
    found = _pointers(write_manifest(manifest_doc))
    assert list(found) == ["/nodes/0/fields/8/key"]


def test_defaults_must_fit_their_type(manifest_doc: dict[str, Any], write_manifest: WriteManifest) -> None:
    manifest_doc["connector"]["fields"][4]["default"] = "off"
    _node(manifest_doc)["fields"][1]["defaultValue"] = {"bad key": "x"}
    found = _pointers(write_manifest(manifest_doc))
    assert set(found) == {"/connector/fields/4/default", "/nodes/0/fields/1/defaultValue/bad key"}


def test_hand_broken_manifest_lists_every_problem(manifest_doc: dict[str, Any], write_manifest: WriteManifest) -> None:
    node = _node(manifest_doc)
    manifest_doc["connector"]["fields"][1]["key"] = "baseUrl"
    node["fields"][3]["condition"] = {"key": "ghost", "value": True}
    node["form"].append({"type": "field", "key": "nothing"})
    assert len(_pointers(write_manifest(manifest_doc))) == 3


def _png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunk = struct.pack(">I", len(header)) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))
    return b"\x89PNG\r\n\x1a\n" + chunk


def test_icon_checks() -> None:
    assert check_icon(_png(64, 64), "icon.png") == []
    assert "32x32" in check_icon(_png(32, 32), "icon.png")[0].message
    assert "not a PNG" in check_icon(b"GIF89a....", "icon.png")[0].message
    assert "not found" in check_icon(None, "icon.png")[0].message


def test_missing_icon_is_reported(manifest_doc: dict[str, Any], write_manifest: WriteManifest) -> None:
    path = write_manifest(manifest_doc)
    (path.parent / "icon.png").unlink()
    assert list(_pointers(path)) == ["/icon"]


def test_the_real_icon_is_64_by_64(root: Path) -> None:
    assert check_icon((root / "icon.png").read_bytes(), "icon.png") == []


def test_every_operation_with_a_body_documents_the_415_it_can_answer(root: Path) -> None:
    document = json.loads((root / "schemas" / "openapi.json").read_text())
    missing = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict) and "requestBody" in operation and "415" not in operation["responses"]
    ]
    assert missing == []
