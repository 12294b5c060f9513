"""Waiting for a version to become Ready, showing on stderr what happens meanwhile.

Ready means: the operator's ``Ready`` condition is True for the current generation, and the
version's Deployment (named ``version_object_name``) runs pods from *this* deploy. The second
check matters on a re-deploy, where ``Ready`` is still True from the previous rollout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import click
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from daeploy.cli.errors import CRD_MISSING, CliError
from daeploy.cli.kube import Kube
from daeploy.cli.resource import Obj, condition, is_ready, problem, status
from daeploy.contract import SERVICE_LABEL, VERSION_LABEL
from daeploy.names import label_value

POLL_SECONDS = 1.0
# Waiting reasons that will not resolve by waiting.
FATAL_REASONS = frozenset(
    {"CrashLoopBackOff", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
OPERATOR_SILENT_SECONDS = 20.0


@dataclass(frozen=True)
class Expectation:
    """What the pods of this deploy look like, to tell them from the previous rollout's."""

    name: str
    version: str
    generation: int
    env: tuple[tuple[str, str], ...] = ()
    image: str | None = None

    def matches(self, containers: list[dict[str, Any]]) -> bool:
        for container in containers:
            env = {e.get("name"): e.get("value") for e in container.get("env") or []}
            if self.image is not None and container.get("image") != self.image:
                continue
            if all(env.get(key) == value for key, value in self.env):
                return True
        return False


@dataclass(frozen=True)
class Assessment:
    done: bool
    summary: str
    failure: str | None = None
    crashed_pod: str | None = None


def _observed(obj: Obj) -> int | None:
    observed = status(obj).get("observedGeneration")
    if observed is None:
        observed = (condition(obj, "Ready") or {}).get("observedGeneration")
    return int(observed) if observed is not None else None


def rollout_complete(deployment: dict[str, Any]) -> bool:
    """kubectl's `rollout status` rule: all replicas updated and available, none old left."""
    meta = deployment.get("metadata") or {}
    state = deployment.get("status") or {}
    if int(state.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return False
    wanted = (deployment.get("spec") or {}).get("replicas")
    wanted = 1 if wanted is None else int(wanted)
    updated = int(state.get("updatedReplicas") or 0)
    return (
        updated >= wanted
        and int(state.get("replicas") or 0) <= updated
        and int(state.get("availableReplicas") or 0) >= updated
    )


def _pod_states(
    pods: list[dict[str, Any]], expected: Expectation
) -> tuple[list[str], tuple[str, str] | None]:
    """Short per-pod notes, and (pod, why) for a pod of this deploy stuck in a fatal state."""
    notes: list[str] = []
    stuck: tuple[str, str] | None = None
    for pod in pods:
        if not expected.matches((pod.get("spec") or {}).get("containers") or []):
            continue  # a pod of the previous rollout
        name = (pod.get("metadata") or {}).get("name", "?")
        pod_status = pod.get("status") or {}
        for container in pod_status.get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if not reason:
                continue
            notes.append(f"pod {name}: {reason}")
            if reason in FATAL_REASONS and stuck is None:
                message = waiting.get("message")
                stuck = (name, f"pod {name}: {reason}" + (f" ({message})" if message else ""))
        if not pod_status.get("containerStatuses") and pod_status.get("phase"):
            notes.append(f"pod {name}: {pod_status['phase']}")
    return notes, stuck


def assess(
    obj: Obj, deployment: dict[str, Any] | None, pods: list[dict[str, Any]], expected: Expectation
) -> Assessment:
    """Where a deploy stands, from the objects alone (no clock, no API)."""
    notes, stuck = _pod_states(pods, expected)
    ready = condition(obj, "Ready")
    parts = [f"Ready={ready.get('status')}" if ready else "waiting for the operator"]
    why = problem(obj)
    if why:
        parts.append(why)
    parts += notes
    summary = "; ".join(parts)
    observed = _observed(obj)
    current = observed is None or observed >= expected.generation
    # A status from before this deploy may still say "failed": only the current one counts.
    if current and str(status(obj).get("phase") or "").lower() == "failed":
        failure = why or "the operator reports phase failed"
        return Assessment(False, summary, failure=failure, crashed_pod=stuck and stuck[0])
    if stuck is not None:
        return Assessment(False, summary, failure=stuck[1], crashed_pod=stuck[0])
    if deployment is not None:
        template = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
        current = (
            current
            and expected.matches(template.get("containers") or [])
            and rollout_complete(deployment)
        )
    return Assessment(is_ready(obj) and current, summary)


def _echo(text: str) -> None:
    click.echo(text, err=True)


def _show_crash_log(kube: Kube, pod_name: str, pods: list[dict[str, Any]]) -> None:
    pod = next((p for p in pods if (p.get("metadata") or {}).get("name") == pod_name), None)
    containers = ((pod or {}).get("spec") or {}).get("containers") or []
    if not containers:
        return
    for previous in (True, False):
        try:
            text = kube.pod_log(pod_name, containers[0]["name"], tail=20, previous=previous)
        except (ApiException, urllib3.exceptions.HTTPError):
            continue  # the log is a courtesy; the real error follows
        if text.strip():
            _echo(f"--- last lines of {pod_name} ---")
            _echo(text.rstrip("\n"))
            _echo("---")
            return


def wait_until_ready(
    kube: Kube,
    object_name: str,
    expected: Expectation,
    timeout: float,
) -> Obj:
    """Poll until Ready; print each change of state; raise with the reason if it never is."""
    start = time.monotonic()
    selector = (
        f"{SERVICE_LABEL}={label_value(expected.name)},"
        f"{VERSION_LABEL}={label_value(expected.version)}"
    )
    label = f"{expected.name} {expected.version}"
    _echo(f"Waiting for {label} to become ready (timeout {timeout:.0f} s)...")
    last_summary = ""
    warned_silent = False
    while True:
        obj = kube.get_service(object_name)
        if obj is None:
            raise CliError(f"{label} was deleted while waiting for it to become ready")
        deployment = kube.get_deployment(object_name)
        pods = kube.list_pods(selector)
        state = assess(obj, deployment, pods, expected)
        elapsed = time.monotonic() - start
        if state.summary != last_summary:
            _echo(f"  [{elapsed:4.0f}s] {state.summary}")
            last_summary = state.summary
        if state.done:
            return obj
        if state.failure is not None:
            if state.crashed_pod:
                _show_crash_log(kube, state.crashed_pod, pods)
            raise CliError(
                f"{label} failed to start: {state.failure}; "
                f"see `daeploy logs {expected.name} {expected.version}`"
            )
        if not status(obj) and elapsed > OPERATOR_SILENT_SECONDS and not warned_silent:
            _echo("  the operator has not reported on this version yet; is it running?")
            warned_silent = True
        if elapsed >= timeout:
            raise CliError(f"{label} is not ready after {timeout:.0f} s: {_why(obj, state)}")
        time.sleep(POLL_SECONDS)


def _why(obj: Obj, state: Assessment) -> str:
    if not status(obj):
        return (
            "the daeploy operator never reported on it; is it running? "
            f"(it comes with the CRD: {CRD_MISSING.split(': ', 1)[1]})"
        )
    return problem(obj) or state.summary
