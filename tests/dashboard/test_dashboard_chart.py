"""The chart's dashboard, checked without helm: its settings are the contract's, its path is
checked by the values schema (a real install runs in tests/cluster)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from daeploy import contract
from daeploy.contract import (
    DASHBOARD_NAME,
    DASHBOARD_PATH,
    LIVE_PATH,
    OPERATOR_NAME,
    READY_PATH,
    ROUTE_PREFIX,
)

CHART = Path(__file__).resolve().parents[2] / "charts" / OPERATOR_NAME
TEMPLATE = (CHART / "templates" / "dashboard.yaml").read_text()


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads((CHART / "values.schema.json").read_text()))


def test_the_template_sets_exactly_the_dashboards_settings() -> None:
    names = set(re.findall(r"- name: ([A-Z_]+)", TEMPLATE))
    wanted = {
        v for k, v in vars(contract).items() if k.startswith("DASHBOARD_") and k.endswith("_ENV")
    }
    assert names == wanted


def test_objects_and_probes_use_the_contracts_names() -> None:
    assert len(re.findall(rf"^  name: {DASHBOARD_NAME}$", TEMPLATE, re.M)) == 4
    assert f'"%s{READY_PATH}"' in TEMPLATE and f'"%s{LIVE_PATH}"' in TEMPLATE
    assert "automountServiceAccountToken: false" in TEMPLATE  # no rights of its own


def test_the_default_path_and_what_the_schema_refuses(
    values: dict[str, Any], validator: jsonschema.Draft7Validator
) -> None:
    assert values["dashboard"]["path"] == DASHBOARD_PATH
    validator.validate(values)
    for good in ("", "/ops/dashboard"):
        changed = copy.deepcopy(values)
        changed["dashboard"]["path"] = good
        validator.validate(changed)
    for bad in (ROUTE_PREFIX, f"{ROUTE_PREFIX}/x", "dashboard", f"{DASHBOARD_PATH}/", "/a/../b"):
        changed = copy.deepcopy(values)
        changed["dashboard"]["path"] = bad
        assert list(validator.iter_errors(changed)), bad
