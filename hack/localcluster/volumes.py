"""The node's volume provisioner: a default StorageClass whose claims get a folder on the node.

Kubernetes ships no dynamic provisioner that works here: the controller-manager's built-in
hostPath one (``--enable-hostpath-provisioner``) makes each folder ``0750`` root-owned, so a pod
that runs as any other user (every Daeploy pod: PodSecurity ``restricted``) cannot write to it.
kind ships Rancher's local-path-provisioner, which needs a helper image per volume. This is the
same external-provisioner protocol in a small daemon of the node (stdlib only, like the rest of
``hack/``), so a PersistentVolumeClaim behaves as it does on kind: with no storage class named,
it gets one of class ``standard``, and the folder goes with the claim (reclaim policy Delete).

Protocol (KEP-1495, the one external-provisioner sidecars follow): the PV controller marks a
pending claim of our class with ``volume.kubernetes.io/storage-provisioner``; we make a folder
(mode 1777, as ``/tmp``: any user may write, and a ``fsGroup`` does not apply to host paths)
and create a PersistentVolume pre-bound to the claim; the PV controller binds the two. When a
claim is deleted the PV controller marks its volume Released; we remove the folder and the PV.
"""

from __future__ import annotations

import argparse
import json
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PROVISIONER = "daeploy.io/local-path"
STORAGE_CLASS = "standard"
"""kind's name for its default class, so manifests written for kind work unchanged here."""
CLAIM_PROVISIONER_ANNOTATIONS = (
    "volume.kubernetes.io/storage-provisioner",
    "volume.beta.kubernetes.io/storage-provisioner",
)
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
FOLDER_MODE = 0o1777
POLL_SECONDS = 1.0
USER = "daeploy-local:volume-provisioner"
"""The daemon's identity (its client certificate's CN); ``rbac()`` grants it what it needs."""


def storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "labels": {"app.kubernetes.io/part-of": "daeploy-local"},
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        # One node: nothing to wait for, and the claim binds before any pod asks for it.
        "volumeBindingMode": "Immediate",
    }


def rbac() -> list[dict[str, Any]]:
    """What the external-provisioner sidecar's ClusterRole grants, for the daemon's user."""
    name = USER
    rules = [
        {
            "apiGroups": [""],
            "resources": ["persistentvolumes"],
            "verbs": ["get", "list", "watch", "create", "delete"],
        },
        {
            "apiGroups": [""],
            "resources": ["persistentvolumeclaims"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["storage.k8s.io"],
            "resources": ["storageclasses"],
            "verbs": ["get", "list"],
        },
    ]
    labels = {"app.kubernetes.io/part-of": "daeploy-local"}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": labels},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}],
        },
    ]


def manifests() -> list[dict[str, Any]]:
    return [storage_class(), *rbac()]


def volume_name(claim: Mapping[str, Any]) -> str:
    """As the external provisioner names them: one claim, one name, so a retry never doubles."""
    return f"pvc-{claim['metadata']['uid']}"


def wants_volume(claim: Mapping[str, Any]) -> bool:
    """A pending claim the PV controller handed to this provisioner and nobody has bound."""
    annotations = claim["metadata"].get("annotations") or {}
    ours = any(annotations.get(key) == PROVISIONER for key in CLAIM_PROVISIONER_ANNOTATIONS)
    pending = (claim.get("status") or {}).get("phase", "Pending") == "Pending"
    return ours and pending and not claim["spec"].get("volumeName")


def claims_to_provision(
    claims: Iterable[Mapping[str, Any]], volumes: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    existing = {v["metadata"]["name"] for v in volumes}
    return [c for c in claims if wants_volume(c) and volume_name(c) not in existing]


def volumes_to_delete(volumes: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Our volumes whose claim is gone, when the class said Delete."""
    return [
        v
        for v in volumes
        if (v["metadata"].get("annotations") or {}).get(PROVISIONED_BY) == PROVISIONER
        and v["spec"].get("persistentVolumeReclaimPolicy") == "Delete"
        and (v.get("status") or {}).get("phase") in ("Released", "Failed")
        and not v["metadata"].get("deletionTimestamp")
    ]


def persistent_volume(claim: Mapping[str, Any], root: Path) -> dict[str, Any]:
    """The volume for ``claim``: a folder under ``root``, pre-bound to the claim."""
    meta = claim["metadata"]
    spec = claim["spec"]
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    name = volume_name(claim)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/part-of": "daeploy-local"},
            "annotations": {PROVISIONED_BY: PROVISIONER},
        },
        "spec": {
            "capacity": {"storage": size},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": spec.get("storageClassName") or STORAGE_CLASS,
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
            "hostPath": {"path": str(root / name), "type": "Directory"},
        },
    }


def make_folder(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(FOLDER_MODE)  # mkdir's mode passes through the umask; chmod does not


class Api:
    """Just enough of a Kubernetes client: JSON over TLS with a client certificate."""

    def __init__(self, server: str, ca: Path, cert: Path, key: Path) -> None:
        self.server = server.rstrip("/")
        self.context = ssl.create_default_context(cafile=str(ca))
        self.context.load_cert_chain(str(cert), str(key))

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.server + path, data=data, method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10, context=self.context) as answer:
            return json.loads(answer.read() or b"null")

    def items(self, path: str) -> list[dict[str, Any]]:
        return list(self.call("GET", path).get("items") or ())


def sync(api: Api, root: Path) -> None:
    """One pass: volumes for new claims, folders and volumes of deleted claims removed."""
    volumes = api.items("/api/v1/persistentvolumes")
    for claim in claims_to_provision(api.items("/api/v1/persistentvolumeclaims"), volumes):
        volume = persistent_volume(claim, root)
        make_folder(Path(volume["spec"]["hostPath"]["path"]))
        try:
            api.call("POST", "/api/v1/persistentvolumes", volume)
        except urllib.error.HTTPError as err:
            if err.code != 409:  # 409: made by an earlier pass that raced with the list
                raise
        where = f"{claim['metadata']['namespace']}/{claim['metadata']['name']}"
        print(f"provisioned {volume['metadata']['name']} for {where}", flush=True)
    for volume in volumes_to_delete(volumes):
        name = volume["metadata"]["name"]
        path = Path((volume["spec"].get("hostPath") or {}).get("path", ""))
        if path.parent == root:
            shutil.rmtree(path, ignore_errors=True)
        try:
            api.call("DELETE", f"/api/v1/persistentvolumes/{name}")
        except urllib.error.HTTPError as err:
            if err.code != 404:
                raise
        print(f"deleted {name}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcluster.volumes", description=__doc__)
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca", type=Path, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    api = Api(args.server, args.ca, args.cert, args.key)
    while True:
        try:
            sync(api, args.root)
        except (OSError, ValueError) as err:  # the API server restarting, a refused write
            print(f"volume provisioner: {err}", file=sys.stderr, flush=True)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
