"""The node's configuration files, rendered by pure functions from the layout and network.

JSON is valid YAML, so the kubeconfigs and component configs are written as JSON and need no
YAML library in this stdlib-only tool.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from . import network, pki, registry, versions
from .layout import Layout


def kubeconfig(layout: Layout, user: str, server: str | None = None) -> dict:
    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "daeploy-local",
                "cluster": {
                    "server": server or layout.net.api_url,
                    "certificate-authority-data": b64(layout.pki / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(layout.pki / f"{user}.crt"),
                    "client-key-data": b64(layout.pki / f"{user}.key"),
                },
            }
        ],
        "contexts": [
            {
                "name": "daeploy-local",
                "context": {"cluster": "daeploy-local", "user": user, "namespace": "default"},
            }
        ],
        "current-context": "daeploy-local",
    }


def containerd_toml(layout: Layout) -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{layout.containerd_root}"
state = "{layout.containerd_state}"
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{layout.containerd_socket}"
[{cri}]
  sandbox_image = "{versions.PAUSE_TAG}"
  enable_selinux = false
  # This VM lacks CAP_SYS_RESOURCE: a negative oom_score_adj fails every sandbox.
  restrict_oom_score_adj = true
  # Pod network namespaces under this cluster's own state, not the machine's /run/netns.
  netns_mounts_under_state_dir = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "{layout.run / "runc"}"
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{layout.cni_conf_dir}"
    max_conf_num = 1
  [{cri}.registry]
    config_path = "{layout.etc / "certs.d"}"
"""


def cni_conflist(layout: Layout) -> dict:
    return {
        "cniVersion": "1.0.0",
        "name": "lcnet",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                # Never masquerade: nothing may leave towards the uplink.
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [
                        [{"subnet": layout.net.node_pod_cidr, "gateway": layout.net.pod_gateway}]
                    ],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(layout: Layout) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        # containerd 1.6 has no RuntimeConfig RPC, so the kubelet falls back to this.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        # The default -999 cannot be applied without CAP_SYS_RESOURCE.
        "oomScoreAdj": 0,
        "clusterDNS": [layout.net.dns_service_ip],
        "clusterDomain": network.CLUSTER_DOMAIN,
        "address": layout.net.node_ip,
        "healthzBindAddress": "127.0.0.1",
        "readOnlyPort": 0,
        "tlsCertFile": str(layout.pki / "kubelet-server.crt"),
        "tlsPrivateKeyFile": str(layout.pki / "kubelet-server.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(layout.pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        # Locally imported images must never be collected: nothing can pull them back.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "200Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
        },
        "failSwapOn": False,
        "resolvConf": str(layout.etc / "resolv.conf"),
        "serializeImagePulls": False,
        "podLogsDir": str(layout.pod_logs),
        "maxPods": 250,
        "protectKernelDefaults": False,
        # Each local cluster keeps its pods under its own cgroup parent, so one never sees
        # (or removes) another's.
        **({"cgroupRoot": f"/{layout.cgroup_parent}"} if layout.cgroup_parent else {}),
    }


def kube_proxy_config(layout: Layout) -> dict:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(layout.kubeconfig("kube-proxy"))},
        "mode": "iptables",
        "clusterCIDR": layout.net.pod_cidr,
        "hostnameOverride": pki.NODE_NAME,
        "oomScoreAdj": 0,
        # nf_conntrack_max is not writable inside a non-initial network namespace.
        "conntrack": {"maxPerCore": 0},
        "nodePortAddresses": [f"{layout.net.node_ip}/32"],
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
    }


def resolv_conf(net: network.Net = network.DEFAULT) -> str:
    # Only the cluster's DNS: the host resolver must never be handed to pods.
    return f"nameserver {net.dns_service_ip}\noptions ndots:5\n"


def write_all(layout: Layout) -> None:
    layout.etc.mkdir(parents=True, exist_ok=True)
    layout.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    (layout.etc / "certs.d").mkdir(exist_ok=True)
    for path in (layout.logs, layout.pod_logs, layout.pids, layout.cni_ipam_dir):
        path.mkdir(parents=True, exist_ok=True)
    files: dict[Path, str] = {
        layout.etc / "containerd.toml": containerd_toml(layout),
        layout.cni_conf_dir / "10-lcnet.conflist": json.dumps(cni_conflist(layout), indent=1),
        layout.etc / "kubelet.json": json.dumps(kubelet_config(layout), indent=1),
        layout.etc / "kube-proxy.json": json.dumps(kube_proxy_config(layout), indent=1),
        layout.etc / "resolv.conf": resolv_conf(layout.net),
    }
    for user in ("admin", "controller-manager", "scheduler", "kubelet-client", "kube-proxy"):
        files[layout.kubeconfig(user)] = json.dumps(kubeconfig(layout, user), indent=1)
    files[layout.admin_kubeconfig] = files[layout.kubeconfig("admin")]
    for path, text in files.items():
        path.write_text(text)
        if path.suffix == ".kubeconfig":
            path.chmod(0o600)
    registry.write_files(layout)
