"""The Helm chart, checked without helm: values against their schema, RBAC, wiring to settings.

``helm lint --strict`` and a real install run in tests/cluster (they need the helm binary).
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from daeploy import contract
from daeploy.contract import API_GROUP, OPERATOR_NAME, OPERATOR_SETTINGS_ENV, PLURAL

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / OPERATOR_NAME
SETTINGS_SOURCE = REPO / "operator" / "daeploy_operator" / "settings.py"


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads((CHART / "values.schema.json").read_text())


def test_chart_metadata_matches_the_project() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == OPERATOR_NAME
    assert chart["appVersion"] == project["version"]
    assert (CHART / "templates" / "NOTES.txt").is_file()


def test_default_values_follow_the_schema(values: dict, schema: dict) -> None:
    jsonschema.Draft7Validator(schema).validate(values)
    assert values["image"]["repository"] == f"localhost/{OPERATOR_NAME}"
    assert values["image"]["pullPolicy"] == "IfNotPresent"
    assert values["ingress"]["className"] == "traefik"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("image.tag", "latest"),
        ("image.pullPolicy", "Sometimes"),
        ("runtimeImage", "localhost/daeploy-runtime:latest"),
        ("runtimeImage", "localhost/daeploy-runtime"),
        ("ingress.className", "Traefik"),
        ("ingress.host", "http://x.example.com"),
        ("ingress.namespaceHosts", {"team-a": "not a host"}),
        ("watchNamespaces", ["Team_A"]),
        ("resyncSeconds", 0),
        ("unknownKey", 1),
    ],
)
def test_bad_values_are_rejected(values: dict, schema: dict, path: str, value: Any) -> None:
    bad = copy.deepcopy(values)
    *parents, last = path.split(".")
    node = bad
    for key in parents:
        node = node[key]
    node[last] = value
    assert list(jsonschema.Draft7Validator(schema).iter_errors(bad))


def _cluster_role_rules() -> list[dict[str, Any]]:
    text = (CHART / "templates" / "clusterrole.yaml").read_text()
    return yaml.safe_load(text[text.index("\nrules:") :])["rules"]


def test_cluster_role_grants_only_the_verbs_the_operator_uses() -> None:
    granted = {
        (rule["apiGroups"][0], resource): sorted(rule["verbs"])
        for rule in _cluster_role_rules()
        for resource in rule["resources"]
    }
    assert granted == {
        (API_GROUP, PLURAL): ["list", "watch"],
        (API_GROUP, f"{PLURAL}/status"): ["patch"],
        (API_GROUP, f"{PLURAL}/finalizers"): ["update"],
        ("apps", "deployments"): ["create", "list", "patch", "watch"],
        ("", "services"): ["create", "get", "list", "patch", "watch"],
        ("networking.k8s.io", "ingresses"): ["create", "delete", "list", "patch", "watch"],
        ("", "pods"): ["list", "watch"],
        ("", "persistentvolumeclaims"): ["create", "list", "patch", "watch"],
        ("", "serviceaccounts"): ["create", "get", "patch"],
        ("rbac.authorization.k8s.io", "roles"): ["create", "get", "patch"],
        ("rbac.authorization.k8s.io", "rolebindings"): ["create", "get", "patch"],
        ("", "namespaces"): ["list", "watch"],
        ("", "events"): ["create", "patch", "update"],
        ("apiextensions.k8s.io", "customresourcedefinitions"): ["list", "watch"],
        # RBAC lets a Role grant only what its writer holds: what the operator's Roles grant.
        (API_GROUP, f"{PLURAL}/invoke"): ["create"],
        (API_GROUP, f"{PLURAL}/parameters"): ["update"],
        ("traefik.io", "middlewares"): ["create", "delete", "get", "list", "patch", "watch"],
        ("traefik.io", "ingressroutes"): ["create", "delete", "list", "patch", "watch"],
        ("traefik.io", "traefikservices"): ["create", "delete", "list", "patch", "watch"],
    }


def test_operator_holds_every_permission_it_grants_to_services() -> None:
    # RBAC refuses to create a Role granting more than its creator holds.
    from dsvc_objects import service_version

    from daeploy_operator.resources.rbac import build_events_role

    held = {
        (rule["apiGroups"][0], resource): set(rule["verbs"])
        for rule in _cluster_role_rules()
        for resource in rule["resources"]
    }
    for rule in build_events_role("demo", [service_version(namespace="demo")])["rules"]:
        for resource in rule["resources"]:
            assert set(rule["verbs"]) <= held[(rule["apiGroups"][0], resource)], resource


def test_deployment_template_runs_one_operator_with_settings_it_reads() -> None:
    text = (CHART / "templates" / "deployment.yaml").read_text()
    assert re.search(r"^  replicas: 1$", text, re.M)
    assert re.search(r"^    type: Recreate$", text, re.M)
    assert "path: /healthz" in text
    settings_source = SETTINGS_SOURCE.read_text()
    variables = re.findall(rf"- name: ({contract.ENV_PREFIX}[A-Z_]+)", text)
    assert sorted(variables) == sorted(OPERATOR_SETTINGS_ENV)
    constants = {value: name for name, value in vars(contract).items() if name.endswith("_ENV")}
    for variable in variables:
        assert constants[variable] in settings_source, f"{variable} is set but never read"


def test_operator_pod_meets_pod_security_restricted() -> None:
    text = (CHART / "templates" / "deployment.yaml").read_text()
    for needle in (
        "runAsNonRoot: true",
        "allowPrivilegeEscalation: false",
        'drop: ["ALL"]',
        "type: RuntimeDefault",
        "readOnlyRootFilesystem: true",
    ):
        assert needle in text
