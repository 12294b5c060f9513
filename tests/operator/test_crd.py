"""The CRD, checked offline: structural rules reject bad values and name the field.

Patterns, ranges and types are JSON-schema rules, so jsonschema checks them the way the API
server does. CEL rules (immutability, exactly one of image and source, reserved env names) need
the API server; here their presence and messages are checked, the cluster tests run them.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from daeploy.contract import (
    API_GROUP_VERSION,
    API_VERSION,
    CRD_NAME,
    KIND,
    OPERATOR_NAME,
    PLURAL,
    RESERVED_ENV,
)
from daeploy.names import MAX_SERVICE_NAME_LENGTH, SERVICE_NAME_PATTERN, VERSION_PATTERN

REPO = Path(__file__).resolve().parents[2]
CRD_PATH = REPO / "crds" / f"{PLURAL}.yaml"
CHART_CRD_PATH = REPO / "charts" / OPERATOR_NAME / "crds" / f"{PLURAL}.yaml"


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    return yaml.safe_load(CRD_PATH.read_text())


@pytest.fixture(scope="module")
def version_entry(crd: dict[str, Any]) -> dict[str, Any]:
    [entry] = crd["spec"]["versions"]
    return entry


@pytest.fixture(scope="module")
def validator(version_entry: dict[str, Any]) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(version_entry["schema"]["openAPIV3Schema"])


def _spec_schema(version_entry: dict[str, Any]) -> dict[str, Any]:
    return version_entry["schema"]["openAPIV3Schema"]["properties"]["spec"]


GOOD = {
    "apiVersion": API_GROUP_VERSION,
    "kind": KIND,
    "metadata": {"name": "die-roller-v1-0-0"},
    "spec": {
        "name": "die_roller",
        "version": "1.0.0-rc.1+build.5",
        "main": True,
        "image": "localhost/die-roller:1.0.0",
        "port": 8000,
        "replicas": 2,
        "env": [{"name": "GREETING", "value": "hi"}],
        "resources": {"limits": {"memory": "128Mi", "cpu": 1}, "requests": {"cpu": "100m"}},
    },
}


def _with(path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = obj
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return obj


_DELETE = object()


def test_crd_identity(crd: dict[str, Any], version_entry: dict[str, Any]) -> None:
    assert crd["metadata"]["name"] == CRD_NAME
    names = crd["spec"]["names"]
    assert names["kind"] == KIND
    assert names["shortNames"] == ["dsvc"]
    assert "daeploy" in names["categories"]
    assert crd["spec"]["scope"] == "Namespaced"
    assert version_entry["name"] == API_VERSION
    assert version_entry["served"] and version_entry["storage"]
    assert version_entry["subresources"] == {"status": {}}


def test_good_object_is_valid(validator: jsonschema.Draft7Validator) -> None:
    assert list(validator.iter_errors(GOOD)) == []


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("spec.name", "Die_Roller", "name"),
        ("spec.name", "_die", "name"),
        ("spec.name", "die_", "name"),
        ("spec.name", "die-roller", "name"),
        ("spec.name", "a" * 41, "name"),
        ("spec.name", 7, "name"),
        ("spec.version", "1.0", "version"),
        ("spec.version", "v1.0.0", "version"),
        ("spec.version", "01.0.0", "version"),
        ("spec.version", "1.0.0-", "version"),
        ("spec.version", "1.0.0-" + "x" * 130, "version"),
        ("spec.main", "yes", "main"),
        ("spec.image", "", "image"),
        ("spec.image", "has space:1", "image"),
        ("spec.port", 0, "port"),
        ("spec.port", 65536, "port"),
        ("spec.port", "8000", "port"),
        ("spec.replicas", -1, "replicas"),
        ("spec.env", [{"value": "no name"}], "env"),
        ("spec.env", [{"name": "1BAD=", "value": "x"}], "name"),
        ("spec.source", {"configMap": "Not_DNS"}, "configMap"),
        ("spec.source", {}, "source"),
        ("spec.resources", {"limits": {"memory": "lots"}}, "memory"),
        ("spec.name", _DELETE, "spec"),
        ("spec.version", _DELETE, "spec"),
    ],
)
def test_bad_values_are_rejected_at_their_field(
    validator: jsonschema.Draft7Validator, path: str, value: Any, field: str
) -> None:
    errors = list(validator.iter_errors(_with(path, value)))
    assert errors, f"{path}={value!r} was accepted"
    # The error sits at the field (or, for a missing required field, at its parent).
    assert any(list(e.absolute_path)[-1:] == [field] or e.validator == "required" for e in errors)


def test_patterns_are_the_names_module_patterns(version_entry: dict[str, Any]) -> None:
    spec = _spec_schema(version_entry)["properties"]
    assert spec["name"]["pattern"] == SERVICE_NAME_PATTERN
    assert spec["name"]["maxLength"] == MAX_SERVICE_NAME_LENGTH
    assert spec["version"]["pattern"] == VERSION_PATTERN


def test_defaults(version_entry: dict[str, Any]) -> None:
    spec = _spec_schema(version_entry)["properties"]
    assert spec["main"]["default"] is False
    assert spec["port"]["default"] == 8000
    assert spec["replicas"]["default"] == 1


def _rules(schema: dict[str, Any]) -> list[dict[str, str]]:
    return schema.get("x-kubernetes-validations", [])


def test_name_and_version_are_immutable(version_entry: dict[str, Any]) -> None:
    spec = _spec_schema(version_entry)["properties"]
    for field in ("name", "version"):
        [rule] = _rules(spec[field])
        assert rule["rule"] == "self == oldSelf"
        assert f"spec.{field} is immutable" in rule["message"]


def test_exactly_one_of_image_and_source(version_entry: dict[str, Any]) -> None:
    [rule] = [
        r
        for r in _rules(_spec_schema(version_entry))
        if r["rule"] == "has(self.image) != has(self.source)"
    ]
    assert "spec.image" in rule["message"]
    assert "spec.source" in rule["message"]


def test_reserved_env_names_are_the_operators(version_entry: dict[str, Any]) -> None:
    env_name = _spec_schema(version_entry)["properties"]["env"]["items"]["properties"]["name"]
    [rule] = _rules(env_name)
    assert set(re.findall(r"'([A-Z_]+)'", rule["rule"])) == set(RESERVED_ENV)
    assert "spec.env" in rule["message"]


def test_every_cel_rule_has_a_message_naming_a_spec_field(version_entry: dict[str, Any]) -> None:
    found = []

    def walk(schema: dict[str, Any]) -> None:
        for rule in _rules(schema):
            found.append(rule)
            assert "spec." in rule["message"], rule
        for child in schema.get("properties", {}).values():
            walk(child)
        if "items" in schema:
            walk(schema["items"])

    walk(version_entry["schema"]["openAPIV3Schema"])
    assert len(found) == 6  # 2 of them spec.probe's (tests/operator/test_plain_images.py)


def test_cel_strings_are_bounded_for_the_cost_estimator(version_entry: dict[str, Any]) -> None:
    spec = _spec_schema(version_entry)["properties"]
    assert spec["name"]["maxLength"] and spec["version"]["maxLength"]
    assert spec["env"]["maxItems"] and spec["env"]["items"]["properties"]["name"]["maxLength"]


def test_printer_columns(version_entry: dict[str, Any]) -> None:
    columns = {c["name"]: c["jsonPath"] for c in version_entry["additionalPrinterColumns"]}
    assert list(columns) == ["Main", "Traffic", "Service", "Version", "Status", "Running", "Age"]
    assert columns["Main"] == ".status.mainMark"
    assert columns["Traffic"] == ".status.traffic"
    assert columns["Service"] == ".spec.name"
    assert columns["Version"] == ".spec.version"
    assert columns["Status"] == ".status.phase"
    assert columns["Running"] == ".status.running"
    assert columns["Age"] == ".metadata.creationTimestamp"


def test_status_schema_has_what_the_operator_writes(version_entry: dict[str, Any]) -> None:
    from dsvc_objects import T0, service_version

    from daeploy_operator.routing import MainRoute
    from daeploy_operator.status import Condition, build_status

    v = service_version(main=True)
    ok = Condition("Available", True, "MinimumReplicasAvailable", "1/1")
    status = build_status(
        v,
        available=ok,
        routed_=Condition("Routed", True, "MainVersion", "here"),
        route=MainRoute("1.0.0", "1.0.0"),
        claimed_at="2024-05-01T12:00:00.000001Z",
        host="d.example.com",
        routes_here=True,
        available_replicas=1,
        now=T0,
    )
    status_schema = version_entry["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert set(status) <= set(status_schema["properties"])
    checker = jsonschema.Draft7Validator(status_schema, format_checker=jsonschema.FormatChecker())
    assert list(checker.iter_errors(status)) == []


@pytest.mark.parametrize("manifest", sorted((REPO / "services").glob("*/daeployservice.yaml")))
def test_service_manifests_in_the_repository_are_valid(
    validator: jsonschema.Draft7Validator, manifest: Path
) -> None:
    assert list(validator.iter_errors(yaml.safe_load(manifest.read_text()))) == []


def test_chart_copy_equals_the_single_source() -> None:
    assert CHART_CRD_PATH.read_bytes() == CRD_PATH.read_bytes()
