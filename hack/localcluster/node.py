"""Bring the single node up and take it down again, leaving nothing behind.

Start order: etcd, apiserver, controller-manager, scheduler, containerd, images, the image
registry, kubelet, kube-proxy, then CoreDNS and Traefik as pods. ``up`` on a healthy node returns
at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import (
    addons,
    cgroups,
    config,
    gobuild,
    images,
    network,
    pki,
    prerequisites,
    processes,
    registry,
    sysctls,
    volumes,
)
from .components import ALL, ETCD, KUBERNETES, REGISTRY
from .components.traefik import crds_file as traefik_crds_file
from .layout import Layout
from .processes import Daemon

DAEMON_ORDER = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "containerd",
    "registry",
    "kubelet",
    "kube-proxy",
)
CORE_DAEMONS = tuple(n for n in DAEMON_ORDER if n != "registry")
"""What a node brought up before the registry existed runs; ``up`` adds the registry to it."""
VOLUMES = "volumes"
"""The volume provisioner (``volumes``): ``up`` starts it on any node that lacks it."""


def kbin(name: str) -> str:
    return str(KUBERNETES.binary(name))


def daemons(layout: Layout) -> dict[str, Daemon]:
    p = layout.pki
    kc = layout.kubeconfig
    net = layout.net
    return {
        "etcd": Daemon(
            "etcd",
            (
                str(ETCD.binary()),
                "--name=n0",
                f"--data-dir={layout.etcd_data}",
                "--listen-client-urls=http://127.0.0.1:2379",
                "--advertise-client-urls=http://127.0.0.1:2379",
                "--listen-peer-urls=http://127.0.0.1:2380",
                "--initial-advertise-peer-urls=http://127.0.0.1:2380",
                "--initial-cluster=n0=http://127.0.0.1:2380",
                "--listen-metrics-urls=http://127.0.0.1:2381",
                # A throwaway test cluster: durability is not worth an fsync per write.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ),
        ),
        "kube-apiserver": Daemon(
            "kube-apiserver",
            (
                kbin("kube-apiserver"),
                "--etcd-servers=http://127.0.0.1:2379",
                f"--advertise-address={net.node_ip}",
                "--bind-address=0.0.0.0",
                "--secure-port=6443",
                f"--service-cluster-ip-range={net.service_cidr}",
                "--allow-privileged=true",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--client-ca-file={p / 'ca.crt'}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--kubelet-certificate-authority={p / 'ca.crt'}",
                f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
                "--kubelet-preferred-address-types=InternalIP",
                f"--service-account-issuer=https://kubernetes.default.svc.{network.CLUSTER_DOMAIN}",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                # A token cannot be revoked on its own (only its account or its rights can), so
                # no token lives longer than 30 days: `daeploy token` says when it shortens one.
                "--service-account-max-token-expiration=720h",
                "--profiling=false",
                "--v=1",
            ),
        ),
        "kube-controller-manager": Daemon(
            "kube-controller-manager",
            (
                kbin("kube-controller-manager"),
                f"--kubeconfig={kc('controller-manager')}",
                f"--authentication-kubeconfig={kc('controller-manager')}",
                f"--authorization-kubeconfig={kc('controller-manager')}",
                "--bind-address=127.0.0.1",
                "--leader-elect=false",
                f"--root-ca-file={p / 'ca.crt'}",
                f"--service-account-private-key-file={p / 'sa.key'}",
                "--use-service-account-credentials=true",
                f"--cluster-signing-cert-file={p / 'ca.crt'}",
                f"--cluster-signing-key-file={p / 'ca.key'}",
                "--allocate-node-cidrs=false",
                "--profiling=false",
            ),
        ),
        "kube-scheduler": Daemon(
            "kube-scheduler",
            (
                kbin("kube-scheduler"),
                f"--kubeconfig={kc('scheduler')}",
                f"--authentication-kubeconfig={kc('scheduler')}",
                f"--authorization-kubeconfig={kc('scheduler')}",
                "--bind-address=127.0.0.1",
                "--leader-elect=false",
                "--profiling=false",
            ),
        ),
        "containerd": Daemon(
            "containerd", ("/usr/bin/containerd", "--config", str(layout.etc / "containerd.toml"))
        ),
        "kubelet": Daemon(
            "kubelet",
            (
                kbin("kubelet"),
                f"--config={layout.etc / 'kubelet.json'}",
                f"--kubeconfig={kc('kubelet-client')}",
                f"--node-ip={net.node_ip}",
                f"--hostname-override={pki.NODE_NAME}",
                f"--root-dir={layout.kubelet_root}",
                f"--cert-dir={layout.kubelet_root / 'pki'}",
                "--v=1",
            ),
        ),
        "kube-proxy": Daemon(
            "kube-proxy", (kbin("kube-proxy"), f"--config={layout.etc / 'kube-proxy.json'}")
        ),
        "registry": registry.daemon(layout),
        VOLUMES: Daemon(
            VOLUMES,
            (
                sys.executable,
                "-m",
                "localcluster.volumes",
                "--server=https://127.0.0.1:6443",
                f"--ca={p / 'ca.crt'}",
                f"--cert={p / 'volume-provisioner.crt'}",
                f"--key={p / 'volume-provisioner.key'}",
                f"--root={layout.volumes}",
            ),
            env={"PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        ),
    }


def kubectl(layout: Layout, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [kbin("kubectl"), f"--kubeconfig={layout.admin_kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def _wait(what: str, probe: Callable[[], bool], timeout: float, layout: Layout,
          log: str | None = None) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except (subprocess.SubprocessError, OSError):
            pass
        if log and not processes.alive(layout, log):
            break
        time.sleep(0.5)
    detail = f"\n--- last lines of {log}.log ---\n{processes.log_tail(layout, log)}" if log else ""
    raise RuntimeError(f"timed out waiting for {what}{detail}")


def _netns_http_ok(url: str, net: network.Net) -> bool:
    code = (
        "import sys,urllib.request;"
        f"sys.exit(0 if urllib.request.urlopen({url!r}, timeout=2).status == 200 else 1)"
    )
    cmd = network.in_netns([sys.executable, "-c", code], net)
    return subprocess.run(cmd, capture_output=True, timeout=10).returncode == 0


def _api_ready(layout: Layout) -> bool:
    return kubectl(layout, "get", "--raw", "/readyz", check=False, timeout=10).returncode == 0


def _node_ready(layout: Layout) -> bool:
    out = kubectl(
        layout, "get", "node", pki.NODE_NAME, "-o",
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}', check=False, timeout=10,
    ).stdout  # fmt: skip
    return out.strip() == "True"


def ingress_ok(net: network.Net = network.DEFAULT) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{net.ingress_url}/ping", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def healthy(layout: Layout, names: tuple[str, ...] = DAEMON_ORDER) -> bool:
    return (
        all(processes.alive(layout, n) for n in names)
        and _api_ready(layout)
        and _node_ready(layout)
        and ingress_ok(layout.net)
        and ("registry" not in names or registry.ready(layout))
    )


class Timer:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.steps: dict[str, float] = {}
        self._last = self.start

    def step(self, name: str) -> None:
        now = time.monotonic()
        self.steps[name] = round(now - self._last, 2)
        self._last = now
        print(f"  {name}: {self.steps[name]:.1f}s", file=sys.stderr)

    @property
    def total(self) -> float:
        return round(time.monotonic() - self.start, 2)


def apply_system_pods(layout: Layout) -> None:
    # Traefik's CRDs first: its kubernetescrd provider waits for every kind it watches.
    kubectl(layout, "apply", "--server-side", "-f", str(traefik_crds_file()))
    kubectl(layout, "wait", "--for=condition=Established", "--timeout=60s",
            *(f"crd/{r}.traefik.io" for r in addons.TRAEFIK_CRD_RESOURCES))  # fmt: skip
    # KEP-1755: tools find the node's registry in kube-public/local-registry-hosting.
    items = [
        *addons.all_manifests(layout.net),
        registry.hosting_configmap(layout),
        *volumes.manifests(),
    ]
    system_pods = {"apiVersion": "v1", "kind": "List", "items": items}
    kubectl(layout, "apply", "--server-side", "-f", "-", input=json.dumps(system_pods))
    for ns, name in (("kube-system", "coredns"), ("traefik", "traefik")):
        kubectl(layout, "-n", ns, "rollout", "status", f"deployment/{name}", "--timeout=180s",
                timeout=200)  # fmt: skip
    _wait("ingress /ping", lambda: ingress_ok(layout.net), 60, layout)


def build_all() -> dict[str, float]:
    return {c.name: round(gobuild.build(c), 1) for c in ALL}


def start_registry(layout: Layout) -> None:
    """Start the registry unless it runs, and wait until ``GET /v2/`` answers 200."""
    processes.start(layout, daemons(layout)["registry"])
    _wait(f"registry {registry.url(layout)}/v2/", lambda: registry.ready(layout), 30, layout,
          "registry")  # fmt: skip


def up(layout: Layout | None = None) -> dict:
    layout = layout or Layout()
    timer = Timer()
    # Before any other command: what no script can fix is said up front, packages installed
    # (cheap when done: the command line has usually run it already).
    prerequisites.ensure(needs_go=not all(c.is_built() for c in ALL))
    timer.step("prerequisites")
    if layout.admin_kubeconfig.exists() and healthy(layout, CORE_DAEMONS):
        if not (processes.alive(layout, "registry") and registry.ready(layout)):
            # A node brought up before the registry existed (or whose registry died): add it
            # rather than take the node down.
            gobuild.build(REGISTRY)
            registry.write_files(layout)
            processes.stop(layout, "registry")
            start_registry(layout)
        if not processes.alive(layout, VOLUMES):
            pki.ensure(layout.pki, layout.net)  # a node from before the provisioner: its cert
            processes.start(layout, daemons(layout)[VOLUMES])
        # Cheap when nothing changed; rolls the system pods when this checkout changed them.
        apply_system_pods(layout)
        return {"already_up": True, "seconds": timer.total}
    stale = leftovers(layout)
    if stale:
        # Whatever an earlier run left (killed daemons, mounts, pods) is cleared first, so
        # every ``up`` starts from the same clean ground.
        print(f"clearing a stale cluster ({len(stale)} leftovers)", file=sys.stderr)
        down(layout)
    print("bringing the node up", file=sys.stderr)
    builds = build_all()
    timer.step("builds")
    network.up(layout.net)
    pki.ensure(layout.pki, layout.net)
    config.write_all(layout)
    sysctls.save(layout.saved_sysctls)
    timer.step("network+pki+config")
    d = daemons(layout)
    processes.start(layout, d["etcd"])
    etcd_health = "http://127.0.0.1:2379/health"
    _wait("etcd", lambda: _netns_http_ok(etcd_health, layout.net), 60, layout, "etcd")
    processes.start(layout, d["kube-apiserver"])
    _wait("kube-apiserver /readyz", lambda: _api_ready(layout), 120, layout, "kube-apiserver")
    timer.step("etcd+apiserver")
    processes.start(layout, d["kube-controller-manager"])
    processes.start(layout, d["kube-scheduler"])
    processes.start(layout, d[VOLUMES])
    processes.start(layout, d["containerd"])
    _wait("containerd", layout.containerd_socket.exists, 30, layout, "containerd")
    images.load_component_images(layout)
    timer.step("containerd+images")
    start_registry(layout)
    timer.step("registry")
    cgroups.ensure_parent(layout)
    processes.start(layout, d["kubelet"])
    processes.start(layout, d["kube-proxy"])
    _wait("node Ready", lambda: _node_ready(layout), 120, layout, "kubelet")
    timer.step("kubelet+node")
    apply_system_pods(layout)
    timer.step("addons")
    return {"already_up": False, "seconds": timer.total, "steps": timer.steps, "builds": builds}


def _mounts_under(prefixes: tuple[str, ...]) -> list[str]:
    points = []
    for line in Path("/proc/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point.startswith(prefixes):
            points.append(point)
    return sorted(set(points), key=len, reverse=True)


def _our_shims(layout: Layout) -> list[int]:
    pids = []
    needle = str(layout.containerd_socket).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"containerd-shim" in cmdline and needle in cmdline:
            pids.append(int(entry.name))
    return pids


def _cni_netns(layout: Layout) -> list[Path]:
    """Pod namespaces an older containerd config put in /run/netns (the main cluster only; they
    now live under the cluster's own state directory)."""
    if layout.net.slot != 0 or not Path("/run/netns").exists():
        return []
    return sorted(Path("/run/netns").glob("cni-*"))


def _mount_prefixes(layout: Layout) -> tuple[str, ...]:
    own = (str(layout.state) + "/", str(layout.run) + "/")
    return (*own, "/run/containerd/") if layout.net.slot == 0 else own


def _remove_containers(layout: Layout) -> None:
    if not processes.alive(layout, "containerd"):
        return
    run = lambda *a: subprocess.run(images.ctr(layout, *a), capture_output=True, text=True)  # noqa: E731
    for task in run("tasks", "list", "--quiet").stdout.split():
        run("tasks", "kill", "--signal", "SIGKILL", task)
    time.sleep(0.5)
    for task in run("tasks", "list", "--quiet").stdout.split():
        run("tasks", "delete", "--force", task)
    for container in run("containers", "list", "--quiet").stdout.split():
        run("containers", "delete", container)


def down(layout: Layout | None = None) -> dict:
    layout = layout or Layout()
    timer = Timer()
    if processes.alive(layout, "kube-apiserver") and processes.alive(layout, "kubelet"):
        # Let the kubelet tear its pods down (CNI DEL, volume unmounts) while it still can.
        for name in ("kube-controller-manager", "kube-scheduler"):
            processes.stop(layout, name)
        kubectl(layout, "delete", "pods", "--all", "--all-namespaces", "--grace-period=0",
                "--force", "--wait=false", check=False, timeout=60)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and cgroups.pod_pids(layout):
            time.sleep(0.5)
    for name in ("kube-proxy", "kubelet", "kube-controller-manager", "kube-scheduler", VOLUMES):
        processes.stop(layout, name)
    _remove_containers(layout)
    # The registry's storage is not under state or run: it stays for the next ``up``.
    for name in ("registry", "containerd", "kube-apiserver", "etcd"):
        processes.stop(layout, name)
    for pid in _our_shims(layout) + cgroups.pod_pids(layout):
        processes.stop_pid(pid, timeout=3)
    for ns in _cni_netns(layout):
        subprocess.run(["umount", str(ns)], capture_output=True)
        ns.unlink(missing_ok=True)
    for point in _mounts_under(_mount_prefixes(layout)):
        subprocess.run(["umount", "-l", point], capture_output=True)
    network.down(layout.net)
    cgroups.remove(layout)
    sysctls.restore(layout.saved_sysctls)
    for path in (layout.state, layout.run):
        shutil.rmtree(path, ignore_errors=True)
    for d in ("/run/containerd/runc/k8s.io", "/run/containerd/s", "/run/containerd/fifo"):
        with contextlib.suppress(OSError):
            os.rmdir(d)
    return {"seconds": timer.total}


def leftovers(layout: Layout | None = None) -> list[str]:
    """Everything of the cluster still on the machine; empty after a clean ``down``.

    The registry's storage (``registry.data_dir``: ``versions.REGISTRY_DATA/slot-N``) is kept on
    purpose, so that pushed images survive ``down`` and ``up``, and is never listed here; only
    ``purge`` removes it. The registry process itself is listed while it runs.
    """
    layout = layout or Layout()
    found = list(network.leftovers(layout.net))
    found += [f"pod process {pid}" for pid in cgroups.pod_pids(layout)]
    found += [f"containerd shim {pid}" for pid in _our_shims(layout)]
    found += [f"pod network namespace {p.name}" for p in _cni_netns(layout)]
    found += [f"mount {m}" for m in _mounts_under(_mount_prefixes(layout))]
    found += cgroups.leftovers(layout)
    bins = tuple(str(c.bin_dir) for c in ALL)
    # Every daemon names a file under its own cluster's state in its arguments.
    own = (str(layout.state) + "/").encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                exe = os.readlink(entry / "exe")
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ours = exe.startswith(bins) or exe == "/usr/bin/containerd"
            if (ours or b"localcluster.volumes" in cmdline) and own in cmdline:
                found.append(f"process {entry.name} {exe}")
    found += [f"directory {p}" for p in (layout.state, layout.run) if p.exists()]
    return found


def status(layout: Layout | None = None) -> dict:
    layout = layout or Layout()
    procs = {n: processes.running_pid(layout, n) for n in (*DAEMON_ORDER, VOLUMES)}
    api = all(procs[n] for n in ("etcd", "kube-apiserver")) and _api_ready(layout)
    return {
        "processes": procs,
        "apiserver_ready": api,
        "node_ready": api and _node_ready(layout),
        "ingress_ok": ingress_ok(layout.net),
        "ingress_url": layout.net.ingress_url,
        "registry": registry.address(layout),
        "registry_ok": registry.ready(layout),
        "api_url": layout.net.api_url,
        "kubeconfig": str(layout.admin_kubeconfig),
    }
