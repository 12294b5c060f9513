"""The node's image registry: its configuration, containerd's hosts.toml for it, the KEP-1755
ConfigMap, and (for real) that the built registry keeps what it was given across a restart."""

from __future__ import annotations

import hashlib
import json
import socket
import time
import tomllib
from pathlib import Path

import httpx
import pytest
import yaml

from daeploy.contract import (
    LOCAL_REGISTRY_CONFIG_MAP,
    LOCAL_REGISTRY_KEY,
    LOCAL_REGISTRY_NAMESPACE,
    RUNTIME_IMAGE,
)
from localcluster import config, gobuild, node, processes, project_images, registry, versions
from localcluster.components import REGISTRY
from localcluster.layout import Layout
from localcluster.processes import Daemon


def _layout(tmp_path: Path, slot: int = 0) -> Layout:
    base = Layout.for_slot(slot)
    return Layout(state=tmp_path / "s", run=tmp_path / "r", net=base.net)


def test_config_keeps_everything_on_the_machine(tmp_path):
    cfg = registry.config("172.30.255.2:5000", tmp_path / "data")
    assert cfg["version"] == "0.1"
    assert cfg["http"]["addr"] == "172.30.255.2:5000"
    assert "tls" not in cfg["http"] and "debug" not in cfg["http"]
    assert cfg["storage"]["filesystem"] == {"rootdirectory": str(tmp_path / "data")}
    assert cfg["storage"]["delete"] == {"enabled": True}
    assert cfg["storage"]["redirect"] == {"disable": True}
    assert cfg["log"]["level"] in ("warn", "info")
    assert cfg["health"]["storagedriver"]["enabled"] is True
    # No pull-through cache, no webhooks, no shared cache server, no reporting.
    for absent in ("proxy", "notifications", "redis", "reporting", "auth"):
        assert absent not in cfg, absent
    json.dumps(cfg)


def test_registry_runs_without_telemetry_in_the_namespace(tmp_path):
    layout = _layout(tmp_path)
    d = registry.daemon(layout)
    assert d.in_netns
    assert d.argv == (str(REGISTRY.binary()), "serve", str(layout.etc / "registry.json"))
    assert d.env["OTEL_TRACES_EXPORTER"] == "none"
    assert node.daemons(layout)["registry"] == d
    order = node.DAEMON_ORDER
    assert order.index("containerd") < order.index("registry") < order.index("kubelet")
    assert "registry" not in node.CORE_DAEMONS


def test_address_and_references_per_slot():
    assert registry.address(Layout()) == "172.30.255.2:5000"
    two = Layout.for_slot(2)
    assert registry.address(two) == "172.30.253.2:5000"
    assert registry.url(two) == "http://172.30.253.2:5000"
    assert project_images.runtime_in_registry(two) == "172.30.253.2:5000/daeploy-runtime:0.1.0"
    assert project_images.RUNTIME_IMAGE == RUNTIME_IMAGE
    assert registry.push_command(two, RUNTIME_IMAGE) == [
        "buildah", "push", "--quiet", "--tls-verify=false", RUNTIME_IMAGE,
        "docker://172.30.253.2:5000/daeploy-runtime:0.1.0",
    ]  # fmt: skip


def test_storage_is_per_slot_and_outside_what_down_removes():
    layouts = [Layout.for_slot(n) for n in range(9)]
    dirs = [registry.data_dir(lay) for lay in layouts]
    assert len(set(dirs)) == len(dirs)
    assert dirs[2] == versions.REGISTRY_DATA / "slot-2"
    for data in dirs:
        for lay in layouts:
            assert not data.is_relative_to(lay.state) and not data.is_relative_to(lay.run)


def test_containerd_pulls_from_it_over_plain_http(tmp_path):
    layout = _layout(tmp_path, slot=2)
    registry.write_files(layout)
    hosts = layout.etc / "certs.d" / "172.30.253.2:5000" / "hosts.toml"
    assert registry.hosts_toml_file(layout) == hosts
    assert f'config_path = "{hosts.parent.parent}"' in config.containerd_toml(layout)
    assert tomllib.loads(hosts.read_text()) == {
        "server": "http://172.30.253.2:5000",
        "host": {"http://172.30.253.2:5000": {"capabilities": ["pull", "resolve"]}},
    }
    written = json.loads(registry.config_file(layout).read_text())
    assert written == registry.config("172.30.253.2:5000", versions.REGISTRY_DATA / "slot-2")


def test_config_write_all_writes_the_registry_files(tmp_path):
    layout = _layout(tmp_path)
    layout.pki.mkdir(parents=True)
    for user in ("admin", "controller-manager", "scheduler", "kubelet-client", "kube-proxy"):
        for ext in ("crt", "key"):
            (layout.pki / f"{user}.{ext}").write_text("x")
    (layout.pki / "ca.crt").write_text("x")
    config.write_all(layout)
    assert registry.hosts_toml_file(layout).read_text() == registry.hosts_toml(layout)
    assert registry.config_file(layout).is_file()


def test_kep_1755_configmap():
    cm = registry.hosting_configmap(Layout.for_slot(2))
    assert cm["kind"] == "ConfigMap"
    assert cm["metadata"]["name"] == LOCAL_REGISTRY_CONFIG_MAP
    assert cm["metadata"]["namespace"] == LOCAL_REGISTRY_NAMESPACE
    value = cm["data"][LOCAL_REGISTRY_KEY]
    assert value.startswith('host: "172.30.253.2:5000"\n')
    parsed = yaml.safe_load(value)
    assert parsed["host"] == "172.30.253.2:5000"
    assert parsed["hostFromContainerRuntime"] == "172.30.253.2:5000"
    assert parsed["hostFromClusterNetwork"] == "172.30.253.2:5000"
    assert "--tls-verify=false" in parsed["help"]


# --- the built registry, for real, on the host's loopback --------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(layout: Layout, cfg_file: Path, base: str) -> int:
    d = Daemon("registry", (str(REGISTRY.binary()), "serve", str(cfg_file)), in_netns=False,
               env=registry.NO_TELEMETRY)  # fmt: skip
    pid = processes.start(layout, d)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert processes.alive(layout, "registry"), processes.log_tail(layout, "registry")
        try:
            if httpx.get(f"{base}/v2/", timeout=1).status_code == 200:
                return pid
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"registry did not answer /v2/:\n{processes.log_tail(layout, 'registry')}")


def _put_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = client.post(f"/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202, started.text
    # The upload URL carries its own state in the query: add to it (``params=`` would replace it).
    upload = httpx.URL(started.headers["Location"]).copy_merge_params({"digest": digest})
    done = client.put(
        upload,
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == digest
    return digest


def test_built_registry_keeps_a_manifest_across_a_restart(tmp_path):
    gobuild.build(REGISTRY)  # cached after the first build (about a minute on 2 cores)
    layout = Layout(state=tmp_path / "state", run=tmp_path / "run")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cfg_file = tmp_path / "registry.json"
    cfg_file.write_text(json.dumps(registry.config(f"127.0.0.1:{port}", tmp_path / "data")))
    oci_manifest = "application/vnd.oci.image.manifest.v1+json"
    pid = _start(layout, cfg_file, base)
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            layer = b"hello from a tiny layer\n"
            layer_digest = _put_blob(client, "hack/tiny", layer)
            cfg = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
            cfg_digest = _put_blob(client, "hack/tiny", cfg)
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": oci_manifest,
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": cfg_digest,
                        "size": len(cfg),
                    },
                    "layers": [
                        {
                            "mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": layer_digest,
                            "size": len(layer),
                        }
                    ],
                }
            ).encode()
            put = client.put(
                "/v2/hack/tiny/manifests/1.0.0",
                content=manifest,
                headers={"Content-Type": oci_manifest},
            )
            assert put.status_code == 201, put.text
            digest = put.headers["Docker-Content-Digest"]
            assert digest == "sha256:" + hashlib.sha256(manifest).hexdigest()
    finally:
        processes.stop(layout, "registry")
    assert not Path(f"/proc/{pid}").exists()  # stopped (and reaped) by its PID

    pid = _start(layout, cfg_file, base)
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            got = client.get(f"/v2/hack/tiny/manifests/{digest}", headers={"Accept": oci_manifest})
            assert got.status_code == 200, got.text
            assert got.content == manifest
            assert got.headers["Docker-Content-Digest"] == digest
            assert client.get(f"/v2/hack/tiny/blobs/{layer_digest}").content == layer
            # storage.delete.enabled: a manifest can be deleted by digest.
            assert client.delete(f"/v2/hack/tiny/manifests/{digest}").status_code == 202
            assert client.get(f"/v2/hack/tiny/manifests/{digest}").status_code == 404
    finally:
        processes.stop(layout, "registry")
    assert not Path(f"/proc/{pid}").exists()
