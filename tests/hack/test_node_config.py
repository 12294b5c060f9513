"""The node's configuration carries the facts verified on this VM kind."""

import ipaddress
import json

from localcluster import addons, cgroups, config, network
from localcluster.layout import Layout


def test_kubelet_config_fits_this_vm(tmp_path):
    cfg = config.kubelet_config(Layout(state=tmp_path / "s", run=tmp_path / "r"))
    assert cfg["oomScoreAdj"] == 0  # no CAP_SYS_RESOURCE
    assert cfg["cgroupDriver"] == "cgroupfs"
    assert cfg["failCgroupV1"] is False
    assert cfg["clusterDNS"] == [network.DNS_SERVICE_IP]
    assert cfg["imageGCHighThresholdPercent"] == 100  # local images can never be pulled back


def test_containerd_restricts_oom_score_and_has_no_registry_mirrors(tmp_path):
    text = config.containerd_toml(Layout(state=tmp_path / "s", run=tmp_path / "r"))
    assert "restrict_oom_score_adj = true" in text
    assert "SystemdCgroup = false" in text
    assert "mirrors" not in text


def test_cni_never_masquerades(tmp_path):
    conf = config.cni_conflist(Layout(state=tmp_path / "s", run=tmp_path / "r"))
    bridge = conf["plugins"][0]
    assert bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"][0][0]["subnet"] == network.NODE_POD_CIDR


def test_kube_proxy_does_not_touch_conntrack_max(tmp_path):
    cfg = config.kube_proxy_config(Layout(state=tmp_path / "s", run=tmp_path / "r"))
    assert cfg["conntrack"] == {"maxPerCore": 0}
    assert cfg["oomScoreAdj"] == 0


def test_pods_only_get_the_cluster_resolver():
    assert config.resolv_conf().splitlines()[0] == f"nameserver {network.DNS_SERVICE_IP}"


def test_namespace_has_no_default_route():
    cmds = [" ".join(c) for c in network.setup_commands()]
    assert any(c.endswith("route add unreachable default") for c in cmds)
    assert not any("MASQUERADE" in c for c in cmds)
    assert not any(" default via " in c for c in cmds)


def test_host_guards_block_new_connections_and_forwarding():
    specs = [(r.chain, " ".join(r.spec)) for r in network.HOST_GUARDS]
    assert ("INPUT", f"-i {network.HOST_IF} -m conntrack --ctstate NEW,INVALID -j DROP") in specs
    assert ("FORWARD", f"-i {network.HOST_IF} -j DROP") in specs
    assert ("FORWARD", f"-o {network.HOST_IF} -j DROP") in specs


def test_coredns_never_forwards_upstream():
    assert "forward" not in addons.COREFILE
    assert "kubernetes cluster.local" in addons.COREFILE


def test_traefik_has_strict_prefixes_and_no_phoning_home():
    args = addons.traefik_args()
    assert "--providers.kubernetesingress.strictPrefixMatching=true" in args
    assert "--global.checkNewVersion=false" in args
    assert "--global.sendAnonymousUsage=false" in args
    assert "--providers.providersThrottleDuration=500ms" in args


def test_kubeconfig_points_at_the_node(tmp_path):
    layout = Layout(state=tmp_path / "s", run=tmp_path / "r")
    layout.pki.mkdir(parents=True)
    for name in ("ca.crt", "admin.crt", "admin.key"):
        (layout.pki / name).write_text("x")
    kc = config.kubeconfig(layout, "admin")
    assert kc["clusters"][0]["cluster"]["server"] == network.API_URL
    json.dumps(kc)


def test_slots_never_share_names_addresses_or_files():
    layouts = [Layout.for_slot(n) for n in range(network.MAX_SLOT + 1)]
    for attr in ("state", "run", "cgroup_parent"):
        values = [getattr(lay, attr) for lay in layouts]
        assert len(set(values)) == len(values), attr
    for attr in ("netns", "host_if", "node_ip", "pod_cidr", "service_cidr"):
        values = [getattr(lay.net, attr) for lay in layouts]
        assert len(set(values)) == len(values), attr
    nets = [
        ipaddress.ip_network(c) for lay in layouts for c in (lay.net.pod_cidr, lay.net.service_cidr)
    ]
    for i, a in enumerate(nets):
        assert not any(a.overlaps(b) for b in nets[i + 1 :]), a


def test_a_further_slot_keeps_its_pods_files_and_addresses_apart():
    lay = Layout.for_slot(3)
    cfg = config.kubelet_config(lay)
    assert cfg["cgroupRoot"] == "/daeploy-lc-3"
    assert cfg["address"] == "172.30.252.2"
    assert cfg["clusterDNS"] == ["10.144.0.10"]
    assert "cgroupRoot" not in config.kubelet_config(Layout())
    assert lay.kubepods_relative == "daeploy-lc-3/kubepods"
    assert f'Root = "{lay.run / "runc"}"' in config.containerd_toml(lay)
    assert "netns_mounts_under_state_dir = true" in config.containerd_toml(lay)
    cmds = [" ".join(c) for c in network.setup_commands(lay.net)]
    assert "ip netns add lcnet3" in cmds
    assert "ip link add lc3-host type veth peer name lc3-node" in cmds
    args = addons.traefik_args(lay.net)
    assert "--providers.kubernetesingress.ingressendpoint.ip=172.30.252.2" in args
    assert cgroups.ROOT.name == "cgroup"


def test_slot_numbers_outside_the_range_are_refused(monkeypatch):
    import pytest

    with pytest.raises(ValueError, match=r"0\.\.8"):
        network.Net(9)
    monkeypatch.setenv("DAEPLOY_LC_SLOT", "one")
    with pytest.raises(ValueError, match="DAEPLOY_LC_SLOT"):
        Layout.from_env()
    monkeypatch.setenv("DAEPLOY_LC_SLOT", "2")
    assert Layout.from_env() == Layout.for_slot(2)
