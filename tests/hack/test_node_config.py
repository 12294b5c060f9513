"""The node's configuration carries the facts verified on this VM kind."""

import json

from localcluster import addons, config, network
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
