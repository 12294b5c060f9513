"""One-line errors: a newcomer should read what went wrong and what to do, never a traceback."""

from __future__ import annotations

import json
import re
from typing import Any

import click
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from daeploy.contract import KIND, OPERATOR_NAME

CRD_MISSING = (
    f"the {KIND} CRD is not installed: helm install {OPERATOR_NAME} charts/{OPERATOR_NAME}"
)


class CliError(click.ClickException):
    """A failure click prints as ``Error: <one line>`` with exit code 1."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class InputError(CliError):
    """Bad input on the command line (exit code 2, like click's own usage errors)."""

    exit_code = 2


def status_body(exc: ApiException) -> dict[str, Any]:
    """The Kubernetes ``Status`` object an API error carries, or {} if the body is not one."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def api_message(exc: ApiException) -> str:
    """The server's own explanation, which is usually better than anything we could write."""
    body = status_body(exc)
    if body.get("message"):
        return str(body["message"])
    text = (exc.body or "").strip() if isinstance(exc.body, str) else ""
    return text or f"{exc.status} {exc.reason}"


def missing_namespace(exc: ApiException) -> str | None:
    """The namespace a 404 complains about, if it is a missing namespace."""
    details = status_body(exc).get("details") or {}
    if details.get("kind") == "namespaces":
        return str(details.get("name", ""))
    return None


def _network_reason(exc: BaseException) -> str:
    reason: BaseException | None = exc
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        reason = exc.reason
    text = str(reason)
    if isinstance(reason, urllib3.exceptions.SSLError):
        return f"TLS error ({text})"
    for needle, short in (
        ("Connection refused", "connection refused"),
        ("timed out", "connection timed out"),
        ("Name or service not known", "unknown host name"),
        ("nodename nor servname", "unknown host name"),
        ("No route to host", "no route to host"),
        ("Network is unreachable", "network unreachable"),
        ("Connection reset", "connection reset"),
    ):
        if needle in text:
            return short
    # urllib3 prefixes its messages with an object repr that helps nobody.
    return re.sub(r"^<[^>]*>:\s*", "", text)


def explain(exc: BaseException, where: str | None, namespace: str | None) -> CliError:
    """Turn a Kubernetes client failure into the one line the user needs.

    ``where`` names the cluster (server, context and kubeconfig) when it is known.
    """
    cluster = where or "the cluster"
    if isinstance(exc, ConfigException):
        return CliError(f"cannot use the Kubernetes configuration: {exc}; fix your kubeconfig")
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return CliError(
            f"cannot reach the Kubernetes cluster at {cluster}: {_network_reason(exc)}; "
            "is the cluster running? (check with `kubectl cluster-info`)"
        )
    if isinstance(exc, ApiException):
        message = api_message(exc)
        if exc.status == 0 or exc.status is None:
            return CliError(
                f"cannot talk to the Kubernetes cluster at {cluster}: {message}; "
                "is the cluster running? (check with `kubectl cluster-info`)"
            )
        if exc.status == 401:
            return CliError(
                f"the cluster at {cluster} rejected the credentials (401 Unauthorized): "
                "refresh your kubeconfig"
            )
        if exc.status == 403:
            return CliError(
                f"permission denied (403 Forbidden) in namespace {namespace!r} at {cluster}: "
                f"{message}; ask your cluster admin for access, or choose another namespace "
                "with --namespace or another context with --context"
            )
        if exc.status == 404:
            ns = missing_namespace(exc)
            if ns:
                return CliError(
                    f"namespace {ns!r} does not exist: create it with "
                    f"`kubectl create namespace {ns}` or choose another with --namespace"
                )
            return CliError(f"not found: {message}")
        if exc.status in (409, 422, 400):
            return CliError(f"the cluster rejected the request: {message}")
        return CliError(
            f"the Kubernetes API at {cluster} failed ({exc.status} {exc.reason}): {message}; "
            "try again, and if it keeps failing check the cluster (`kubectl get --raw /readyz`)"
        )
    return CliError(str(exc))
