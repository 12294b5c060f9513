"""The status of a DaeployService, decided from what the cluster shows: pure functions.

Conditions follow the API conventions: ``Available`` (pods serve), ``Routed`` (the Ingress sends
this version its traffic) and ``Ready`` (both), with CamelCase reasons that say why. Transition
times only move when a condition's status changes, so a status rewritten with the same facts is
byte-for-byte the same and costs no write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daeploy.contract import (
    CHILD_REFUSED_REASON,
    DUPLICATE_VERSION_REASON,
    HOST_ANNOTATION,
    KIND,
    NOT_OWNED_REASON,
    RECONCILE_FAILED_REASON,
    ROLLOUT_REASON,
    ROUTE_HELD_REASON,
    RUN_AS_USER_NEEDED_REASON,
)
from daeploy.names import service_path, version_path

from . import timestamps
from .names import url_for
from .routing import MainRoute, Traffic
from .spec import ServiceVersion

AVAILABLE = "Available"
ROUTED = "Routed"
READY = "Ready"
MAIN_VERSION_REASON = "MainVersion"
CONDITION_TYPES = (READY, AVAILABLE, ROUTED)

IMAGE_PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")
CONTAINER_FAILURES = (
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)
DUPLICATE_VERSION = DUPLICATE_VERSION_REASON
CHILD_REFUSED = CHILD_REFUSED_REASON
ROUTE_HELD = ROUTE_HELD_REASON
NOT_OWNED = NOT_OWNED_REASON
RECONCILE_FAILED = RECONCILE_FAILED_REASON
RUN_AS_USER_NEEDED = RUN_AS_USER_NEEDED_REASON
# The kubelet's words when runAsNonRoot cannot be met by the image's USER (kuberuntime).
RUN_AS_ROOT_MARK = "runAsNonRoot and image will run as root"
NON_NUMERIC_USER_MARK = "runAsNonRoot and image has non-numeric user"
# Reasons that need a person to act; they are posted as Warning Events.
PROBLEM_REASONS = frozenset(
    {
        *IMAGE_PULL_FAILURES,
        *CONTAINER_FAILURES,
        DUPLICATE_VERSION,
        CHILD_REFUSED,
        ROUTE_HELD,
        NOT_OWNED,
        RECONCILE_FAILED,
        RUN_AS_USER_NEEDED,
        "ReplicaFailure",
        "ProgressDeadlineExceeded",
        "Unschedulable",
    }
)
MAX_MESSAGE = 2000


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the DaeployService."""

    type: str
    reason: str
    message: str


def _deployment_available(deployment: Mapping[str, Any] | None) -> int:
    if not deployment:
        return 0
    return int((deployment.get("status") or {}).get("availableReplicas") or 0)


def availability(
    version: ServiceVersion,
    deployment: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]],
) -> Condition:
    """Available when every requested replica is available; otherwise the clearest reason why."""
    if version.replicas == 0:
        return Condition(
            AVAILABLE,
            False,
            "ScaledToZero",
            f"spec.replicas is 0: version {version.version} is stopped",
        )
    available = _deployment_available(deployment)
    counts = f"{available}/{version.replicas} replicas available"
    if available >= version.replicas:
        return Condition(AVAILABLE, True, "MinimumReplicasAvailable", counts)
    failure = pod_failure(pods, image_user=version.image_user)
    if failure is not None:
        return Condition(AVAILABLE, False, failure[0], _clip(f"{failure[1]} ({counts})"))
    for cond in (deployment or {}).get("status", {}).get("conditions") or []:
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            return Condition(
                AVAILABLE, False, "ReplicaFailure", _clip(cond.get("message") or counts)
            )
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return Condition(
                AVAILABLE, False, "ProgressDeadlineExceeded", _clip(cond.get("message") or counts)
            )
    return Condition(AVAILABLE, False, "Deploying", counts)


def refused(message: str) -> Condition:
    """Not available because the API server refused to store a child built from the spec."""
    return Condition(AVAILABLE, False, CHILD_REFUSED, _clip(message))


def not_owned(condition_type: str, message: str) -> Condition:
    """A child's name is taken by an object that is not ours: a person must act."""
    return Condition(condition_type, False, NOT_OWNED, _clip(message))


def pod_failure(
    pods: Sequence[Mapping[str, Any]], *, image_user: bool = True
) -> tuple[str, str] | None:
    """The most telling pod problem: image pulls first, then crashes, then scheduling.

    The kubelet's refusal to run a container as the image's own user concerns only pods that
    run as it: once the spec names a user (``image_user`` False), a pod still refused is of an
    older spec, and the rollout under way replaces it (the fix must not read as a failure).
    """
    found: list[tuple[int, str, str]] = []
    for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name", "")):
        status = pod.get("status") or {}
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        for container in status.get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason") or ""
            name = container.get("name", "")
            if reason in IMAGE_PULL_FAILURES:
                image = container.get("image", "")
                detail = waiting.get("message") or "the image is not available on the node"
                found.append(
                    (0, reason, f"cannot pull image {image!r} for container {name}: {detail}")
                )
            elif reason in CONTAINER_FAILURES:
                refusal = _run_as_user_needed(name, waiting.get("message") or "")
                if refusal is not None:
                    if image_user:
                        found.append((1, RUN_AS_USER_NEEDED, refusal))
                else:
                    found.append((1, reason, _crash_message(name, reason, container, waiting)))
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
                found.append((2, "Unschedulable", cond.get("message") or "no node fits the pod"))
    if not found:
        return None
    _, reason, message = min(found, key=lambda f: f[0])
    return reason, _clip(message)


def _run_as_user_needed(name: str, kubelet_message: str) -> str | None:
    """The fix, when the kubelet refused to start the container as the image's own user: pods
    never run as root (PodSecurity ``restricted``), so the spec must name a user."""
    fix = (
        "set spec.runAsUser to a user id the image can run as, other than 0 (daeploy deploy "
        "--run-as-user 1000), or give the image a numeric USER other than 0"
    )
    if RUN_AS_ROOT_MARK in kubelet_message:
        why = "the image runs as root, and Daeploy runs no container as root"
    elif NON_NUMERIC_USER_MARK in kubelet_message:
        why = (
            "the image's USER is a name, not a number, so the kubelet cannot check that it is "
            "not root"
        )
    else:
        return None
    return f"container {name}: {why}: {fix} ({kubelet_message})"


def _crash_message(
    name: str, reason: str, container: Mapping[str, Any], waiting: Mapping[str, Any]
) -> str:
    terminated = (container.get("lastState") or {}).get("terminated") or {}
    if reason != "CrashLoopBackOff" or not terminated:
        return f"container {name}: {waiting.get('message') or reason}"
    code = terminated.get("exitCode")
    why = (terminated.get("message") or terminated.get("reason") or "").strip()
    restarts = container.get("restartCount", 0)
    return (
        f"container {name} keeps crashing (exit code {code}, {restarts} restarts): "
        f"{why or 'no termination message'}"
    )


def routed(
    version: ServiceVersion,
    route: MainRoute,
    *,
    holder_namespace: str,
    host: str,
    traffic: Traffic | None = None,
) -> Condition:
    """Whether this version's routes are in place, and what /services/<name> does.

    ``traffic`` is None when the routes are plain Ingress paths (no Traefik routes): an image
    not built on the SDK then gets its requests with the route's prefix, which is said.
    """
    found = _routed(version, route, holder_namespace=holder_namespace, host=host, traffic=traffic)
    if not found.status or version.probe.sdk or traffic is not None:
        return found
    prefix = version_path(version.name, version.version)
    note = (
        "; spec.probe says the image is not built on the SDK, but without Traefik's routes "
        f"(chart value traffic.traefikRoutes) its requests keep the {prefix} prefix"
    )
    return Condition(found.type, found.status, found.reason, _clip(found.message + note))


def _routed(
    version: ServiceVersion,
    route: MainRoute,
    *,
    holder_namespace: str,
    host: str,
    traffic: Traffic | None,
) -> Condition:
    name, ver = version.name, version.version
    own_path, main_path = version_path(name, ver), service_path(name)
    if holder_namespace != version.namespace:
        where = f"host {host!r}" if host else "the ingress (no host)"
        return Condition(
            ROUTED,
            False,
            ROUTE_HELD,
            f"namespace {holder_namespace!r} already serves {main_path} on {where}; give this "
            f"namespace its own host with the namespace annotation {HOST_ANNOTATION} or the "
            "chart value ingress.namespaceHosts",
        )
    if route.target == ver:
        share = "" if traffic is None else _main_share(traffic, main_path)
        return Condition(
            ROUTED, True, MAIN_VERSION_REASON, f"{main_path} and {own_path} route here{share}"
        )
    if route.winner == ver:
        return Condition(
            ROUTED,
            False,
            "MainPendingAvailability",
            f"{own_path} routes here; {main_path} moves here once this version is Available "
            f"and stays with version {route.target} until then",
        )
    if version.main:
        return Condition(
            ROUTED,
            True,
            "MainClaimSuperseded",
            f"{own_path} routes here; spec.main is true but version {route.winner} claimed main "
            f"later, so {main_path} routes to version {route.target}",
        )
    if route.target is None:
        return Condition(
            ROUTED,
            True,
            "NoMainVersion",
            f"{own_path} routes here; no version sets spec.main, so {main_path} routes nowhere",
        )
    if traffic is not None and traffic.share(ver):
        return Condition(
            ROUTED,
            True,
            "Canary",
            f"{own_path} routes here, and {traffic.share(ver)}% of {main_path} (spec.weight "
            f"{version.weight}); version {route.target} is main{_note(traffic)}",
        )
    if traffic is not None and ver in traffic.shadows:
        return Condition(
            ROUTED,
            True,
            "Shadow",
            f"{own_path} routes here, and a copy of every request to {main_path}, whose answer "
            f"is thrown away (set spec.shadow: false to stop); {main_path} routes to "
            f"{route.target}",
        )
    return Condition(
        ROUTED,
        True,
        "VersionRouted",
        f"{own_path} routes here; {main_path} routes to {route.target}{_why_no_share(version)}",
    )


def _main_share(traffic: Traffic, main_path: str) -> str:
    share = traffic.share(traffic.main or "")
    if share == 100 and not traffic.shadows:
        return ""
    parts = [f"this version answers {share}% of {main_path}"]
    if traffic.shadows:
        parts.append(f"shadows {', '.join(traffic.shadows)} get a copy of every request")
    return "; " + "; ".join(parts) + _note(traffic)


def _note(traffic: Traffic) -> str:
    return f"; {traffic.note}" if traffic.note else ""


def _why_no_share(version: ServiceVersion) -> str:
    """A version that asks for traffic and gets none: it is not Available, or routes are plain."""
    if version.weight:
        return f"; spec.weight {version.weight} applies once this version is Available"
    return ""


def duplicate(version: ServiceVersion, holder: ServiceVersion) -> tuple[Condition, Condition]:
    """Available and Routed of a DaeployService that repeats another's name and version."""
    message = (
        f"{KIND} {holder.resource_name!r} already deploys {version.name} "
        f"{version.version}; delete one of the two"
    )
    return (
        Condition(AVAILABLE, False, DUPLICATE_VERSION, message),
        Condition(ROUTED, False, DUPLICATE_VERSION, message),
    )


def rollout(deployment: Mapping[str, Any] | None) -> Condition | None:
    """Why the version's rollout of its current spec is not complete, or None when it is.

    kubectl's ``rollout status`` rule: the Deployment controller has seen the current spec, every
    wanted pod runs it and is available, and no pod of an older spec is left. ``Available``
    stays True during a rollout (enough pods serve); ``Ready`` waits for this.
    """
    if not deployment:
        return None
    meta = deployment.get("metadata") or {}
    state = deployment.get("status") or {}
    if int(state.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return Condition(READY, False, ROLLOUT_REASON, "the new spec is not rolled out yet")
    wanted = (deployment.get("spec") or {}).get("replicas")
    wanted = 1 if wanted is None else int(wanted)
    updated = int(state.get("updatedReplicas") or 0)
    total = int(state.get("replicas") or 0)
    available = int(state.get("availableReplicas") or 0)
    if updated >= wanted and total <= updated and available >= updated:
        return None
    return Condition(
        READY,
        False,
        ROLLOUT_REASON,
        f"{updated}/{wanted} pods run the current spec, {max(total - updated, 0)} older left",
    )


def ready(available: Condition, routed_: Condition, rolling: Condition | None = None) -> Condition:
    """Ready = Available and Routed and rolled out; the reason is the first one missing."""
    if available.status and routed_.status and rolling is None:
        return Condition(READY, True, "Ready", routed_.message)
    cause = available if not available.status else routed_ if not routed_.status else rolling
    assert cause is not None
    return Condition(READY, False, cause.reason, cause.message)


def merge_conditions(
    old: Iterable[Mapping[str, Any]],
    new: Iterable[Condition],
    now: datetime,
    generation: int,
) -> list[dict[str, Any]]:
    """Conditions as stored: a transition time is kept while the status stays the same."""
    previous = {c.get("type"): c for c in old}
    merged = []
    for cond in new:
        status = "True" if cond.status else "False"
        before = previous.get(cond.type)
        if before and before.get("status") == status and before.get("lastTransitionTime"):
            since = before["lastTransitionTime"]
        else:
            since = timestamps.to_seconds(now)
        merged.append(
            {
                "type": cond.type,
                "status": status,
                "observedGeneration": generation,
                "lastTransitionTime": since,
                "reason": cond.reason,
                "message": cond.message,
            }
        )
    return merged


def phase(available: Condition) -> str:
    """The STATUS column, in Daeploy's words."""
    if available.status:
        return "running"
    if available.reason == "ScaledToZero":
        return "stopped"
    if available.reason in PROBLEM_REASONS:
        return "failed"
    return "pending"


def _traffic_fields(version: str, traffic: Traffic | None, is_main: bool) -> dict[str, Any]:
    """What `kubectl get dsvc` shows in its Traffic column, and the same as numbers."""
    share = traffic.share(version) if traffic is not None else 0
    shadow = traffic is not None and version in traffic.shadows
    if is_main:
        text = f"main {share}%"
    elif share:
        text = f"canary {share}%"
    else:
        text = "shadow" if shadow else ""
    return {"traffic": text, "trafficPercent": share, "shadow": shadow}


def build_status(
    version: ServiceVersion,
    *,
    available: Condition,
    routed_: Condition,
    route: MainRoute,
    claimed_at: str | None,
    host: str,
    routes_here: bool,
    available_replicas: int,
    now: datetime,
    rolling: Condition | None = None,
    traffic: Traffic | None = None,
) -> dict[str, Any]:
    """The whole status subresource of one DaeployService.

    ``routes_here`` is False when the version's path is not in this namespace's Ingress.
    """
    conditions = merge_conditions(
        version.status.get("conditions") or [],
        [ready(available, routed_, rolling), available, routed_],
        now,
        version.generation,
    )
    is_main = route.target == version.version and routes_here
    status: dict[str, Any] = {
        "observedGeneration": version.generation,
        "phase": phase(available),
        "main": is_main,
        "mainMark": "*" if is_main else "",
        **_traffic_fields(version.version, traffic if routes_here else None, is_main),
        "availableReplicas": available_replicas,
        "conditions": conditions,
    }
    current = phase(available)
    if current == "running":
        since = conditions[1]["lastTransitionTime"]
        status["runningSince"] = since
        status["running"] = f"Running (since {timestamps.human(since)})"
    elif current == "stopped":
        status["running"] = "Stopped"
    elif current == "failed":
        status["running"] = f"Not running ({available.reason})"
    else:
        status["running"] = "Starting"
    if claimed_at:
        status["mainClaimedAt"] = claimed_at
    if routes_here:
        status["url"] = url_for(host, version_path(version.name, version.version))
        if is_main:
            status["serviceUrl"] = url_for(host, service_path(version.name))
    return status


def with_reconcile_failure(version: ServiceVersion, message: str, now: datetime) -> dict[str, Any]:
    """The status as it was, but not Ready: the operator could not make the cluster match."""
    failed = Condition(
        READY,
        False,
        RECONCILE_FAILED,
        _clip(f"the operator could not reconcile {version.name} and retries: {message}"),
    )
    others = [
        Condition(c["type"], c.get("status") == "True", c.get("reason", ""), c.get("message", ""))
        for c in version.status.get("conditions") or []
        if c.get("type") != READY
    ]
    status = dict(version.status)
    status["conditions"] = merge_conditions(
        version.status.get("conditions") or [], [failed, *others], now, version.generation
    )
    return status


def status_events(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Event]:
    """Events for what changed between two statuses: Available and Routed transitions.

    A version's first status says only what needs attention (problems) or what users wait for
    (it became main); "starting" and "routed by version" on every new object would be noise
    that costs the API server a write per object.
    """
    before = {c.get("type"): c for c in old.get("conditions") or []}
    events = []
    for cond in new.get("conditions") or []:
        if cond["type"] not in (AVAILABLE, ROUTED):
            continue
        prior = before.get(cond["type"])
        if prior and (prior.get("status"), prior.get("reason")) == (cond["status"], cond["reason"]):
            continue
        problem = cond["reason"] in PROBLEM_REASONS
        if prior is None and not problem and cond["reason"] != MAIN_VERSION_REASON:
            continue
        kind = "Warning" if problem else "Normal"
        events.append(Event(kind, cond["reason"], cond["message"]))
    return events


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."
