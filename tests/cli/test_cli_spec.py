"""The DaeployService the CLI writes fits the CRD's schema (the contract, checked both ways)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from daeploy.cli.spec import Request, parse_env
from daeploy.contract import API_GROUP_VERSION, API_VERSION, KIND, PLURAL, SERVICE_LABEL

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
    body = request.body(main=True)
    jsonschema.validate(body, schema)
    assert set(body["spec"]) == {"name", "version", "main", "source", "port", "replicas", "env"}


def test_image_deploy_body_fits_the_crd(schema: dict[str, Any]) -> None:
    body = Request("yatzee", "1.0.0", env=[], image="localhost/yatzee:1.0.0").body(main=False)
    jsonschema.validate(body, schema)
    assert "source" not in body["spec"]
    assert "env" not in body["spec"]


def test_update_keeps_what_others_own() -> None:
    existing = {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "metadata": {
            "name": "x",
            "resourceVersion": "7",
            "finalizers": ["kopf.zalando.org/KopfFinalizerMarker"],
            "annotations": {"kopf.zalando.org/last-handled-configuration": "{}"},
            "labels": {"team": "a"},
        },
        "spec": {"name": "die_roller", "version": "1.0.0", "image": "old:1"},
        "status": {"phase": "running"},
    }
    body = Request("die_roller", "1.0.0", env=[], source_digest="d").updated(existing, main=True)
    assert body["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
    assert body["metadata"]["resourceVersion"] == "7"
    assert body["metadata"]["labels"]["team"] == "a"
    assert body["metadata"]["labels"][SERVICE_LABEL] == "die_roller"
    assert "image" not in body["spec"]
    assert "status" not in body
    assert existing["spec"]["image"] == "old:1"
