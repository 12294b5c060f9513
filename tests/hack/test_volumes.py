"""The local cluster's volume provisioner: which claims it serves, the volume it makes for one,
and which volumes it removes (the real thing runs in tests/cluster/test_local_volumes.py)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from localcluster import node, pki, volumes
from localcluster.layout import Layout


def _claim(
    name: str = "data", provisioner: str = volumes.PROVISIONER, **spec: Any
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "annotations": {volumes.CLAIM_PROVISIONER_ANNOTATIONS[0]: provisioner},
        },
        "spec": {"accessModes": ["ReadWriteOnce"], **spec},
        "status": {"phase": "Pending"},
    }


def test_only_pending_unbound_claims_handed_to_us_get_a_volume() -> None:
    mine = _claim("a", resources={"requests": {"storage": "2Gi"}})
    other = _claim("b", provisioner="ebs.csi.aws.com")
    bound = _claim("c", volumeName="pvc-x")
    done = _claim("d")
    existing = [{"metadata": {"name": volumes.volume_name(done)}}]
    assert volumes.claims_to_provision([mine, other, bound, done], existing) == [mine]


def test_the_volume_is_pre_bound_to_its_claim_under_the_root(tmp_path: Path) -> None:
    claim = _claim("a", resources={"requests": {"storage": "2Gi"}}, storageClassName="standard")
    pv = volumes.persistent_volume(claim, tmp_path)
    assert pv["metadata"]["name"] == "pvc-uid-a"
    assert pv["metadata"]["annotations"] == {volumes.PROVISIONED_BY: volumes.PROVISIONER}
    assert pv["spec"]["claimRef"] == {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "namespace": "ns", "name": "a", "uid": "uid-a",
    }  # fmt: skip
    assert pv["spec"]["capacity"] == {"storage": "2Gi"}
    assert pv["spec"]["hostPath"]["path"] == str(tmp_path / "pvc-uid-a")
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"


def test_the_folder_is_writable_by_any_user_despite_the_umask(tmp_path: Path) -> None:
    folder = tmp_path / "pvc-1"
    volumes.make_folder(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o1777


def test_only_our_released_volumes_are_removed() -> None:
    def pv(name: str, phase: str, by: str = volumes.PROVISIONER, policy: str = "Delete") -> dict:
        return {
            "metadata": {"name": name, "annotations": {volumes.PROVISIONED_BY: by}},
            "spec": {"persistentVolumeReclaimPolicy": policy},
            "status": {"phase": phase},
        }

    gone = pv("gone", "Released")
    candidates = [gone, pv("bound", "Bound"), pv("kept", "Released", policy="Retain"),
                  pv("theirs", "Released", by="other")]  # fmt: skip
    assert volumes.volumes_to_delete(candidates) == [gone]


def test_the_default_class_and_the_daemon_identity_fit_together() -> None:
    sc = volumes.storage_class()
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc["provisioner"] == volumes.PROVISIONER
    binding = volumes.rbac()[1]
    assert binding["subjects"][0]["name"] == volumes.USER
    certs = {c.name: c.common_name for c in pki.certs()}
    assert certs["volume-provisioner"] == volumes.USER
    daemon = node.daemons(Layout())[node.VOLUMES]
    assert "--cert=" + str(Layout().pki / "volume-provisioner.crt") in daemon.argv
    assert f"--root={Layout().volumes}" in daemon.argv
