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

CLUSTER_DOMAIN = "cluster.local"
MAX_SLOT = 8
"""Slots 1..8 are further local clusters beside the main one (slot 0); their service ranges
(10.112/12 .. 10.224/12) and pod ranges (10.245/16 .. 10.252/16) never overlap each other."""


@dataclass(frozen=True)
class Net:
    """Names and addresses of one local cluster's network; slot 0 is the cluster users know."""

    slot: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.slot <= MAX_SLOT:
            raise ValueError(f"cluster slot {self.slot}: use 0..{MAX_SLOT}")

    @property
    def _suffix(self) -> str:
        return "" if self.slot == 0 else str(self.slot)

    @property
    def netns(self) -> str:
        return f"lcnet{self._suffix}"

    @property
    def netns_path(self) -> Path:
        return Path("/run/netns") / self.netns

    @property
    def host_if(self) -> str:
        return f"lc{self._suffix}-host"

    @property
    def node_if(self) -> str:
        return f"lc{self._suffix}-node"

    @property
    def _link_octet(self) -> int:
        return 255 - self.slot

    @property
    def host_ip(self) -> str:
        return f"172.30.{self._link_octet}.1"

    @property
    def node_ip(self) -> str:
        return f"172.30.{self._link_octet}.2"

    @property
    def pod_cidr(self) -> str:
        return f"10.{244 + self.slot}.0.0/16"

    @property
    def node_pod_cidr(self) -> str:
        return f"10.{244 + self.slot}.0.0/24"

    @property
    def pod_gateway(self) -> str:
        return f"10.{244 + self.slot}.0.1"

    @property
    def _service_octet(self) -> int:
        return 96 + 16 * self.slot

    @property
    def service_cidr(self) -> str:
        return f"10.{self._service_octet}.0.0/12"

    @property
    def api_service_ip(self) -> str:
        return f"10.{self._service_octet}.0.1"

    @property
    def dns_service_ip(self) -> str:
        return f"10.{self._service_octet}.0.10"

    @property
    def ingress_url(self) -> str:
        return f"http://{self.node_ip}"

    @property
    def api_url(self) -> str:
        return f"https://{self.node_ip}:6443"


DEFAULT = Net()
# The main cluster's values, for clients that only ever talk to it.
NETNS = DEFAULT.netns
NETNS_PATH = DEFAULT.netns_path
HOST_IF = DEFAULT.host_if
NODE_IF = DEFAULT.node_if
HOST_IP = DEFAULT.host_ip
NODE_IP = DEFAULT.node_ip
LINK_PREFIX = 30
POD_CIDR = DEFAULT.pod_cidr
NODE_POD_CIDR = DEFAULT.node_pod_cidr
POD_GATEWAY = DEFAULT.pod_gateway
SERVICE_CIDR = DEFAULT.service_cidr
API_SERVICE_IP = DEFAULT.api_service_ip
DNS_SERVICE_IP = DEFAULT.dns_service_ip
INGRESS_URL = DEFAULT.ingress_url
API_URL = DEFAULT.api_url


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


def host_guards(net: Net = DEFAULT) -> tuple[Rule, ...]:
    return (
        # The namespace may answer the host, never open a connection to it.
        Rule(
            "INPUT",
            ("-i", net.host_if, "-m", "conntrack", "--ctstate", "NEW,INVALID", "-j", "DROP"),
        ),
        # Nothing is routed between the namespace and any other interface.
        Rule("FORWARD", ("-i", net.host_if, "-j", "DROP")),
        Rule("FORWARD", ("-o", net.host_if, "-j", "DROP")),
    )


HOST_GUARDS = host_guards()


def host_routes(net: Net = DEFAULT) -> tuple[tuple[str, ...], ...]:
    """The host reaches pods and VIPs through the veth, and packets for these ranges can never
    fall through to the uplink's default route."""
    return (
        (net.pod_cidr, "via", net.node_ip, "dev", net.host_if),
        (net.service_cidr, "via", net.node_ip, "dev", net.host_if),
    )


def in_netns(cmd: list[str], net: Net = DEFAULT) -> list[str]:
    """Run a command in the cluster's network namespace only (``ip netns exec`` would also make a
    private mount namespace, hiding the kubelet's volume mounts from containerd)."""
    return ["nsenter", f"--net={net.netns_path}", "--", *cmd]


def setup_commands(net: Net = DEFAULT) -> list[list[str]]:
    """The commands that make the namespace, in order; each is safe to skip when done already."""
    n = ["ip", "-n", net.netns]
    return [
        ["ip", "netns", "add", net.netns],
        ["ip", "link", "add", net.host_if, "type", "veth", "peer", "name", net.node_if],
        ["ip", "link", "set", net.node_if, "netns", net.netns],
        ["ip", "addr", "add", f"{net.host_ip}/{LINK_PREFIX}", "dev", net.host_if],
        ["ip", "link", "set", net.host_if, "up"],
        [*n, "link", "set", "lo", "up"],
        [*n, "addr", "add", f"{net.node_ip}/{LINK_PREFIX}", "dev", net.node_if],
        [*n, "link", "set", net.node_if, "up"],
        [*n, "route", "add", "unreachable", "default"],
        [*n, "route", "add", "unreachable", net.pod_cidr],
        # VIPs need a route before kube-proxy's OUTPUT DNAT sees them.
        [*n, "route", "add", net.service_cidr, "dev", net.node_if],
        in_netns(["sysctl", "-qw", "net.ipv4.ip_forward=1"], net),
        in_netns(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"], net),
    ]


def _quiet(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True)


def netns_exists(net: Net = DEFAULT) -> bool:
    return (
        net.netns_path.exists()
        and _quiet(["ip", "netns", "exec", net.netns, "true"]).returncode == 0
    )


def _host_link_exists(net: Net) -> bool:
    return _quiet(["ip", "link", "show", net.host_if]).returncode == 0


def ensure_modules() -> None:
    """Bridge netfilter must be loaded for kube-proxy to see bridged pod traffic."""
    if shutil.which("modprobe") is None:
        return  # a kernel without loadable modules has them built in
    for mod in ("br_netfilter", "overlay", "veth"):
        _quiet(["modprobe", mod])


def up(net: Net = DEFAULT) -> None:
    ensure_modules()
    if not netns_exists(net) or not _host_link_exists(net):
        down(net)
        for cmd in setup_commands(net):
            proc = _quiet(cmd)
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    for rule in host_guards(net):
        if _quiet(rule.check()).returncode != 0:
            subprocess.run(rule.insert(), check=True)
    for route in host_routes(net):
        subprocess.run(["ip", "route", "replace", *route], check=True, capture_output=True)


def down(net: Net = DEFAULT) -> None:
    """Remove routes, guards and the namespace (which takes its veth, bridge and rules along)."""
    for route in host_routes(net):
        _quiet(["ip", "route", "del", *route])
    for rule in host_guards(net):
        while _quiet(rule.check()).returncode == 0:
            _quiet(rule.delete())
    if net.netns_path.exists():
        _quiet(["ip", "netns", "del", net.netns])
    if _host_link_exists(net):
        _quiet(["ip", "link", "del", net.host_if])


def leftovers(net: Net = DEFAULT) -> list[str]:
    """What of the cluster's network is still on the host; empty after a clean ``down``."""
    found: list[str] = []
    if net.netns_path.exists():
        found.append(f"network namespace {net.netns}")
    if _host_link_exists(net):
        found.append(f"link {net.host_if}")
    routes = _quiet(["ip", "route", "show"]).stdout.splitlines()
    for route in host_routes(net):
        if any(line.startswith(route[0] + " ") for line in routes):
            found.append(f"route {route[0]}")
    for rule in host_guards(net):
        if _quiet(rule.check()).returncode == 0:
            found.append(f"iptables {rule.chain} {' '.join(rule.spec)}")
    return found
