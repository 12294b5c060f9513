"""The local cluster itself (issue 2): a real node, real pods, real ingress, real DNS."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from localcluster import network, node
from localcluster.layout import Layout

SMOKE_APP = Path(__file__).parent / "smoke_app"
SMOKE_IMAGE = "localhost/smoke:1"
NS = "smoke"

pytestmark = pytest.mark.cluster


def _get(url: str, timeout: float = 5) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, json.loads(resp.read())


def _manifests() -> list[dict]:
    labels = {"app": "smoke"}
    container = {
        "name": "app",
        "image": SMOKE_IMAGE,
        "imagePullPolicy": "Never",
        "ports": [{"containerPort": 8080}],
        "env": [{"name": "CALL_URL", "value": f"http://smoke-peer.{NS}.svc.cluster.local/peer"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1},
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }

    def deployment(name: str) -> dict:
        lab = {**labels, "role": name}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": lab},
                "template": {"metadata": {"labels": lab}, "spec": {"containers": [container]}},
            },
        }

    def service(name: str) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "selector": {**labels, "role": name},
                "ports": [{"port": 80, "targetPort": 8080}],
            },
        }

    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "smoke", "namespace": NS},
        "spec": {
            "ingressClassName": "traefik",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/smoke",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "smoke", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ],
        },
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        deployment("smoke"),
        service("smoke"),
        deployment("smoke-peer"),
        service("smoke-peer"),
        ingress,
    ]


@pytest.fixture(scope="module")
def smoke(cluster):
    cluster.build_image(SMOKE_APP, SMOKE_IMAGE)
    # A namespace left by an earlier run may still be terminating: start from nothing.
    cluster.kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true", timeout=180)
    items = {"apiVersion": "v1", "kind": "List", "items": _manifests()}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(items))
    for name in ("smoke", "smoke-peer"):
        cluster.kubectl("-n", NS, "rollout", "status", f"deployment/{name}", "--timeout=120s",
                        timeout=150)  # fmt: skip
    yield cluster
    cluster.kubectl("delete", "namespace", NS, "--wait=false", check=False)


def test_node_is_ready(cluster):
    out = cluster.kubectl("get", "node", "node0", "-o", "json").stdout
    conditions = {c["type"]: c["status"] for c in json.loads(out)["status"]["conditions"]}
    assert conditions["Ready"] == "True"


def test_system_pods_ready(cluster):
    for ns, deploy in (("kube-system", "coredns"), ("traefik", "traefik")):
        out = json.loads(
            cluster.kubectl("-n", ns, "get", "deployment", deploy, "-o", "json").stdout
        )
        assert out["status"].get("readyReplicas") == 1, (ns, deploy, out["status"])


def _get_eventually(url: str, timeout: float = 30) -> tuple[int, dict]:
    """Routes and Service rules are programmed a moment after pods turn Ready: allow for it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _get(url, timeout=10)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_smoke_answers_through_the_ingress(smoke):
    status, body = _get_eventually(f"{smoke.ingress_url}/smoke/hello")
    assert status == 200
    assert body["path"] == "/smoke/hello"


def test_pod_resolves_and_calls_a_service_by_dns_name(smoke):
    status, body = _get_eventually(f"{smoke.ingress_url}/smoke/call")
    assert status == 200
    assert body["resolved"] == smoke.layout.net.api_service_ip
    assert body["called"]["path"] == "/peer"
    assert body["called"]["host"].startswith("smoke-peer-")


def test_kubectl_and_helm_talk_to_the_cluster(cluster, tmp_path):
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.34.4"
    assert cluster.helm("version", "--short").stdout.startswith("v3.")
    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: helm-probe\ndata:\n  ok: "yes"\n'
    )
    cluster.helm("upgrade", "--install", "probe", str(chart), "-n", "default", "--wait")
    try:
        assert "probe" in cluster.helm("list", "-n", "default", "-q").stdout.split()
        cm = json.loads(cluster.kubectl("get", "configmap", "helm-probe", "-o", "json").stdout)
        assert cm["data"] == {"ok": "yes"}
    finally:
        cluster.helm("uninstall", "probe", "-n", "default", check=False)


def test_cluster_namespace_has_no_way_out(cluster):
    net = cluster.layout.net
    for target in ("8.8.8.8", "192.0.2.1", "10.255.255.53"):
        # A routing lookup only: no packet is sent.
        proc = subprocess.run(
            network.in_netns(["ip", "route", "get", target], net), capture_output=True, text=True
        )
        assert proc.returncode != 0, proc.stdout
        assert "unreachable" in proc.stderr.lower() or "no route" in proc.stderr.lower()
    leftovers = network.leftovers(net)  # while up, every guard must be in place
    for rule in network.host_guards(net):
        assert any(rule.chain in item and " ".join(rule.spec) in item for item in leftovers)


def test_second_up_is_quick_and_changes_nothing(cluster):
    before = node.status(cluster.layout)["processes"]
    result = node.up(cluster.layout)
    assert result["already_up"] is True
    assert node.status(cluster.layout)["processes"] == before


@pytest.mark.lifecycle
def test_down_leaves_nothing_and_up_works_again(cluster):
    """On the tests' own slot; the user's cluster in slot 0 must not notice."""
    user = Layout.for_slot(0)
    user_was_healthy = cluster.layout != user and node.healthy(user)
    user_pods = _pod_uids(user) if user_was_healthy else None
    result = node.down(cluster.layout)
    assert node.leftovers(cluster.layout) == [], result
    if user_was_healthy:
        assert node.healthy(user), "taking the test slot down broke the user's cluster"
        assert node.leftovers(user), "the user's cluster should still be all there"
    node.up(cluster.layout)
    assert node.healthy(cluster.layout)
    if user_was_healthy:
        assert node.healthy(user)
        assert _pod_uids(user) == user_pods, "the user's pods were restarted"


def _pod_uids(layout: Layout) -> set[str]:
    out = node.kubectl(layout, "get", "pods", "-A", "-o", "jsonpath={.items[*].metadata.uid}")
    return set(out.stdout.split())


def test_cli_reports_status(cluster):
    proc = subprocess.run(
        [str(Path(__file__).parents[2] / "hack" / "cluster"), "status"],
        capture_output=True, text=True, env={**cluster.env, "DAEPLOY_PYTHON": sys.executable},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["node_ready"] is True
