"""Where every file of a running cluster lives, so ``down`` knows exactly what to remove."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import versions
from .network import DEFAULT, Net


@dataclass(frozen=True)
class Layout:
    state: Path = versions.STATE
    run: Path = versions.RUN
    net: Net = field(default=DEFAULT)
    cgroup_parent: str = ""
    """Where the kubelet puts ``kubepods`` in each cgroup hierarchy ("" is the top)."""

    @classmethod
    def for_slot(cls, slot: int) -> Layout:
        """A further local cluster with its own files, namespace, addresses and cgroups, so that
        tests can take one down and up without touching the cluster a user works on."""
        if slot == 0:
            return cls()
        return cls(
            state=Path(f"{versions.STATE}-{slot}"),
            run=Path(f"{versions.RUN}-{slot}"),
            net=Net(slot),
            cgroup_parent=f"daeploy-lc-{slot}",
        )

    @classmethod
    def from_env(cls) -> Layout:
        """``DAEPLOY_LC_SLOT`` picks the cluster every verb works on (default 0)."""
        raw = os.environ.get("DAEPLOY_LC_SLOT", "0")
        if not raw.isdigit():
            raise ValueError(f"DAEPLOY_LC_SLOT={raw!r}: give a number 0..8")
        return cls.for_slot(int(raw))

    @property
    def kubepods_relative(self) -> str:
        return f"{self.cgroup_parent}/kubepods" if self.cgroup_parent else "kubepods"

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def etc(self) -> Path:
        return self.state / "etc"

    @property
    def etcd_data(self) -> Path:
        return self.state / "etcd"

    @property
    def volumes(self) -> Path:
        """PersistentVolumes' folders (``volumes.py``); cluster data, so ``down`` removes them."""
        return self.state / "volumes"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def containerd_root(self) -> Path:
        return self.state / "containerd"

    @property
    def containerd_state(self) -> Path:
        return self.run / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd_state / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.etc / "cni"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.run / "cni-ipam"

    @property
    def pids(self) -> Path:
        return self.run / "pids"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def pod_logs(self) -> Path:
        return self.state / "pod-logs"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state / "admin.kubeconfig"

    @property
    def saved_sysctls(self) -> Path:
        return self.state / "saved-sysctls.json"

    def kubeconfig(self, user: str) -> Path:
        return self.etc / f"{user}.kubeconfig"
