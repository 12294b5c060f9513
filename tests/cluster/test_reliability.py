"""Reliability on the local cluster (issue 6): the operator killed in the middle of a burst,
children edited by hand, a callee scaled to zero, invalid manifests that change nothing, and
least privilege (the operator's RBAC, the services' token, PodSecurity ``restricted``).

Every test works in its own namespace with its own ingress host (the namespace annotation
daeploy.io/host), so its service names never compete with other tests' routes. Requests go only
to the cluster's ingress address; every loop is bounded in count and time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from kube_helpers import (
    BAD_MANIFESTS,
    GOOD_SPEC,
    MANAGED,
    apply,
    bad_manifest,
    condition,
    dsvc,
    get_json,
    manifest,
    wait_ready,
    wait_until,
)

from daeploy.contract import (
    ADMIN_ACCOUNT,
    API_GROUP,
    CALLER_ACCOUNT,
    CALLERS_ROLE_SUFFIX,
    CRD_NAME,
    EVENTS_ROLE,
    HOST_ANNOTATION,
    KIND,
    MANAGED_BY_LABEL,
    MANAGED_BY_OPERATOR,
    OPERATOR_NAME,
    PEERS_ROLE,
    PLURAL,
    RESYNC_SECONDS_ENV,
    SERVICE_LABEL,
    VERSION_LABEL,
)
from daeploy.names import (
    label_value,
    service_account_name,
    service_object_name,
    service_path,
    version_object_name,
    version_path,
)

REPO = Path(__file__).resolve().parents[2]
# OPERATOR_NAME is also the chart's fullname for the release tests/cluster/conftest.py installs:
# the operator's Deployment, ServiceAccount, ClusterRole and ClusterRoleBinding all carry it.
# yatzee's call to die_roller gives up after 3 connection attempts of 3 s, or 30 s without an
# answer (the SDK's defaults); an answer that takes longer than this is a hang.
PLAY_TIMEOUT = 45.0

pytestmark = pytest.mark.cluster


# --- helpers ---------------------------------------------------------------------------------


def namespace_with_host(
    cluster: Any, fresh_namespace: Callable[[str], str], prefix: str
) -> tuple[str, str]:
    """A fresh namespace with its own ingress host, so its routes never meet other tests'."""
    namespace = fresh_namespace(prefix)
    host = f"{namespace}.local"
    cluster.kubectl("annotate", "namespace", namespace, f"{HOST_ANNOTATION}={host}")
    return namespace, host


def resync_seconds(cluster: Any, operator_namespace: str) -> float:
    """The operator's safety-net period, as its chart set it."""
    deployment = get_json(cluster, "get", "deployment", OPERATOR_NAME, "-n", operator_namespace)
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return float(next(e["value"] for e in env if e["name"] == RESYNC_SECONDS_ENV))


def items(cluster: Any, namespace: str, kinds: str, *selector: str) -> list[dict[str, Any]]:
    return get_json(cluster, "get", kinds, "-n", namespace, *selector)["items"]


def owner_uids(obj: dict[str, Any]) -> set[str]:
    return {ref["uid"] for ref in obj["metadata"].get("ownerReferences") or []}


def wait_for_no_problems(problems: Callable[[], list[str]], what: str, timeout: float) -> None:
    """Poll a list of problems until it is empty; fail with the last list."""
    deadline = time.monotonic() + timeout
    last: list[str] = []
    while time.monotonic() < deadline:
        last = problems()
        if not last:
            return
        time.sleep(3)
    shown = "\n".join(last[:40])
    raise AssertionError(f"{what}: {len(last)} problems after {timeout:.0f}s:\n{shown}")


def play(cluster: Any, host: str) -> httpx.Response:
    return httpx.post(
        f"{cluster.ingress_url}{service_path('yatzee')}/play",
        json={},
        headers={"Host": host, **cluster.auth_headers},
        timeout=PLAY_TIMEOUT,
    )


# --- the operator's process ------------------------------------------------------------------


def operator_pod(cluster: Any, operator_namespace: str) -> dict[str, Any]:
    pods = items(
        cluster, operator_namespace, "pods", "-l",
        f"app.kubernetes.io/instance={OPERATOR_NAME},app.kubernetes.io/name={OPERATOR_NAME}",
    )  # fmt: skip
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert len(live) == 1, [p["metadata"]["name"] for p in pods]
    return live[0]


def container_id(pod: dict[str, Any]) -> str:
    runtime, _, cid = pod["status"]["containerStatuses"][0]["containerID"].partition("://")
    assert runtime == "containerd" and cid, pod["status"]["containerStatuses"][0]
    return cid


def task_pid(cluster: Any, cid: str) -> int:
    """The container's main process on the host, as containerd knows it."""
    listing = subprocess.run(
        ["ctr", "--address", str(cluster.layout.containerd_socket), "-n", "k8s.io", "tasks", "ls"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == cid:
            return int(fields[1])
    raise AssertionError(f"containerd runs no task {cid}:\n{listing}")


def cgroup_pids(cluster: Any, cid: str) -> set[int]:
    """The processes of the container's cgroup: a second witness before killing a PID."""
    pods = cluster.layout.kubepods_relative
    procs = sorted(Path("/sys/fs/cgroup").glob(f"*/{pods}/**/{cid}/cgroup.procs"))
    assert procs, f"no kubepods cgroup for container {cid}"
    return {int(pid) for pid in procs[0].read_text().split()}


def sigkill_operator(cluster: Any, operator_namespace: str) -> tuple[str, int]:
    """SIGKILL the operator container's main process; its pod's name and restarts before."""
    pod = operator_pod(cluster, operator_namespace)
    status = pod["status"]["containerStatuses"][0]
    assert "running" in status["state"], status
    cid = container_id(pod)
    pid = task_pid(cluster, cid)
    assert pid in cgroup_pids(cluster, cid), (pid, cid)
    os.kill(pid, signal.SIGKILL)
    return pod["metadata"]["name"], int(status["restartCount"])


def wait_operator_restarted(
    cluster: Any, operator_namespace: str, pod_name: str, restarts_before: int
) -> dict[str, Any]:
    """The kubelet restarted the same pod's container after a SIGKILL (exit code 137)."""

    def restarted() -> dict[str, Any] | None:
        pod = get_json(cluster, "get", "pod", pod_name, "-n", operator_namespace)
        status = pod["status"]["containerStatuses"][0]
        terminated = (status.get("lastState") or {}).get("terminated") or {}
        if status["restartCount"] > restarts_before and status["ready"]:
            return {"restartCount": status["restartCount"], "terminated": terminated}
        return None

    return wait_until(restarted, "the operator container to restart and be ready", timeout=240)


# --- 1. the operator killed in the middle of a burst -----------------------------------------

BURST_NAMES = 25
BURST_VERSIONS = 4
MARK = {"name": "RELIABILITY_MARK", "value": "set while the operator was down"}


def burst_name(i: int) -> str:
    return f"burst_{i:02d}"


def burst_main(i: int) -> str | None:
    """A third of the names claim no main version (the first deployed is main); the others each
    claim one, in turn."""
    return None if i % 3 == 0 else f"{i % BURST_VERSIONS + 1}.0.0"


def name_of(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def burst_objects() -> list[dict[str, Any]]:
    objects = []
    for i in range(BURST_NAMES):
        for v in range(1, BURST_VERSIONS + 1):
            version = f"{v}.0.0"
            objects.append(
                manifest(burst_name(i), version, main=burst_main(i) == version, **GOOD_SPEC)
            )
    return objects


@dataclass
class Expected:
    """What the namespace must converge to, per service name."""

    host: str
    versions: dict[str, set[str]] = field(default_factory=dict)
    main: dict[str, str | None] = field(default_factory=dict)
    marked: set[tuple[str, str]] = field(default_factory=set)


def _one_each(
    objs: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any], what: str, want: set[Any]
) -> tuple[dict[Any, dict[str, Any]], list[str]]:
    """Objects by key; problems for duplicates, missing and unexpected keys."""
    counts = Counter(key(o) for o in objs)
    problems = [f"{what} {k} exists {n} times" for k, n in counts.items() if n > 1]
    problems += [f"{what} {k} is missing" for k in sorted(want - set(counts), key=str)]
    problems += [f"{what} {k} is not expected" for k in sorted(set(counts) - want, key=str)]
    return {key(o): o for o in objs}, problems


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return obj["metadata"].get("labels") or {}


def convergence_problems(cluster: Any, namespace: str, expected: Expected) -> list[str]:
    """Everything that differs from the desired state; empty when converged."""
    services = items(cluster, namespace, PLURAL)
    children = items(
        cluster, namespace, "deployments,services,ingresses,ingressroutes", "-l", MANAGED
    )
    access = items(cluster, namespace, "serviceaccounts,roles,rolebindings", "-l", MANAGED)
    pods = items(cluster, namespace, "pods", "-l", MANAGED)

    want_versions = {(n, v) for n, vs in expected.versions.items() for v in vs}
    by_version, problems = _one_each(
        services,
        lambda o: (o["spec"]["name"], o["spec"]["version"]),
        KIND,
        want_versions,
    )
    live = {o["metadata"]["uid"] for o in services if not o["metadata"].get("deletionTimestamp")}
    uids_of_name: dict[str, set[str]] = {}
    for (name, version), obj in by_version.items():
        uids_of_name.setdefault(name, set()).add(obj["metadata"]["uid"])
        status = obj.get("status") or {}
        where = f"{KIND} {obj['metadata']['name']}"
        if status.get("observedGeneration") != obj["metadata"]["generation"]:
            problems.append(
                f"{where}: observedGeneration {status.get('observedGeneration')} != "
                f"generation {obj['metadata']['generation']}"
            )
        if condition(obj, "Available").get("reason") != "ScaledToZero":
            problems.append(f"{where}: Available is {condition(obj, 'Available')}")
        if status.get("url") != f"http://{expected.host}{version_path(name, version)}":
            problems.append(f"{where}: url {status.get('url')!r}")
        want_mark = "*" if expected.main.get(name) == version else ""
        if status.get("mainMark") != want_mark:
            problems.append(f"{where}: mainMark {status.get('mainMark')!r}, want {want_mark!r}")

    version_key = lambda o: (_labels(o).get(SERVICE_LABEL), _labels(o).get(VERSION_LABEL))  # noqa: E731
    want_labels = {(label_value(n), label_value(v)) for n, v in want_versions}
    for kind in ("Deployment", "Service"):
        of_kind = [o for o in children if o["kind"] == kind and VERSION_LABEL in _labels(o)]
        found, more = _one_each(of_kind, version_key, kind, want_labels)
        problems += more
        for name, version in want_versions:
            obj = found.get((label_value(name), label_value(version)))
            owner = by_version.get((name, version))
            if obj is None or owner is None:
                continue
            where = f"{kind} {obj['metadata']['name']}"
            if obj["metadata"]["name"] != version_object_name(name, version):
                problems.append(f"{where}: wrong name for {name} {version}")
            refs = obj["metadata"].get("ownerReferences") or []
            if [(r["uid"], r.get("controller")) for r in refs] != [
                (owner["metadata"]["uid"], True)
            ]:
                problems.append(f"{where}: owners {refs}")
            if kind == "Deployment":
                spec = obj["spec"]
                env = spec["template"]["spec"]["containers"][0].get("env") or []
                if spec["replicas"] != 0:
                    problems.append(f"{where}: replicas {spec['replicas']}")
                if (MARK in env) != ((name, version) in expected.marked):
                    problems.append(f"{where}: {MARK['name']} in env is {MARK in env}")

    name_key = lambda o: _labels(o).get(SERVICE_LABEL)  # noqa: E731
    want_names = {label_value(n) for n in expected.versions}
    for kind in ("Service", "Ingress", "IngressRoute"):
        of_kind = [o for o in children if o["kind"] == kind and VERSION_LABEL not in _labels(o)]
        found, more = _one_each(of_kind, name_key, f"per-name {kind}", want_names)
        problems += more
        for name, versions in expected.versions.items():
            obj = found.get(label_value(name))
            if obj is None:
                continue
            where = f"{kind} {obj['metadata']['name']}"
            if obj["metadata"]["name"] != service_object_name(name):
                problems.append(f"{where}: wrong name for {name}")
            if owner_uids(obj) != uids_of_name.get(name, set()):
                problems.append(f"{where}: owners are not exactly the versions of {name}")
            main = expected.main.get(name)
            if kind == "Service":
                selected = obj["spec"]["selector"].get(VERSION_LABEL)
                if selected != ("" if main is None else label_value(main)):
                    problems.append(f"{where}: selects version {selected!r}, main is {main!r}")
                continue
            if kind == "IngressRoute":
                # The main path goes straight to the main version's own Service (no version is
                # Available here, so none is a shadow or a canary).
                [route] = obj["spec"]["routes"]
                backend = route["services"][0]["name"]
                want = None if main is None else version_object_name(name, main)
                if backend != want or f"Host(`{expected.host}`)" not in route["match"]:
                    problems.append(f"{where}: routes {route['match']!r} to {backend!r}")
                continue
            rule = obj["spec"]["rules"][0]
            paths = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
            want_paths = {version_path(name, v): version_object_name(name, v) for v in versions}
            if paths != want_paths or rule.get("host") != expected.host:
                problems.append(f"{where}: host {rule.get('host')!r}, paths {paths}")

    # Identities and rights: the namespace's own, owned by every live DaeployService, and each
    # name's account and callers' Role and RoleBinding, owned by that name's versions.
    owners_wanted: dict[tuple[str, str], set[str]] = {
        (kind, name): live
        for kind, names in (
            ("ServiceAccount", (CALLER_ACCOUNT, ADMIN_ACCOUNT)),
            ("Role", (EVENTS_ROLE, PEERS_ROLE, CALLER_ACCOUNT, ADMIN_ACCOUNT)),
            ("RoleBinding", (EVENTS_ROLE, PEERS_ROLE, CALLER_ACCOUNT, ADMIN_ACCOUNT)),
        )
        for name in names
    }
    for name in expected.versions:
        account = service_account_name(name)
        owners_wanted[("ServiceAccount", account)] = uids_of_name.get(name, set())
        for kind in ("Role", "RoleBinding"):
            owners_wanted[(kind, account + CALLERS_ROLE_SUFFIX)] = uids_of_name.get(name, set())
    found_access = {(o["kind"], o["metadata"]["name"]): o for o in access}
    problems += [f"{k} {n} is missing" for k, n in sorted(set(owners_wanted) - set(found_access))]
    problems += [
        f"{k} {n} is not expected" for k, n in sorted(set(found_access) - set(owners_wanted))
    ]
    problems += [
        f"{kind} {name}: owners are not exactly the versions it serves"
        for (kind, name), obj in found_access.items()
        if (kind, name) in owners_wanted and owner_uids(obj) != owners_wanted[(kind, name)]
    ]
    for obj in children + access:
        refs = owner_uids(obj)
        if not refs:
            problems.append(f"{obj['kind']} {obj['metadata']['name']} has no owner")
        elif not refs <= live:
            problems.append(
                f"{obj['kind']} {obj['metadata']['name']} has dead owners {refs - live}"
            )
    problems += [f"unexpected pod {p['metadata']['name']}" for p in pods]
    return problems


def test_operator_killed_mid_burst_converges_without_duplicates_or_orphans(
    cluster: Any, daeploy_operator: str, fresh_namespace: Callable[[str], str]
) -> None:
    namespace, host = namespace_with_host(cluster, fresh_namespace, "rel-burst")
    objects = burst_objects()
    assert len(objects) == 100
    burst = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    applied: list[subprocess.CompletedProcess[str]] = []

    def send() -> None:
        applied.append(
            cluster.kubectl(
                "apply", "-n", namespace, "-f", "-", input=burst, check=False, timeout=300
            )
        )

    sender = threading.Thread(target=send, daemon=True)
    sender.start()

    def a_third_with_children() -> int:
        out = cluster.kubectl("get", "deployments", "-n", namespace, "-l", MANAGED, "-o", "name")
        count = len(out.stdout.split())
        return count if count >= len(objects) // 3 else 0

    with_children = wait_until(
        a_third_with_children, "a third of the burst to get children", timeout=240, every=0.2
    )
    pod_name, restarts = sigkill_operator(cluster, daeploy_operator)
    assert with_children < len(objects), "the kill came after the burst had children for all"

    sender.join(300)
    assert applied and applied[0].returncode == 0, applied and applied[0].stderr
    # While the operator is away: delete some versions and change others.
    expected = Expected(host=host)
    for i in range(BURST_NAMES):
        expected.versions[burst_name(i)] = {f"{v}.0.0" for v in range(1, BURST_VERSIONS + 1)}
        expected.main[burst_name(i)] = burst_main(i)
    gone = [(burst_name(i), "1.0.0") for i in range(5)]
    cluster.kubectl(
        "delete", "dsvc", "-n", namespace, "--wait=false",
        *[version_object_name(n, v) for n, v in gone],
    )  # fmt: skip
    for name, version in gone:
        expected.versions[name].discard(version)
        if expected.main[name] == version:
            expected.main[name] = None
    # Where no claim is left, the operator makes the first version deployed main.
    live = get_json(cluster, "get", "dsvc", "-n", namespace)["items"]
    for name, versions in expected.versions.items():
        if expected.main[name] is None:
            left = [o for o in live if (o["spec"]["name"], o["spec"]["version"]) in {
                (name, v) for v in versions
            }]  # fmt: skip
            first = min(left, key=lambda o: (o["metadata"]["creationTimestamp"], name_of(o)))
            expected.main[name] = first["spec"]["version"]
    marked = [(burst_name(i), "2.0.0") for i in range(5, 10)]
    for name, version in marked:
        patch = json.dumps({"spec": {"env": [MARK]}})
        cluster.kubectl(
            "patch", "dsvc", version_object_name(name, version), "-n", namespace,
            "--type=merge", "-p", patch,
        )  # fmt: skip
        expected.marked.add((name, version))

    restarted = wait_operator_restarted(cluster, daeploy_operator, pod_name, restarts)
    assert restarted["terminated"].get("exitCode") == 137, restarted

    wait_for_no_problems(
        lambda: convergence_problems(cluster, namespace, expected),
        "the burst to converge after the SIGKILL",
        timeout=480,
    )


# --- 2. children edited by hand --------------------------------------------------------------


def test_children_edited_by_hand_are_restored_within_the_resync_period(
    cluster: Any, daeploy_operator: str, fresh_namespace: Callable[[str], str]
) -> None:
    namespace, host = namespace_with_host(cluster, fresh_namespace, "rel-edit")
    v1, v2 = version_object_name("edited", "1.0.0"), version_object_name("edited", "2.0.0")
    per_name = service_object_name("edited")
    apply(cluster, namespace, manifest("edited", "1.0.0", main=True, **GOOD_SPEC))
    apply(cluster, namespace, manifest("edited", "2.0.0", **GOOD_SPEC))
    expected = Expected(
        host=host, versions={"edited": {"1.0.0", "2.0.0"}}, main={"edited": "1.0.0"}
    )
    wait_for_no_problems(
        lambda: convergence_problems(cluster, namespace, expected), "the first reconcile", 120
    )
    children = "deployments,services,ingresses"
    uids = {o["metadata"]["uid"] for o in items(cluster, namespace, children, "-l", MANAGED)}

    def kubectl_patch(kind: str, name: str, kind_of_patch: str, body: Any) -> None:
        cluster.kubectl(
            "patch", kind, name, "-n", namespace, f"--type={kind_of_patch}", "-p", json.dumps(body)
        )

    kubectl_patch("deployment", v1, "json", [
        {"op": "replace", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image",
         "value": "localhost/tampered:0.0.1"},
    ])  # fmt: skip
    # Without the managed-by label no child event reaches the operator: only the resync heals it.
    cluster.kubectl("label", "deployment", v2, "-n", namespace, f"{MANAGED_BY_LABEL}-")
    kubectl_patch("service", v2, "json", [
        {"op": "replace", "path": "/spec/ports/0/targetPort", "value": 9999},
    ])  # fmt: skip
    kubectl_patch("service", per_name, "merge", {"spec": {"selector": {VERSION_LABEL: "2.0.0"}}})
    foreign = {
        "path": service_path("not_ours"),
        "pathType": "Prefix",
        "backend": {"service": {"name": v2, "port": {"number": 80}}},
    }
    kubectl_patch("ingress", per_name, "json", [
        {"op": "remove", "path": "/spec/rules/0/http/paths/1"},
        {"op": "add", "path": "/spec/rules/0/http/paths/-", "value": foreign},
    ])  # fmt: skip

    def edits_left() -> list[str]:
        problems = convergence_problems(cluster, namespace, expected)
        deployment = get_json(cluster, "get", "deployment", v1, "-n", namespace)
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        if image != GOOD_SPEC["image"]:
            problems.append(f"Deployment {v1} runs {image}")
        labels = _labels(get_json(cluster, "get", "deployment", v2, "-n", namespace))
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_OPERATOR:
            problems.append(f"Deployment {v2} lost its managed-by label")
        port = get_json(cluster, "get", "service", v2, "-n", namespace)["spec"]["ports"][0]
        if port["targetPort"] != "http":
            problems.append(f"Service {v2} targets port {port['targetPort']!r}")
        return problems

    assert edits_left(), "the edits did not take"
    resync = resync_seconds(cluster, daeploy_operator)
    wait_for_no_problems(edits_left, "the hand edits to be undone", timeout=2 * resync + 30)
    after = {o["metadata"]["uid"] for o in items(cluster, namespace, children, "-l", MANAGED)}
    assert after == uids, "children were replaced instead of restored"


# --- 5. invalid manifests change nothing -----------------------------------------------------

SNAPSHOT_KINDS = (
    f"{PLURAL},deployments,replicasets,services,ingresses,serviceaccounts,roles,"
    "rolebindings,configmaps,pods"
)


def snapshot(cluster: Any, namespace: str) -> dict[str, tuple[str, str]]:
    """Every object that a reconcile could touch, by kind/name: (uid, resourceVersion)."""
    return {
        f"{o['kind']}/{o['metadata']['name']}": (
            o["metadata"]["uid"],
            o["metadata"]["resourceVersion"],
        )
        for o in items(cluster, namespace, SNAPSHOT_KINDS)
    }


def settled_snapshot(cluster: Any, namespace: str, resync: float) -> dict[str, tuple[str, str]]:
    """A snapshot that a full resync pass left unchanged: the operator has nothing left to do."""
    last = snapshot(cluster, namespace)
    for _ in range(8):
        time.sleep(resync + 2)
        now = snapshot(cluster, namespace)
        if now == last:
            return now
        last = now
    changing = sorted(k for k in now if now.get(k) != last.get(k))
    raise AssertionError(f"the namespace never settles; still changing: {changing}")


def test_invalid_manifests_are_refused_naming_the_field_and_change_nothing(
    cluster: Any, daeploy_operator: str, fresh_namespace: Callable[[str], str]
) -> None:
    assert len(BAD_MANIFESTS) >= 15
    namespace, _ = namespace_with_host(cluster, fresh_namespace, "rel-invalid")
    apply(cluster, namespace, bad_manifest("base", "checked", "1.0.0"))
    apply(cluster, namespace, manifest("kept", "1.0.0", main=True, **GOOD_SPEC))

    def reconciled() -> bool:
        objs = items(cluster, namespace, PLURAL)
        ingresses = items(cluster, namespace, "ingresses", "-l", MANAGED)
        return len(ingresses) == 2 and all(
            (o.get("status") or {}).get("observedGeneration") == o["metadata"]["generation"]
            for o in objs
        )

    wait_until(reconciled, "the two valid services to be reconciled", timeout=120)
    resync = resync_seconds(cluster, daeploy_operator)
    before = settled_snapshot(cluster, namespace, resync)

    not_refused = []
    for what, obj, field_text in BAD_MANIFESTS:
        result = apply(cluster, namespace, obj, check=False)
        if result.returncode == 0 or field_text not in result.stderr:
            not_refused.append((what, result.returncode, result.stderr.strip()))
    assert not_refused == []

    # One full resync pass after the refusals, so anything they set off would show.
    time.sleep(resync + 2)
    after = snapshot(cluster, namespace)
    changed = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys()
               if before.get(k) != after.get(k)}  # fmt: skip
    assert changed == {}


# --- 6. least privilege ----------------------------------------------------------------------

# Exactly what the operator's ClusterRole grants: (API group, resource) -> verbs. Everything the
# operator does needs these and nothing else (see charts/daeploy-operator/templates/clusterrole).
OPERATOR_RULES = {
    (API_GROUP, PLURAL): {"list", "watch"},
    (API_GROUP, f"{PLURAL}/status"): {"patch"},
    (API_GROUP, f"{PLURAL}/finalizers"): {"update"},
    ("apps", "deployments"): {"list", "watch", "create", "patch"},
    ("", "services"): {"get", "list", "watch", "create", "patch"},
    ("networking.k8s.io", "ingresses"): {"list", "watch", "create", "patch", "delete"},
    ("", "pods"): {"list", "watch"},
    ("", "persistentvolumeclaims"): {"list", "watch", "create", "patch"},
    ("", "serviceaccounts"): {"get", "create", "patch"},
    ("rbac.authorization.k8s.io", "roles"): {"get", "create", "patch"},
    ("rbac.authorization.k8s.io", "rolebindings"): {"get", "create", "patch"},
    ("", "namespaces"): {"list", "watch"},
    ("", "events"): {"create", "update", "patch"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
    (API_GROUP, f"{PLURAL}/invoke"): {"create"},
    (API_GROUP, f"{PLURAL}/parameters"): {"update"},
    ("traefik.io", "middlewares"): {"get", "list", "watch", "create", "patch", "delete"},
    ("traefik.io", "ingressroutes"): {"list", "watch", "create", "patch", "delete"},
    ("traefik.io", "traefikservices"): {"list", "watch", "create", "patch", "delete"},
}

# (verb, resource, extra kubectl auth can-i arguments, allowed)
OPERATOR_CAN_I = [
    ("patch", "deployments.apps", (), True),
    ("create", "deployments.apps", (), True),
    ("watch", "pods", (), True),
    ("list", "services", (), True),
    # Held only because the events Role it writes grants it (services read traffic tables).
    ("get", "services", (), True),
    ("delete", "ingresses.networking.k8s.io", (), True),
    ("patch", CRD_NAME, ("--subresource=status",), True),
    ("create", "events", (), True),
    ("watch", "namespaces", (), True),
    ("get", "namespaces", (), False),
    ("create", "serviceaccounts", (), True),
    ("get", "serviceaccounts", (), True),  # is the namespace's daeploy-service ours?
    ("patch", "roles.rbac.authorization.k8s.io", (), True),
    ("delete", "nodes", (), False),
    ("get", "nodes", (), False),
    ("get", "secrets", (), False),
    ("list", "secrets", (), False),
    ("get", "configmaps", (), False),
    ("create", "pods", (), False),
    ("create", "pods", ("--subresource=exec",), False),
    ("delete", "pods", (), False),
    ("delete", "deployments.apps", (), False),
    ("update", "deployments.apps", (), False),
    ("delete", "services", (), False),
    ("create", CRD_NAME, (), False),
    ("patch", CRD_NAME, (), False),  # kopf keeps no bookkeeping in the objects
    ("delete", CRD_NAME, (), False),
    ("update", CRD_NAME, ("--subresource=status",), False),
    ("delete", "namespaces", (), False),
    ("create", "serviceaccounts", ("--subresource=token",), False),
    ("impersonate", "serviceaccounts", (), False),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", (), False),
    ("bind", "clusterroles.rbac.authorization.k8s.io", (), False),
    ("escalate", "roles.rbac.authorization.k8s.io", (), False),
    ("create", "customresourcedefinitions.apiextensions.k8s.io", (), False),
]


def _granted(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        assert not rule.get("resourceNames") and not rule.get("nonResourceURLs"), rule
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                granted.setdefault((group, resource), set()).update(rule.get("verbs") or [])
    return granted


def can_i(cluster: Any, who: str, verb: str, resource: str, *extra: str) -> str:
    proc = cluster.kubectl("auth", "can-i", verb, resource, *extra, "--as", who, check=False)
    assert "resource type" not in proc.stderr, proc.stderr  # an unknown resource proves nothing
    return proc.stdout.strip()


def test_the_operator_holds_only_the_verbs_it_uses(cluster: Any, daeploy_operator: str) -> None:
    role = get_json(cluster, "get", "clusterrole", OPERATOR_NAME)
    assert _granted(role["rules"]) == OPERATOR_RULES

    subject = {"kind": "ServiceAccount", "name": OPERATOR_NAME, "namespace": daeploy_operator}
    bindings = [
        (b["kind"], b["metadata"].get("namespace"), b["roleRef"]["kind"], b["roleRef"]["name"])
        for b in get_json(cluster, "get", "clusterrolebindings,rolebindings", "-A")["items"]
        if subject in [{k: s.get(k) for k in subject} for s in b.get("subjects") or []]
    ]
    assert bindings == [("ClusterRoleBinding", None, "ClusterRole", OPERATOR_NAME)]

    who = f"system:serviceaccount:{daeploy_operator}:{OPERATOR_NAME}"
    wrong = []
    for verb, resource, extra, allowed in OPERATOR_CAN_I:
        answer = can_i(cluster, who, verb, resource, *extra, "-A")
        if answer != ("yes" if allowed else "no"):
            wrong.append((verb, resource, *extra, answer))
    assert wrong == []


@dataclass
class Demo:
    namespace: str
    host: str


@pytest.fixture(scope="module")
def restricted_demo(cluster: Any, daeploy_operator: str) -> Iterator[Demo]:
    """The tutorial's die_roller and yatzee in a namespace that enforces PodSecurity restricted."""
    namespace = f"rel-restricted-{uuid.uuid4().hex[:6]}"
    host = f"{namespace}.local"
    cluster.kubectl("create", "namespace", namespace)
    try:
        cluster.kubectl(
            "label", "namespace", namespace,
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/enforce-version=latest",
        )  # fmt: skip
        cluster.kubectl("annotate", "namespace", namespace, f"{HOST_ANNOTATION}={host}")
        for service in ("die_roller", "yatzee"):
            path = REPO / "services" / service / "daeployservice.yaml"
            cluster.kubectl("apply", "-n", namespace, "-f", str(path))
        wait_ready(
            cluster,
            namespace,
            version_object_name("die_roller", "1.0.0"),
            version_object_name("yatzee", "1.0.0"),
        )
        wait_until(
            lambda: play(cluster, host).status_code == 200,
            "the ingress controller to route yatzee on the demo's host",
            timeout=90,
        )
        yield Demo(namespace, host)
    finally:
        cluster.kubectl(
            "delete", "namespace", namespace, "--wait=true", "--timeout=180s", timeout=200
        )


PRIVILEGED_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "privileged"},
    "spec": {
        "containers": [
            {
                "name": "main",
                "image": "localhost/die-roller:1.0.0",
                "securityContext": {"privileged": True},
            }
        ]
    },
}


def test_the_demo_runs_under_pod_security_restricted(cluster: Any, restricted_demo: Demo) -> None:
    ns = get_json(cluster, "get", "namespace", restricted_demo.namespace)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = items(cluster, restricted_demo.namespace, "pods", "-l", MANAGED)
    assert sorted(_labels(p)[SERVICE_LABEL] for p in pods) == ["die_roller", "yatzee"]
    assert all(p["status"]["phase"] == "Running" for p in pods)

    response = play(cluster, restricted_demo.host)
    assert response.status_code == 200, response.text
    dice = response.json()
    assert len(dice) == 5 and dice == sorted(dice) and all(1 <= d <= 6 for d in dice)

    refused = apply(cluster, restricted_demo.namespace, PRIVILEGED_POD, check=False)
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr, refused.stderr
    assert "privileged" in refused.stderr, refused.stderr
    plain = json.loads(json.dumps(PRIVILEGED_POD))
    plain["metadata"]["name"] = "no-security-context"
    del plain["spec"]["containers"][0]["securityContext"]
    refused = apply(cluster, restricted_demo.namespace, plain, check=False)
    assert refused.returncode != 0
    assert "allowPrivilegeEscalation != false" in refused.stderr, refused.stderr
    names = cluster.kubectl("get", "pods", "-n", restricted_demo.namespace, "-o", "name").stdout
    assert "privileged" not in names and "no-security-context" not in names


def test_the_services_token_reads_no_secrets(cluster: Any, restricted_demo: Demo) -> None:
    """The ServiceAccount the operator made in a live namespace, beyond test_notify_apiserver."""
    who = f"system:serviceaccount:{restricted_demo.namespace}:{service_account_name('die_roller')}"
    answers = {
        (verb, resource): can_i(cluster, who, verb, resource, "-n", restricted_demo.namespace)
        for verb, resource in (
            ("create", "events"),
            ("get", "secrets"),
            ("list", "secrets"),
            ("watch", "secrets"),
            ("get", "configmaps"),
            ("get", CRD_NAME),
            ("create", "pods"),
        )
    }
    assert answers == {
        ("create", "events"): "yes",
        ("get", "secrets"): "no",
        ("list", "secrets"): "no",
        ("watch", "secrets"): "no",
        ("get", "configmaps"): "no",
        ("get", CRD_NAME): "no",
        ("create", "pods"): "no",
    }


# --- 3. a callee scaled to zero --------------------------------------------------------------


def test_yatzee_answers_a_clear_5xx_while_die_roller_is_scaled_to_zero_and_recovers(
    cluster: Any, restricted_demo: Demo
) -> None:
    namespace, host = restricted_demo.namespace, restricted_demo.host
    die_roller = version_object_name("die_roller", "1.0.0")

    def scale(replicas: int) -> None:
        body = json.dumps({"spec": {"replicas": replicas}})
        cluster.kubectl("patch", "dsvc", die_roller, "-n", namespace, "--type=merge", "-p", body)

    scale(0)
    wait_until(
        lambda: (
            dsvc(cluster, namespace, die_roller)["status"]["phase"] == "stopped"
            and not items(cluster, namespace, "pods", "-l", f"{SERVICE_LABEL}=die_roller")
        ),
        "die_roller to stop",
        timeout=180,
    )
    # A timeout here fails the test: it is the hang this test is about.
    answers = []
    for _ in range(20):
        response = play(cluster, host)
        answers.append(response.status_code)
        if response.status_code != 200:
            break
        time.sleep(1)  # the endpoints may lag the pods' deletion for a moment
    assert response.status_code in (502, 503, 504), (answers, response.text)
    body = response.json()
    assert body["service"] == "die_roller", body
    assert "die_roller" in body["detail"], body

    scale(1)
    wait_ready(cluster, namespace, die_roller)
    dice = wait_until(
        lambda: (r := play(cluster, host)).status_code == 200 and r.json(),
        "yatzee to play again once die_roller is back",
        timeout=120,
    )
    assert len(dice) == 5
