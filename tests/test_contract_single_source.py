"""The contract names live in daeploy/contract.py only, and the YAML wire format agrees with it.

Python code imports the constants; a string literal that spells one of them (outside docstrings)
fails here, so a second definition cannot creep back in. YAML (crds/, charts/, services/) and
README.md are the wire format and keep the values; they are compared to the constants below.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from daeploy import contract

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("daeploy", "operator", "tests")
ALLOWED = {
    Path("daeploy/contract.py"),  # the single source
    Path("tests/test_contract_single_source.py"),  # this check
    Path("tests/operator/test_names.py"),  # the one test of the wire values themselves
}
CHART = REPO / "charts" / contract.OPERATOR_NAME
_WORD = "A-Za-z0-9_-"


def _constants(suffix: str = "") -> dict[str, str]:
    return {
        name: value
        for name, value in vars(contract).items()
        if name.isupper() and isinstance(value, str) and name.endswith(suffix)
    }


def _token(value: str) -> re.Pattern[str]:
    """``value`` as a token: ``daeploy.io`` in ``operator.daeploy.io``, not in ``xdaeploy.io``."""
    return re.compile(rf"(?<![{_WORD}]){re.escape(value)}(?![{_WORD}])")


ENV_NAMES = set(_constants("_ENV").values())
TOKENS = {
    value: _token(value)
    for name, value in _constants().items()
    # Paths, prefixes and derived values are covered by the tokens they are made of.
    if name not in {"ROUTE_PREFIX", "ENV_PREFIX", "API_GROUP_VERSION", "CRD_NAME"}
}
ENV_PREFIX = re.compile(rf"^{contract.ENV_PREFIX}$")
# The ingress route prefix, but not Kubernetes' own ``.../namespaces/<ns>/services`` paths.
ROUTE = re.compile(rf"{re.escape(contract.ROUTE_PREFIX)}(/|$)")
KUBE_SERVICES = re.compile(r"(/namespaces/[^/]+|/api/v1)/services")


def _python_files() -> Iterator[Path]:
    for top in SCANNED:
        for path in sorted((REPO / top).rglob("*.py")):
            relative = path.relative_to(REPO)
            if relative in ALLOWED:
                continue
            if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
                continue
            yield path


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, kinds) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _problems(text: str) -> list[str]:
    problems = [value for value, pattern in TOKENS.items() if pattern.search(text)]
    if ENV_PREFIX.match(text):
        problems.append(contract.ENV_PREFIX)
    if ROUTE.search(KUBE_SERVICES.sub("", text)):
        problems.append(contract.ROUTE_PREFIX)
    return problems


def _violations(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings:
                continue
            for value in _problems(node.value):
                yield f"{path.relative_to(REPO)}:{node.lineno}: {value!r} in {node.value!r}"
        elif isinstance(node, ast.keyword) and node.arg in ENV_NAMES:
            yield f"{path.relative_to(REPO)}:{node.lineno}: keyword {node.arg}"


def test_contract_strings_are_spelled_only_in_the_contract_module() -> None:
    found = [line for path in _python_files() for line in _violations(path)]
    assert found == [], "import these from daeploy.contract instead:\n" + "\n".join(found)


def test_the_check_sees_a_spelled_value() -> None:
    assert _problems(f"x {contract.SERVICE_LABEL}=1")
    assert _problems(f"http://h{contract.ROUTE_PREFIX}/a")
    assert not _problems(f"/api/v1/namespaces/demo{contract.ROUTE_PREFIX}/x")
    assert not _problems(f"{contract.KIND}List")


def test_every_contract_value_is_defined_once() -> None:
    constants = _constants()
    spelled = [v for k, v in constants.items() if k not in {"API_GROUP_VERSION", "CRD_NAME"}]
    aliases = {"MANAGED_BY_OPERATOR", "FIELD_MANAGER", "TOKEN_AUDIENCE"}
    assert len(set(spelled)) == len(spelled) - len(aliases)


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    return yaml.safe_load((REPO / "crds" / f"{contract.PLURAL}.yaml").read_text())


def test_crd_coordinates_are_the_constants(crd: dict[str, Any]) -> None:
    assert crd["metadata"]["name"] == contract.CRD_NAME
    assert crd["spec"]["group"] == contract.API_GROUP
    assert crd["spec"]["names"]["kind"] == contract.KIND
    assert crd["spec"]["names"]["plural"] == contract.PLURAL
    assert [v["name"] for v in crd["spec"]["versions"]] == [contract.API_VERSION]


def test_chart_rbac_names_the_crd() -> None:
    text = (CHART / "templates" / "clusterrole.yaml").read_text()
    rules = yaml.safe_load(text[text.index("\nrules:") :])["rules"]
    ours = [rule for rule in rules if contract.PLURAL in rule["resources"][0]]
    assert {group for rule in ours for group in rule["apiGroups"]} == {contract.API_GROUP}
    assert sorted(r for rule in ours for r in rule["resources"]) == [
        contract.PLURAL,
        f"{contract.PLURAL}/finalizers",
        contract.INVOKE_RESOURCE,
        contract.PARAMETERS_RESOURCE,
        f"{contract.PLURAL}/status",
    ]


def test_chart_label_and_annotation_keys_are_the_constants() -> None:
    keys = set(_constants("_LABEL").values()) | set(_constants("_ANNOTATION").values())
    group = re.escape(contract.API_GROUP)
    for path in [CHART / "values.yaml", *sorted((CHART / "templates").iterdir())]:
        text = path.read_text()
        for key in re.findall(rf"\b(?:[a-z0-9.-]+\.)?{group}/[a-z0-9-]+", text):
            assert key in keys | {contract.API_GROUP_VERSION}, f"{path.name}: {key}"
    # The chart labels its own objects with the same standard key (valued by Helm).
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    assert f"{contract.MANAGED_BY_LABEL}: {{{{ .Release.Service }}}}" in helpers


def test_chart_sets_exactly_the_operator_settings() -> None:
    text = (CHART / "templates" / "deployment.yaml").read_text()
    names = re.findall(r"- name: ([A-Z_]+)", text)
    assert sorted(names) == sorted(contract.OPERATOR_SETTINGS_ENV)


@pytest.mark.parametrize(
    "manifest",
    [*sorted((REPO / "services").glob("*/daeployservice.yaml")), CHART / "templates" / "NOTES.txt"],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_example_manifests_use_the_api_coordinates(manifest: Path) -> None:
    text = manifest.read_text()
    assert f"apiVersion: {contract.API_GROUP_VERSION}" in text
    assert f"kind: {contract.KIND}" in text
