"""spec.persistence: the version's claim and how its pods mount it; builders and CRD, no cluster.

tests/operator/test_persistence_envtest.py applies them to a real API server, and
tests/cluster/test_monitor_persistence.py reads a store back after its pod was replaced.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dsvc_objects import dsvc_object, service_version

from daeploy.contract import (
    KIND,
    MONITOR_DB_ENV,
    MONITOR_DB_FILE,
    PERSISTENT_DATA_DIR,
    PERSISTENT_MONITOR_DB_FILE,
    PLURAL,
    RUNTIME_IMAGE,
    SERVICE_LABEL,
    VERSION_LABEL,
)
from daeploy.names import version_object_name
from daeploy_operator.names import data_claim_name
from daeploy_operator.resources.deployment import RUN_AS_USER, build_version_deployment
from daeploy_operator.resources.volume import build_data_claim

RUNTIME = RUNTIME_IMAGE
CRD = Path(__file__).resolve().parents[2] / "crds" / f"{PLURAL}.yaml"


def _pod(spec: dict[str, Any]) -> dict[str, Any]:
    version = service_version("monitored", "1.0.0", **spec)
    return build_version_deployment(version, RUNTIME)["spec"]["template"]["spec"]


def _env(pod: dict[str, Any]) -> dict[str, str]:
    [container] = pod["containers"]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_no_persistence_no_claim_and_the_store_stays_on_tmp() -> None:
    version = service_version("monitored", "1.0.0")
    assert version.persistence is None
    assert build_data_claim(version) is None
    pod = _pod({})
    assert "volumes" not in pod
    assert _env(pod)[MONITOR_DB_ENV] == MONITOR_DB_FILE
    assert "fsGroup" not in pod["securityContext"]


def test_the_claim_is_the_versions_own_with_the_defaults() -> None:
    version = service_version("monitored", "1.0.0", namespace="demo", persistence={})
    claim = build_data_claim(version)
    assert claim is not None
    assert claim["apiVersion"] == "v1" and claim["kind"] == "PersistentVolumeClaim"
    assert claim["metadata"]["name"] == data_claim_name("monitored", "1.0.0")
    assert claim["metadata"]["name"] == f"{version_object_name('monitored', '1.0.0')}-data"
    assert claim["metadata"]["namespace"] == "demo"
    labels = claim["metadata"]["labels"]
    assert (labels[SERVICE_LABEL], labels[VERSION_LABEL]) == ("monitored", "1.0.0")
    [owner] = claim["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (KIND, version.uid, True)
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }  # no storageClassName: the API server gives it the cluster's default class


def test_size_and_storage_class_come_from_the_spec() -> None:
    version = service_version(
        "monitored", "1.0.0", persistence={"size": "5Gi", "storageClassName": "fast"}
    )
    claim = build_data_claim(version)
    assert claim is not None
    assert claim["spec"]["resources"] == {"requests": {"storage": "5Gi"}}
    assert claim["spec"]["storageClassName"] == "fast"


def test_the_pods_mount_the_claim_and_keep_the_store_on_it() -> None:
    pod = _pod({"persistence": {}, "source": {"configMap": "src"}})
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["data"] == {
        "name": "data",
        "persistentVolumeClaim": {"claimName": data_claim_name("monitored", "1.0.0")},
    }
    [container] = pod["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[PERSISTENT_DATA_DIR] == "data"
    assert "/tmp" in mounts  # the folder's own scratch space stays
    assert _env(pod)[MONITOR_DB_ENV] == PERSISTENT_MONITOR_DB_FILE
    assert PERSISTENT_MONITOR_DB_FILE.startswith(PERSISTENT_DATA_DIR + "/")
    # Storage with ownership management is made writable for the pod's group.
    assert pod["securityContext"]["fsGroup"] == RUN_AS_USER
    assert pod["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"


def test_spec_env_still_moves_the_store() -> None:
    pod = _pod({"persistence": {}, "env": [{"name": MONITOR_DB_ENV, "value": "/data/x.db"}]})
    [container] = pod["containers"]
    assert [e["value"] for e in container["env"] if e["name"] == MONITOR_DB_ENV] == ["/data/x.db"]


def test_a_plain_image_without_a_user_gets_no_fs_group() -> None:
    pod = _pod({"persistence": {}, "probe": {"type": "tcp"}})
    assert "fsGroup" not in pod["securityContext"]
    pod = _pod({"persistence": {}, "probe": {"type": "tcp"}, "runAsUser": 1000})
    assert pod["securityContext"]["fsGroup"] == 1000


def test_a_rollout_never_stops_the_old_pod_first() -> None:
    """Both pods of a rollout mount the ReadWriteOnce claim; on one node that works."""
    version = service_version("monitored", "1.0.0", persistence={})
    strategy = build_version_deployment(version, RUNTIME)["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }


@pytest.fixture(scope="module")
def persistence_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    [entry] = crd["spec"]["versions"]
    return entry["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize(
    ("persistence", "valid"),
    [
        ({}, True),
        ({"size": "500Mi"}, True),
        ({"size": "1.5Gi", "storageClassName": "standard"}, True),
        ({"size": "lots"}, False),
        ({"size": "1GB"}, False),
        ({"size": 5}, False),
        ({"storageClassName": "Not_A_Class"}, False),
    ],
)
def test_the_crd_checks_persistence(
    persistence_schema: dict[str, Any], persistence: dict[str, Any], valid: bool
) -> None:
    obj = dsvc_object("monitored", "1.0.0", persistence=persistence)
    del obj["status"]
    errors = list(jsonschema.Draft7Validator(persistence_schema).iter_errors(obj))
    assert (errors == []) is valid, errors


def test_the_crd_defaults_the_size(persistence_schema: dict[str, Any]) -> None:
    size = persistence_schema["properties"]["spec"]["properties"]["persistence"]["properties"]
    assert size["size"]["default"] == "1Gi"


def test_the_claim_name_is_a_dns_subdomain_for_the_longest_names() -> None:
    name = "a" * 40
    version = "1.0.0-" + "x" * 100 + "+build." + "y" * 15
    claim = data_claim_name(name, version)
    assert len(claim) <= 253
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", claim)
    assert data_claim_name(name, version) != data_claim_name(name, version + "z")
