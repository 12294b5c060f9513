"""Waiting for a version to become Ready, showing on stderr what happens meanwhile.

The operator alone decides readiness: its ``Ready`` condition is True only once the version's
rollout of its current spec is complete and routed. The CLI waits for that condition at the
generation it wrote (``observedGeneration``), and stops at once on a reason that waiting cannot
fix. Pod states are shown while waiting, as news, never as a decision.
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
from daeploy.contract import PERMANENT_REASONS, SERVICE_LABEL, VERSION_LABEL
from daeploy.names import label_value

POLL_SECONDS = 1.0
OPERATOR_SILENT_SECONDS = 20.0


@dataclass(frozen=True)
class Expectation:
    """The version a deploy waits for, and the generation of the spec it wrote."""

    name: str
    version: str
    generation: int


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


def _permanent_reason(obj: Obj) -> str | None:
    for kind in ("Ready", "Available", "Routed"):
        entry = condition(obj, kind) or {}
        if entry.get("status") == "False" and entry.get("reason") in PERMANENT_REASONS:
            return str(entry["reason"])
    return None


def _pod_notes(pods: list[dict[str, Any]]) -> tuple[list[str], str | None]:
    """Short per-pod notes, and the name of a pod whose container keeps crashing."""
    notes: list[str] = []
    crashing: str | None = None
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "?")
        pod_status = pod.get("status") or {}
        for container in pod_status.get("containerStatuses") or []:
            reason = ((container.get("state") or {}).get("waiting") or {}).get("reason")
            if reason:
                notes.append(f"pod {name}: {reason}")
                if reason in PERMANENT_REASONS and crashing is None:
                    crashing = name
        if not pod_status.get("containerStatuses") and pod_status.get("phase"):
            notes.append(f"pod {name}: {pod_status['phase']}")
    return notes, crashing


def assess(obj: Obj, pods: list[dict[str, Any]], expected: Expectation) -> Assessment:
    """Where a deploy stands, from the operator's status alone (no clock, no API)."""
    notes, crashing = _pod_notes(pods)
    ready = condition(obj, "Ready")
    parts = [f"Ready={ready.get('status')}" if ready else "waiting for the operator"]
    why = problem(obj)
    if why:
        parts.append(why)
    summary = "; ".join(parts + notes)
    observed = _observed(obj)
    if observed is None or observed < expected.generation:
        return Assessment(False, summary)  # a status from before this deploy says nothing
    if is_ready(obj):
        return Assessment(True, summary)
    if _permanent_reason(obj):
        return Assessment(False, summary, failure=why, crashed_pod=crashing)
    return Assessment(False, summary)


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
        pods = kube.list_pods(selector)
        state = assess(obj, pods, expected)
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
