"""The cluster's system pods: CoreDNS (no ``forward``: no query leaves the cluster) and Traefik
(hostNetwork on the node IP, strict prefix matching, Ingresses and Traefik's own CRDs, the access
gate's plugin as a local plugin, no update check or usage reporting)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from . import network
from .images import COREDNS_IMAGE, TRAEFIK_IMAGE

# The access gate's Traefik plugin (operator/traefik-access), loaded as a local plugin: Traefik
# interprets its Go source, mounted from a ConfigMap where it looks for local plugins.
PLUGIN_NAME = "daeploy-access-plugin"
PLUGIN_MODULE = "github.com/daeploy/traefik-access"
PLUGIN_SOURCE = Path(__file__).resolve().parents[2] / "operator" / "traefik-access"
PLUGIN_FILES = (".traefik.yml", "go.mod", "access.go")
PLUGIN_MOUNT = f"/plugins-local/src/{PLUGIN_MODULE}"

SYSTEM_NS = "kube-system"
TRAEFIK_CRD_RESOURCES = [
    "middlewares",
    "middlewaretcps",
    "ingressroutes",
    "traefikservices",
    "ingressroutetcps",
    "ingressrouteudps",
    "tlsoptions",
    "tlsstores",
    "serverstransports",
    "serverstransporttcps",
]
INGRESS_NS = "traefik"
INGRESS_CLASS = "traefik"

COREFILE = f""".:1053 {{
    errors
    health :8080
    ready :8181
    kubernetes {network.CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
    loop
    reload
}}
"""

_RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _meta(name: str, namespace: str | None = None, **labels: str) -> dict:
    meta: dict = {"name": name, "labels": {"app.kubernetes.io/part-of": "daeploy-local", **labels}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _reader_role(name: str, rules: list[dict], namespace: str) -> list[dict]:
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, namespace)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(f"daeploy-local:{name}"),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(f"daeploy-local:{name}"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"daeploy-local:{name}",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]


def coredns(net: network.Net = network.DEFAULT) -> list[dict]:
    labels = {"k8s-app": "kube-dns"}
    return [
        *_reader_role(
            "coredns",
            [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
            SYSTEM_NS,
        ),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("coredns", SYSTEM_NS),
            "data": {"Corefile": COREFILE},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("coredns", SYSTEM_NS, **labels),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "dnsPolicy": "Default",
                        "priorityClassName": "system-cluster-critical",
                        "containers": [
                            {
                                "name": "coredns",
                                "image": COREDNS_IMAGE,
                                "imagePullPolicy": "Never",
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [
                                    {"name": "dns", "containerPort": 1053, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": 1053, "protocol": "TCP"},
                                ],
                                "securityContext": _RESTRICTED,
                                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}},
                                "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}},
                                "resources": {"requests": {"cpu": "50m", "memory": "40Mi"}},
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns"}],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("kube-dns", SYSTEM_NS, **labels),
            "spec": {
                "clusterIP": net.dns_service_ip,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": 1053, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": 1053, "protocol": "TCP"},
                ],
            },
        },
    ]


def traefik_args(net: network.Net = network.DEFAULT) -> list[str]:
    return [
        "--entryPoints.web.address=:80",
        "--providers.kubernetesingress=true",
        # Without it, /services/die_roller would also route /services/die_roller_1.0.0.
        "--providers.kubernetesingress.strictPrefixMatching=true",
        f"--providers.kubernetesingress.ingressendpoint.ip={net.node_ip}",
        # Traefik waits this long between two configuration updates (default 2 s); a version
        # that just became ready, or a main switch, should not wait behind an unrelated update.
        "--providers.providersThrottleDuration=500ms",
        # Traefik rebuilds its whole configuration on every Service, EndpointSlice and Ingress
        # event; with 1,000 services deploying that took most of a core. Events within 200 ms
        # now make one rebuild.
        "--providers.kubernetesingress.throttleDuration=200ms",
        # Traefik's own kinds: the access gate's Middleware per namespace, and the traffic
        # routes (IngressRoute, weighted and mirroring TraefikServices) per service name.
        "--providers.kubernetescrd=true",
        "--providers.kubernetescrd.throttleDuration=200ms",
        # A version whose pods are all unready keeps its place in a split or mirror until the
        # operator takes it out; without this Traefik would drop the whole route meanwhile.
        "--providers.kubernetescrd.allowEmptyServices=true",
        f"--experimental.localPlugins.{PLUGIN_NAME}.moduleName={PLUGIN_MODULE}",
        "--ping=true",
        "--ping.entryPoint=web",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--log.level=INFO",
    ]


def plugin_files() -> dict[str, str]:
    return {name: (PLUGIN_SOURCE / name).read_text() for name in PLUGIN_FILES}


def traefik(net: network.Net = network.DEFAULT) -> list[dict]:
    labels = {"app.kubernetes.io/name": "traefik"}
    plugin = plugin_files()
    # A changed plugin is new static configuration: roll the pod.
    plugin_digest = hashlib.sha256(repr(sorted(plugin.items())).encode()).hexdigest()[:16]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(INGRESS_NS)},
        *_reader_role(
            "traefik",
            [
                {
                    "apiGroups": [""],
                    "resources": ["services", "endpoints", "secrets", "nodes", "configmaps"],
                    "verbs": ["get", "list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["networking.k8s.io"],
                    "resources": ["ingresses", "ingressclasses"],
                    "verbs": ["get", "list", "watch"],
                },
                {
                    "apiGroups": ["networking.k8s.io"],
                    "resources": ["ingresses/status"],
                    "verbs": ["update"],
                },
                {
                    "apiGroups": ["traefik.io"],
                    "resources": TRAEFIK_CRD_RESOURCES,
                    "verbs": ["get", "list", "watch"],
                },
            ],
            INGRESS_NS,
        ),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("traefik-plugins", INGRESS_NS),
            "data": plugin,
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {
                **_meta(INGRESS_CLASS),
                "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
            },
            "spec": {"controller": "traefik.io/ingress-controller"},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("traefik", INGRESS_NS, **labels),
            "spec": {
                "replicas": 1,
                # One host port: the old pod must go before the new one can bind it.
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {"daeploy.local/plugin-digest": plugin_digest},
                    },
                    "spec": {
                        "serviceAccountName": "traefik",
                        "volumes": [{"name": "plugins", "configMap": {"name": "traefik-plugins"}}],
                        "hostNetwork": True,
                        "dnsPolicy": "ClusterFirstWithHostNet",
                        "priorityClassName": "system-cluster-critical",
                        "terminationGracePeriodSeconds": 10,
                        "containers": [
                            {
                                "name": "traefik",
                                "image": TRAEFIK_IMAGE,
                                "imagePullPolicy": "Never",
                                "args": traefik_args(net),
                                "ports": [{"name": "web", "containerPort": 80}],
                                "volumeMounts": [
                                    {"name": "plugins", "mountPath": PLUGIN_MOUNT, "readOnly": True}
                                ],
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {
                                        "drop": ["ALL"],
                                        "add": ["NET_BIND_SERVICE"],
                                    },
                                    "seccompProfile": {"type": "RuntimeDefault"},
                                },
                                "readinessProbe": {
                                    "httpGet": {"path": "/ping", "port": 80},
                                    "periodSeconds": 2,
                                },
                                "livenessProbe": {"httpGet": {"path": "/ping", "port": 80}},
                                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                            }
                        ],
                    },
                },
            },
        },
    ]


def all_manifests(net: network.Net = network.DEFAULT) -> list[dict]:
    return [*coredns(net), *traefik(net)]
