"""The DaeployService the CLI writes fits the CRD's schema (the contract, checked both ways)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from daeploy.cli.spec import Request, parse_env
from daeploy.contract import API_VERSION, PLURAL

CRD = Path(__file__).resolve().parents[2] / "crds" / f"{PLURAL}.yaml"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == API_VERSION]
    return version["schema"]["openAPIV3Schema"]


def test_folder_deploy_body_fits_the_crd(schema: dict[str, Any]) -> None:
    request = Request(
        name="die_roller",
        version="1.0.0-rc.1+build.5",
        env=parse_env(("LEVEL=debug", "EMPTY=")),
        source_digest="ab" * 32,
        port=8080,
        replicas=2,
    )
    body = request.body()
    jsonschema.validate(body, schema)
    # No spec.main: a deploy's apply must not withdraw a claim; claims are applied on their own.
    assert set(body["spec"]) == {"name", "version", "source", "port", "replicas", "env"}


def test_image_deploy_body_fits_the_crd(schema: dict[str, Any]) -> None:
    body = Request("yatzee", "1.0.0", env=[], image="localhost/yatzee:1.0.0").body()
    jsonschema.validate(body, schema)
    assert "source" not in body["spec"]
    assert "env" not in body["spec"]
