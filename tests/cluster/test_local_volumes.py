"""The local cluster's default StorageClass for real: a claim that names no class gets a volume,
a pod running as a non-root user (PodSecurity ``restricted``) writes to it, and the folder and
the volume go with the claim."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from kube_helpers import RESTRICTED_CONTAINER, get_json, wait_until

from daeploy.contract import RUNTIME_IMAGE
from localcluster import volumes

pytestmark = pytest.mark.cluster


def _objects(namespace: str) -> list[dict[str, Any]]:
    restricted = {**RESTRICTED_CONTAINER, "runAsUser": 10001}
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "64Mi"}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "writer", "namespace": namespace},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "writer",
                        "image": RUNTIME_IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-c", "open('/data/proof', 'w').write('written')"],
                        "securityContext": restricted,
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
            },
        },
    ]


def test_a_claim_gets_a_writable_volume_that_goes_with_it(
    cluster: Any, project_images: Any
) -> None:
    namespace = f"volumes-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    try:
        items = {"apiVersion": "v1", "kind": "List", "items": _objects(namespace)}
        cluster.kubectl("apply", "-f", "-", input=json.dumps(items))
        claim = wait_until(
            lambda: (
                (c := get_json(cluster, "get", "pvc", "data", "-n", namespace))["status"].get(
                    "phase"
                )
                == "Bound"
                and c
            ),
            "the claim to be bound",
            timeout=60,
        )
        assert claim["spec"]["storageClassName"] == volumes.STORAGE_CLASS
        volume = get_json(cluster, "get", "pv", claim["spec"]["volumeName"])
        folder = Path(volume["spec"]["hostPath"]["path"])
        assert folder.parent == cluster.layout.volumes
        wait_until(
            lambda: (
                get_json(cluster, "get", "pod", "writer", "-n", namespace)["status"]["phase"]
                == "Succeeded"
            ),
            "the non-root pod to write to its volume",
            timeout=120,
        )
        assert (folder / "proof").read_text() == "written"
        cluster.kubectl("delete", "pod", "writer", "-n", namespace, "--wait=true")
        cluster.kubectl("delete", "pvc", "data", "-n", namespace, "--wait=true")
        name = volume["metadata"]["name"]
        wait_until(
            lambda: (
                cluster.kubectl("get", "pv", name, check=False).returncode != 0
                and not folder.exists()
            ),
            "the volume and its folder to go with the claim",
            timeout=60,
        )
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
