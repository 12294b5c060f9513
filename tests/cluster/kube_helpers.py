"""Helpers the cluster tests share: polling, kubectl JSON, DaeployService manifests, steady load,
and the table of manifests the API server must refuse.

Requests go only to the cluster's ingress address; every loop is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from daeploy.contract import (
    API_GROUP_VERSION,
    HOST_ANNOTATION,
    KIND,
    MANAGED_BY_LABEL,
    MANAGED_BY_OPERATOR,
    PORT_ENV,
    VERSION_LABEL,
)
from daeploy.names import service_object_name, version_object_name

MANAGED = f"{MANAGED_BY_LABEL}={MANAGED_BY_OPERATOR}"
DAEPLOY = Path(sys.executable).parent / "daeploy"
"""The installed CLI, run as a user runs it."""
DEPLOY_TIMEOUT = 600

RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""A container security context PodSecurity ``restricted`` admits, for the tests' own pods."""

SIX_SERVICE = """\
import logging

from daeploy import service

logger = logging.getLogger(__name__)


@service.entrypoint
def roll_die() -> int:
    logger.warning("rolling a six")
    return 6


if __name__ == "__main__":
    service.run()
"""
"""A die roller that always rolls six and logs each roll: a second version to tell apart."""


@dataclass(frozen=True)
class ServiceNamespace:
    """A namespace of the tests' own with its own ingress host (``daeploy.io/host``), so that
    its routes never meet another test's."""

    cluster: Any
    name: str
    host: str

    @property
    def headers(self) -> dict[str, str]:
        """What a request through the ingress needs: the host and the tests' caller token."""
        return {"Host": self.host, **self.cluster.auth_headers}

    def daeploy(
        self, *args: str, timeout: float = DEPLOY_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """The CLI in this namespace; fails the test with its output unless it succeeds."""
        run = subprocess.run(
            [str(DAEPLOY), "--namespace", self.name, *args],
            env=self.cluster.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert run.returncode == 0, f"daeploy {' '.join(args)}\n{run.stdout}\n{run.stderr}"
        return run


@contextlib.contextmanager
def service_namespace(cluster: Any, prefix: str) -> Iterator[ServiceNamespace]:
    """A fresh ``<prefix>-xxxxxx`` namespace, deleted (without waiting) afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    host = f"{name}.daeploy.test"
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("annotate", "namespace", name, f"{HOST_ANNOTATION}={host}")
    try:
        yield ServiceNamespace(cluster, name, host)
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def wait_until(check: Callable[[], Any], what: str, timeout: float = 120, every: float = 1) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (AssertionError, httpx.HTTPError, ValueError) as error:
            last = error
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def post(cluster: Any, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    """POST through the ingress as the tests' caller (see conftest.daeploy_operator)."""
    headers = {**cluster.auth_headers, **kwargs.pop("headers", {})}
    return httpx.post(
        f"{cluster.ingress_url}{path}", json=body or {}, timeout=15, headers=headers, **kwargs
    )


def get_json(cluster: Any, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def dsvc(cluster: Any, namespace: str, name: str) -> dict[str, Any]:
    return get_json(cluster, "get", "daeployservice", name, "-n", namespace)


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return cond
    return {}


def manifest(
    name: str, version: str, *, resource: str | None = None, **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "version": version}
    body.update(spec)
    return {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "metadata": {"name": resource or version_object_name(name, version)},
        "spec": body,
    }


def apply(cluster: Any, namespace: str, obj: dict[str, Any], check: bool = True) -> Any:
    # JSON is YAML, and keeps strings such as "yes" strings.
    return cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj), check=check)


def wait_ready(cluster: Any, namespace: str, *names: str, timeout: int = 300) -> None:
    cluster.kubectl(
        "wait",
        "--for=condition=Ready",
        *[f"daeployservice/{n}" for n in names],
        "-n",
        namespace,
        f"--timeout={timeout}s",
        timeout=timeout + 20,
    )


def selected_version(cluster: Any, namespace: str, name: str) -> str:
    service = get_json(cluster, "get", "service", service_object_name(name), "-n", namespace)
    return service["spec"]["selector"].get(VERSION_LABEL, "")


class SteadyLoad:
    """Sequential requests at most every ``interval`` seconds, in a thread, bounded."""

    def __init__(self, url: str, interval: float = 0.025, max_requests: int = 24000,
                 max_seconds: float = 600, headers: dict[str, str] | None = None,
                 ) -> None:  # fmt: skip
        self.url = url
        self.headers = headers or {}
        self.interval = interval
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.answers: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SteadyLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=10, headers=self.headers) as client:
            sent = 0
            while not self._stop.is_set() and sent < self.max_requests:
                if time.monotonic() > deadline:
                    self.failures.append("load ran past its time bound")
                    return
                started = time.monotonic()
                sent += 1
                try:
                    response = client.post(self.url, json={})
                    if response.status_code == 200:
                        self.answers.append(int(response.json()))
                    else:
                        self.failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
                except (httpx.HTTPError, ValueError) as error:
                    self.failures.append(repr(error))
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


# --- manifests the API server must refuse ---------------------------------------------------

GOOD_SPEC = {"image": "localhost/die-roller:1.0.0", "replicas": 0}


def bad_manifest(resource: str, name: str, version: str, **changes: Any) -> dict[str, Any]:
    """GOOD_SPEC with ``changes``; a change to None drops the field."""
    spec = {k: v for k, v in {**GOOD_SPEC, **changes}.items() if v is not None}
    return manifest(name, version, resource=resource, **spec)


def _without(obj: dict[str, Any], field: str) -> dict[str, Any]:
    """A manifest without one of the spec fields ``manifest`` always sets (name, version)."""
    del obj["spec"][field]
    return obj


# (what, manifest, text the API server's refusal must contain). The last two change the
# DaeployService "base" (checked 1.0.0), which a test creates first.
BAD_MANIFESTS = [
    ("bad name", bad_manifest("bad-1", "Bad_Name", "1.0.0"), "spec.name"),
    ("name ends with _", bad_manifest("bad-2", "bad_", "1.0.0"), "spec.name"),
    ("name too long", bad_manifest("bad-3", "a" * 41, "1.0.0"), "spec.name"),
    ("bad version", bad_manifest("bad-4", "checked", "1.0"), "spec.version"),
    ("v-prefixed version", bad_manifest("bad-5", "checked", "v1.0.0"), "spec.version"),
    ("missing image", bad_manifest("bad-6", "checked", "1.0.1", image=None), "spec.image"),
    (
        "image and source",
        bad_manifest("bad-7", "checked", "1.0.2", source={"configMap": "src"}),
        "spec.image",
    ),
    ("negative replicas", bad_manifest("bad-8", "checked", "1.0.3", replicas=-1), "spec.replicas"),
    ("port 0", bad_manifest("bad-9", "checked", "1.0.4", port=0), "spec.port"),
    ("port out of range", bad_manifest("bad-10", "checked", "1.0.5", port=70000), "spec.port"),
    ("main not bool", bad_manifest("bad-11", "checked", "1.0.6", main="yes"), "spec.main"),
    (
        "reserved env",
        bad_manifest("bad-12", "checked", "1.0.7", env=[{"name": PORT_ENV, "value": "1"}]),
        "spec.env",
    ),
    ("missing name", _without(bad_manifest("bad-13", "checked", "1.0.9"), "name"), "spec.name"),
    (
        "missing version",
        _without(bad_manifest("bad-14", "checked", "1.0.10"), "version"),
        "spec.version",
    ),
    ("port not a number", bad_manifest("bad-15", "checked", "1.0.11", port="80"), "spec.port"),
    (
        "too many replicas",
        bad_manifest("bad-16", "checked", "1.0.12", replicas=1001),
        "spec.replicas",
    ),
    ("image with a space", bad_manifest("bad-17", "checked", "1.0.13", image="a b"), "spec.image"),
    (
        "source without configMap",
        bad_manifest("bad-18", "checked", "1.0.14", image=None, source={}),
        "spec.source.configMap",
    ),
    (
        "bad configMap name",
        bad_manifest("bad-19", "checked", "1.0.15", image=None, source={"configMap": "Src_1"}),
        "spec.source.configMap",
    ),
    (
        "bad env name",
        bad_manifest("bad-20", "checked", "1.0.16", env=[{"name": "1X", "value": "1"}]),
        "spec.env[0].name",
    ),
    (
        "env name twice",
        bad_manifest(
            "bad-21",
            "checked",
            "1.0.17",
            env=[{"name": "X", "value": "1"}, {"name": "X", "value": "2"}],
        ),
        "spec.env[1]",
    ),
    (
        "bad cpu quantity",
        bad_manifest("bad-22", "checked", "1.0.18", resources={"limits": {"cpu": "lots"}}),
        "spec.resources.limits.cpu",
    ),
    (
        "misspelt field",
        bad_manifest("bad-23", "checked", "1.0.19", replica=2),
        "spec.replica",
    ),
    ("changed version", bad_manifest("base", "checked", "1.0.8"), "spec.version is immutable"),
    ("changed name", bad_manifest("base", "other", "1.0.0"), "spec.name is immutable"),
]
