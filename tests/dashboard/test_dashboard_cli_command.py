"""`daeploy dashboard`: the address of the chart's dashboard Ingress, read from an API server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from envtest import EnvTest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))

from cli_envtest import MERGE_PATCH, write_kubeconfig

from daeploy.cli import dashboard as dashboard_command
from daeploy.cli.main import cli
from daeploy.contract import DASHBOARD_NAME, DASHBOARD_PATH
from daeploy_operator.kinds import resource_path

NODE_IP = "172.30.255.2"


def ingress(path: str, host: str | None = None, tls: bool = False) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "http": {
            "paths": [
                {
                    "path": path,
                    "pathType": "Prefix",
                    "backend": {"service": {"name": DASHBOARD_NAME, "port": {"name": "http"}}},
                }
            ]
        }
    }
    if host:
        rule["host"] = host
    spec: dict[str, Any] = {"rules": [rule]}
    if tls:
        spec["tls"] = [{"hosts": [host]}]
    return {"metadata": {"name": DASHBOARD_NAME}, "spec": spec}


def test_the_address_is_the_ingress_host_and_path() -> None:
    fallback = "http://fallback"
    published = {
        **ingress(DASHBOARD_PATH),
        "status": {"loadBalancer": {"ingress": [{"ip": NODE_IP}]}},
    }
    assert dashboard_command.address_of(published, fallback) == f"http://{NODE_IP}{DASHBOARD_PATH}/"
    named = ingress("/ops/dash", host="daeploy.example", tls=True)
    assert dashboard_command.address_of(named, fallback) == "https://daeploy.example/ops/dash/"
    assert dashboard_command.address_of(ingress("/"), fallback) == "http://fallback/"


@pytest.fixture
def kubeconfig(
    envtest: EnvTest, envtest_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    path = write_kubeconfig(envtest, tmp_path / "kubeconfig", envtest_namespace)
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return envtest_namespace


def test_daeploy_dashboard_prints_the_published_address(envtest: EnvTest, kubeconfig: str) -> None:
    namespace = kubeconfig
    runner = CliRunner()
    missing = runner.invoke(cli, ["dashboard"])
    assert missing.exit_code == 1
    assert f"no dashboard on this cluster (no Ingress named {DASHBOARD_NAME})" in missing.output

    body = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", **ingress(DASHBOARD_PATH)}
    path = resource_path("networking.k8s.io/v1", "Ingress", namespace)
    envtest.api.request("POST", path, body=body)
    status = {"status": {"loadBalancer": {"ingress": [{"ip": NODE_IP}]}}}
    envtest.api.request(
        "PATCH", f"{path}/{DASHBOARD_NAME}/status", body=status, content_type=MERGE_PATCH
    )
    found = runner.invoke(cli, ["dashboard"])
    assert found.exit_code == 0, found.output
    assert found.stdout == f"http://{NODE_IP}{DASHBOARD_PATH}/\n"  # only the address
