"""Where every file of a running cluster lives, so ``down`` knows exactly what to remove."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import versions


@dataclass(frozen=True)
class Layout:
    state: Path = versions.STATE
    run: Path = versions.RUN

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
