"""Deterministic Kubernetes names and ingress routes for Daeploy services and versions.

The SDK (to find a callee by DNS), the operator (to name children) and the CLI (to name the
DaeployService objects it creates) must agree on these names, so they live here, in the SDK's
dependency-free core; the fixed strings they are built from are in :mod:`daeploy.contract`.
"""

from __future__ import annotations

import hashlib
import re

from daeploy.contract import ROUTE_PREFIX, SERVICE_ACCOUNT_PREFIX, TOKEN_AUDIENCE

SERVICE_NAME_RULE = (
    "lowercase letters, digits and underscores, not starting or ending with an underscore"
)
SERVICE_NAME_PATTERN = r"^[a-z0-9]([a-z0-9_]*[a-z0-9])?$"
# Semantic Versioning 2.0.0, the official regular expression.
VERSION_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
MAX_SERVICE_NAME_LENGTH = 40

DNS_LABEL_MAX = 63
_HASH_LENGTH = 8


class InvalidNameError(ValueError):
    """A service name or version that Daeploy cannot turn into Kubernetes objects."""


def validate_service_name(name: str) -> str:
    if not isinstance(name, str) or not re.fullmatch(SERVICE_NAME_PATTERN, name):
        raise InvalidNameError(
            f"invalid service name {name!r}: use {SERVICE_NAME_RULE} (for example 'die_roller')"
        )
    if len(name) > MAX_SERVICE_NAME_LENGTH:
        raise InvalidNameError(
            f"invalid service name {name!r}: at most {MAX_SERVICE_NAME_LENGTH} characters"
        )
    return name


def validate_version(version: str) -> str:
    if not isinstance(version, str) or not re.fullmatch(VERSION_PATTERN, version):
        raise InvalidNameError(
            f"invalid version {version!r}: use a semantic version such as 1.0.0 or 1.0.0-rc.1"
        )
    return version


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:_HASH_LENGTH]


def _dns_fragment(text: str) -> str:
    """Lowercase, only [a-z0-9-], no leading/trailing or doubled dashes."""
    text = re.sub(r"[^a-z0-9]+", "-", text.lower())
    return text.strip("-")


def _fit(label: str, *hash_parts: str, always_hash: bool = False) -> str:
    """Shorten a label to 63 characters; a hash of the full input keeps it collision-free."""
    if not always_hash and len(label) <= DNS_LABEL_MAX:
        return label
    suffix = "-" + _digest(*hash_parts)
    head = label[: DNS_LABEL_MAX - len(suffix)].rstrip("-")
    return head + suffix


def service_object_name(name: str) -> str:
    """The Kubernetes Service (and Ingress) name for a service name: its main version's address.

    Underscores become dashes, which is injective because dashes are not allowed in Daeploy
    names. A name starting with a digit gets an ``s-`` prefix because Service names must start
    with a letter (RFC 1035).
    """
    validate_service_name(name)
    label = name.replace("_", "-")
    if label[0].isdigit():
        label = "s-" + label
    return _fit(label, name)


def version_object_name(name: str, version: str) -> str:
    """The name of a version's Deployment and Service; also the CLI's DaeployService name.

    The version is sanitised for DNS, so ``1.0.0-rc.1`` and ``1.0.0-rc-1`` would collide; the
    hash of the exact (name, version) pair keeps every version distinct.
    """
    validate_service_name(name)
    validate_version(version)
    label = f"{service_object_name(name)}-v{_dns_fragment(version)}"
    return _fit(label, name, version, always_hash=True)


def label_value(text: str) -> str:
    """A string usable as a label value (63 chars of [A-Za-z0-9._-], alphanumeric ends)."""
    value = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    if len(value) > DNS_LABEL_MAX:
        value = value[: DNS_LABEL_MAX - _HASH_LENGTH - 1] + "_" + _digest(text)
    return value.strip("._-") or "x"


def service_dns_name(name: str, namespace: str, version: str | None = None) -> str:
    """The in-cluster DNS name of the main version (no version) or of one version."""
    obj = service_object_name(name) if version is None else version_object_name(name, version)
    return f"{obj}.{namespace}.svc.cluster.local"


def service_path(name: str) -> str:
    """The ingress route of a name's main version."""
    return f"{ROUTE_PREFIX}/{name}"


def version_path(name: str, version: str) -> str:
    """The ingress route of one version."""
    return f"{ROUTE_PREFIX}/{name}_{version}"


def service_account_name(name: str) -> str:
    """The ServiceAccount a name's pods run as: who the service is when it calls another."""
    return _fit(SERVICE_ACCOUNT_PREFIX + service_object_name(name), name)


def service_audience(namespace: str, name: str) -> str:
    """The token audience only this service accepts (``daeploy token --service``)."""
    return f"{TOKEN_AUDIENCE}/{namespace}/{name}"


def parse_route_segment(segment: str) -> tuple[str, str | None]:
    """``die_roller`` -> (die_roller, None); ``die_roller_1.0.0`` -> (die_roller, 1.0.0).

    Unambiguous: names have no dots and every version has two, and versions have no
    underscores, so a segment with a dot is a version route split at its last underscore.
    Raises InvalidNameError for anything no route of ours can be.
    """
    if "." in segment:
        name, sep, version = segment.rpartition("_")
        if not sep:
            raise InvalidNameError(f"{segment!r} is no service route")
        return validate_service_name(name), validate_version(version)
    return validate_service_name(segment), None
