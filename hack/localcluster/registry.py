"""The node's OCI image registry: the CNCF distribution registry (v3), its configuration, where
it is, and how the cluster and its clients learn that.

It runs as a daemon of the node in the cluster's network namespace, on ``<node IP>:5000`` over
plain HTTP: the host reaches it over the veth (pushes), containerd and pods reach it inside the
namespace (pulls). Nothing it does leaves the machine: no proxy (pull-through) cache, no
notifications, no redis, OpenTelemetry's exporters off (v3 has no reporting section any more).

Its storage lives outside the cluster's state, in ``versions.REGISTRY_DATA/slot-N``, so pushed
images survive ``down`` and ``up``; ``purge`` removes it.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from . import versions
from .components import REGISTRY
from .layout import Layout
from .processes import Daemon

PORT = 5000

CONFIGMAP_NAME = "local-registry-hosting"
CONFIGMAP_NAMESPACE = "kube-public"
CONFIGMAP_KEY = "localRegistryHosting.v1"
"""KEP-1755 (sig-cluster-lifecycle/generic/1755-communicating-a-local-registry)."""

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)

# The registry would send traces to an OTLP collector by default (go.opentelemetry.io autoexport).
NO_TELEMETRY = {
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
}


def address(layout: Layout) -> str:
    """``host:port`` of the cluster's registry, the same from the host, containerd and pods."""
    return f"{layout.net.node_ip}:{PORT}"


def url(layout: Layout) -> str:
    return f"http://{address(layout)}"


def reference(layout: Layout, local_tag: str) -> str:
    """Where a locally built image (``localhost/name:tag``) lives in the registry."""
    return f"{address(layout)}/{local_tag.removeprefix('localhost/')}"


def data_dir(layout: Layout) -> Path:
    """The registry's storage for this cluster slot: kept by ``down``, removed by ``purge``."""
    return versions.REGISTRY_DATA / f"slot-{layout.net.slot}"


def config_file(layout: Layout) -> Path:
    return layout.etc / "registry.json"


def hosts_toml_file(layout: Layout) -> Path:
    """containerd looks up ``<config_path>/<host:port>/hosts.toml`` for every pull from it."""
    return layout.etc / "certs.d" / address(layout) / "hosts.toml"


def config(addr: str, root: Path) -> dict:
    """The registry's configuration (JSON, which is YAML): filesystem storage under ``root``,
    deletes allowed, no redirects, plain HTTP on ``addr``; requests fail with 503 while the
    storage check fails."""
    return {
        "version": "0.1",
        "log": {
            "level": "info",
            "formatter": "text",
            "fields": {"service": "registry"},
            # The info level already logs one line per request.
            "accesslog": {"disabled": True},
        },
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
            "redirect": {"disable": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {"addr": addr, "headers": {"X-Content-Type-Options": ["nosniff"]}},
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
    }


def hosts_toml(layout: Layout) -> str:
    """containerd 1.6 pulls from the registry over plain HTTP, and only pulls."""
    server = url(layout)
    return f'server = "{server}"\n\n[host."{server}"]\n  capabilities = ["pull", "resolve"]\n'


def write_files(layout: Layout) -> None:
    """The registry's config and containerd's hosts.toml for it (``config.write_all`` calls it)."""
    hosts = hosts_toml_file(layout)
    hosts.parent.mkdir(parents=True, exist_ok=True)
    hosts.write_text(hosts_toml(layout))
    config_file(layout).write_text(json.dumps(config(address(layout), data_dir(layout)), indent=1))


def daemon(layout: Layout) -> Daemon:
    return Daemon(
        "registry", (str(REGISTRY.binary()), "serve", str(config_file(layout))), env=NO_TELEMETRY
    )


def _open(request: urllib.request.Request | str, timeout: float = 2):
    # Straight to the node, whatever proxy the environment names.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return opener.open(request, timeout=timeout)


def ready(layout: Layout) -> bool:
    """``GET /v2/`` answers 200: the registry serves and its storage check passes."""
    try:
        with _open(f"{url(layout)}/v2/") as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def digest(layout: Layout, name: str, tag: str) -> str | None:
    """The manifest digest (``sha256:...``) the registry serves for ``name:tag``, or None."""
    request = urllib.request.Request(
        f"{url(layout)}/v2/{name}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": ", ".join(MANIFEST_TYPES)},
    )
    try:
        with _open(request, timeout=10) as resp:
            return resp.headers.get("Docker-Content-Digest")
    except (OSError, urllib.error.URLError):
        return None


def push_command(layout: Layout, local_tag: str) -> list[str]:
    return [
        "buildah", "push", "--quiet", "--tls-verify=false",
        local_tag, f"docker://{reference(layout, local_tag)}",
    ]  # fmt: skip


def push(layout: Layout, local_tag: str) -> str:
    """Push an image from buildah's storage into the registry; return its reference there."""
    proc = subprocess.run(push_command(layout, local_tag), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"buildah push {local_tag} to {address(layout)} failed:\n{proc.stderr[-3000:]}"
        )
    return reference(layout, local_tag)


def hosting_configmap(layout: Layout) -> dict:
    """KEP-1755's ``local-registry-hosting`` ConfigMap: where tools push and pull."""
    addr = json.dumps(address(layout))  # a JSON string is a YAML double-quoted string
    help_text = json.dumps(
        f"plain HTTP, no auth: buildah push --tls-verify=false IMAGE docker://{address(layout)}"
        "/NAME:TAG; see hack/localcluster/registry.py"
    )
    value = (
        f"host: {addr}\n"
        f"hostFromContainerRuntime: {addr}\n"
        f"hostFromClusterNetwork: {addr}\n"
        f"help: {help_text}\n"
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIGMAP_NAME,
            "namespace": CONFIGMAP_NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": "daeploy-local"},
        },
        "data": {CONFIGMAP_KEY: value},
    }
