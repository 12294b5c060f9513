"""The DaeployService the CLI writes fits the CRD's schema (the contract, checked both ways)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from daeploy.cli.errors import InputError
from daeploy.cli.spec import Request, check_callers, check_pull_secrets, parse_env
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


def test_public_and_callers_fit_the_crd(schema: dict[str, Any]) -> None:
    callers = check_callers(("yatzee", "games/yatzee", "yatzee"))
    body = Request(
        "die_roller", "1.0.0", env=[], image="localhost/die-roller:1.0.0", public=True,
        callers=callers,
    ).body()  # fmt: skip
    jsonschema.validate(body, schema)
    assert body["spec"]["public"] is True
    assert body["spec"]["callers"] == ["yatzee", "games/yatzee"]
    # No --caller leaves spec.callers unset (every service of the namespace), never [].
    plain = Request("die_roller", "1.0.0", env=[], image="x:1").body()["spec"]
    assert "callers" not in plain and "public" not in plain
    assert check_callers(()) is None


@pytest.mark.parametrize("bad", ["Yatzee", "games/", "/yatzee", "a/b/yatzee", "Games/yatzee", ""])
def test_a_bad_caller_names_the_option_and_the_fix(bad: str) -> None:
    with pytest.raises(InputError) as refused:
        check_callers((bad,))
    assert "--caller" in str(refused.value) and "namespace/name" in str(refused.value)


def test_pull_secrets_fit_the_crd(schema: dict[str, Any]) -> None:
    secrets = check_pull_secrets(("ghcr-login", "ghcr-login", "team.registry"))
    body = Request("np", "1.0.0", env=[], image="ghcr.io/team/np:1", pull_secrets=secrets).body()
    jsonschema.validate(body, schema)
    assert body["spec"]["imagePullSecrets"] == ["ghcr-login", "team.registry"]
    assert "imagePullSecrets" not in Request("np", "1.0.0", env=[], image="x:1").body()["spec"]


@pytest.mark.parametrize("bad", ["Login", "-x", "a b", ""])
def test_a_bad_pull_secret_names_the_option(bad: str) -> None:
    with pytest.raises(InputError, match="--pull-secret"):
        check_pull_secrets((bad,))
