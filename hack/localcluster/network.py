"""The cluster's network namespace and the guards that keep its traffic on this machine.

Every cluster process runs in ``NETNS``, which has an ``unreachable`` default route: a pod, an
image pull or a DNS upstream that tries to leave fails at once instead of reaching the uplink.
The host reaches the node (apiserver, ingress) only through one veth pair, and its firewall
lets the namespace answer host-initiated connections but never open new ones or be forwarded.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

NETNS = "lcnet"
NETNS_PATH = Path("/run/netns") / NETNS
HOST_IF = "lc-host"
NODE_IF = "lc-node"
HOST_IP = "172.30.255.1"
NODE_IP = "172.30.255.2"
LINK_PREFIX = 30
POD_CIDR = "10.244.0.0/16"
NODE_POD_CIDR = "10.244.0.0/24"
POD_GATEWAY = "10.244.0.1"
SERVICE_CIDR = "10.96.0.0/12"
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
INGRESS_URL = f"http://{NODE_IP}"
API_URL = f"https://{NODE_IP}:6443"


@dataclass(frozen=True)
class Rule:
    """One host iptables rule, addable and removable by the same words."""

    chain: str
    spec: tuple[str, ...]

    def check(self) -> list[str]:
        return ["iptables", "-w", "-C", self.chain, *self.spec]

    def insert(self) -> list[str]:
        return ["iptables", "-w", "-I", self.chain, "1", *self.spec]

    def delete(self) -> list[str]:
        return ["iptables", "-w", "-D", self.chain, *self.spec]


HOST_GUARDS: tuple[Rule, ...] = (
    # The namespace may answer the host, never open a connection to it.
    Rule("INPUT", ("-i", HOST_IF, "-m", "conntrack", "--ctstate", "NEW,INVALID", "-j", "DROP")),
    # Nothing is routed between the namespace and any other interface.
    Rule("FORWARD", ("-i", HOST_IF, "-j", "DROP")),
    Rule("FORWARD", ("-o", HOST_IF, "-j", "DROP")),
)

# Host routes: the host reaches pods and VIPs through the veth, and packets for these ranges can
# never fall through to the uplink's default route.
HOST_ROUTES: tuple[tuple[str, ...], ...] = (
    (POD_CIDR, "via", NODE_IP, "dev", HOST_IF),
    (SERVICE_CIDR, "via", NODE_IP, "dev", HOST_IF),
)


def in_netns(cmd: list[str]) -> list[str]:
    """Run a command in the cluster's network namespace only (``ip netns exec`` would also make a
    private mount namespace, hiding the kubelet's volume mounts from containerd)."""
    return ["nsenter", f"--net={NETNS_PATH}", "--", *cmd]


def setup_commands() -> list[list[str]]:
    """The commands that make the namespace, in order; each is safe to skip when done already."""
    n = ["ip", "-n", NETNS]
    return [
        ["ip", "netns", "add", NETNS],
        ["ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NODE_IF],
        ["ip", "link", "set", NODE_IF, "netns", NETNS],
        ["ip", "addr", "add", f"{HOST_IP}/{LINK_PREFIX}", "dev", HOST_IF],
        ["ip", "link", "set", HOST_IF, "up"],
        [*n, "link", "set", "lo", "up"],
        [*n, "addr", "add", f"{NODE_IP}/{LINK_PREFIX}", "dev", NODE_IF],
        [*n, "link", "set", NODE_IF, "up"],
        [*n, "route", "add", "unreachable", "default"],
        [*n, "route", "add", "unreachable", POD_CIDR],
        # VIPs need a route before kube-proxy's OUTPUT DNAT sees them.
        [*n, "route", "add", SERVICE_CIDR, "dev", NODE_IF],
        in_netns(["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
        in_netns(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"]),
    ]


def _quiet(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True)


def netns_exists() -> bool:
    return NETNS_PATH.exists() and _quiet(["ip", "netns", "exec", NETNS, "true"]).returncode == 0


def _host_link_exists() -> bool:
    return _quiet(["ip", "link", "show", HOST_IF]).returncode == 0


def ensure_modules() -> None:
    """Bridge netfilter must be loaded for kube-proxy to see bridged pod traffic."""
    if shutil.which("modprobe") is None:
        return  # a kernel without loadable modules has them built in
    for mod in ("br_netfilter", "overlay", "veth"):
        _quiet(["modprobe", mod])


def up() -> None:
    ensure_modules()
    if not netns_exists() or not _host_link_exists():
        down()
        for cmd in setup_commands():
            proc = _quiet(cmd)
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    for rule in HOST_GUARDS:
        if _quiet(rule.check()).returncode != 0:
            subprocess.run(rule.insert(), check=True)
    for route in HOST_ROUTES:
        subprocess.run(["ip", "route", "replace", *route], check=True, capture_output=True)


def down() -> None:
    """Remove routes, guards and the namespace (which takes its veth, bridge and rules along)."""
    for route in HOST_ROUTES:
        _quiet(["ip", "route", "del", *route])
    for rule in HOST_GUARDS:
        while _quiet(rule.check()).returncode == 0:
            _quiet(rule.delete())
    if NETNS_PATH.exists():
        _quiet(["ip", "netns", "del", NETNS])
    if _host_link_exists():
        _quiet(["ip", "link", "del", HOST_IF])


def leftovers() -> list[str]:
    """What of the cluster's network is still on the host; empty after a clean ``down``."""
    found: list[str] = []
    if NETNS_PATH.exists():
        found.append(f"network namespace {NETNS}")
    if _host_link_exists():
        found.append(f"link {HOST_IF}")
    routes = _quiet(["ip", "route", "show"]).stdout
    for route in HOST_ROUTES:
        if route[0] in routes:
            found.append(f"route {route[0]}")
    for rule in HOST_GUARDS:
        if _quiet(rule.check()).returncode == 0:
            found.append(f"iptables {rule.chain} {' '.join(rule.spec)}")
    return found
