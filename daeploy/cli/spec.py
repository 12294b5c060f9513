"""What `daeploy deploy` asks for: the DaeployService object, built from checked input."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daeploy.cli.errors import InputError
from daeploy.contract import (
    API_GROUP_VERSION,
    BUILT_IMAGE_ANNOTATION,
    ENV_PREFIX,
    KIND,
    MANAGED_BY_CLI,
    MANAGED_BY_LABEL,
    RESERVED_ENV,
    SERVICE_LABEL,
    SOURCE_DIGEST_ENV,
    VERSION_LABEL,
)
from daeploy.names import (
    InvalidNameError,
    label_value,
    validate_service_name,
    validate_version,
    version_object_name,
)

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# spec.probe.type values (crds/daeployservices.yaml): the SDK's health routes, or for an image
# not built on the SDK a TCP connection or an HTTP GET.
PROBE_SDK, PROBE_TCP, PROBE_HTTP = "sdk", "tcp", "http"
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
STORAGE_CLASS_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


def check_name(name: str) -> str:
    try:
        return validate_service_name(name)
    except InvalidNameError as exc:
        raise InputError(str(exc)) from None


def check_version(version: str) -> str:
    try:
        return validate_version(version)
    except InvalidNameError as exc:
        raise InputError(str(exc)) from None


def parse_env(
    items: tuple[str, ...] | list[str], environ: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """``-e NAME=VALUE`` options as the spec's env list; a repeated name keeps the last value.

    ``-e NAME`` without ``=`` copies NAME's value from ``environ`` (the local environment), as
    Daeploy 1.x did; unlike 1.x, a variable that is not set there is an error, never "".
    """
    local = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not re.fullmatch(ENV_NAME_PATTERN, name):
            raise InputError(
                f"invalid -e {item!r}: the name {name!r} must be letters, digits and "
                "underscores, not starting with a digit (for example LOG_LEVEL)"
            )
        if name in RESERVED_ENV:
            # The others of the prefix are settings a user may give (the monitoring store's
            # limits, call_service's timeouts), as in 1.x.
            raise InputError(
                f"invalid -e {item!r}: {name} is set by Daeploy on every pod; choose another "
                f"name (other {ENV_PREFIX}* settings may be given)"
            )
        if not sep:
            if name not in local:
                raise InputError(
                    f"invalid -e {name}: {name} is not set in your environment to copy; "
                    f"export {name} first, or give the value with -e {name}=VALUE"
                )
            value = local[name]
        values[name] = value
    return [{"name": name, "value": value} for name, value in values.items()]


def labels(name: str, version: str) -> dict[str, str]:
    return {
        MANAGED_BY_LABEL: MANAGED_BY_CLI,
        SERVICE_LABEL: label_value(name),
        VERSION_LABEL: label_value(version),
    }


def source_config_map(name: str, version: str) -> str:
    return f"{version_object_name(name, version)}-source"


@dataclass(frozen=True)
class Request:
    """One deploy, checked: everything needed for the spec."""

    name: str
    version: str
    env: list[dict[str, str]]
    image: str | None = None
    source_digest: str | None = None
    port: int | None = None
    replicas: int | None = None
    public: bool = False
    callers: tuple[str, ...] | None = None
    """Who may call it (spec.callers); None leaves it unset: every service of the namespace."""
    pull_secrets: tuple[str, ...] = ()
    """spec.imagePullSecrets: how the node logs in to the image's registry."""
    built_image: str | None = None
    """The tag the CLI pushed ``image`` as, when it built the image from a folder."""
    probe: dict[str, str] | None = None
    """spec.probe; None leaves it out (the SDK's health routes)."""
    run_as_user: int | None = None
    persistence: dict[str, str] | None = None
    """spec.persistence; None: no claim."""

    @property
    def object_name(self) -> str:
        return version_object_name(self.name, self.version)

    def all_env(self) -> list[dict[str, str]]:
        if self.source_digest is None:
            return list(self.env)
        return [*self.env, {"name": SOURCE_DIGEST_ENV, "value": self.source_digest}]

    def spec(self) -> dict[str, Any]:
        """Everything a deploy asks for but spec.main: a claim is applied on its own (claim.py),
        so a deploy without --main leaves an earlier claim in place and makes none."""
        spec: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.image is not None:
            spec["image"] = self.image
        else:
            spec["source"] = {"configMap": source_config_map(self.name, self.version)}
        if self.port is not None:
            spec["port"] = self.port
        if self.replicas is not None:
            spec["replicas"] = self.replicas
        env = self.all_env()
        if env:
            spec["env"] = env
        if self.public:
            spec["public"] = True
        if self.callers is not None:
            spec["callers"] = list(self.callers)
        if self.pull_secrets:
            spec["imagePullSecrets"] = list(self.pull_secrets)
        if self.probe is not None:
            spec["probe"] = dict(self.probe)
        if self.run_as_user is not None:
            spec["runAsUser"] = self.run_as_user
        if self.persistence is not None:
            spec["persistence"] = dict(self.persistence)
        return spec

    def body(self) -> dict[str, Any]:
        """The object as the CLI applies it: fields left out are the server's defaults or
        another field manager's."""
        return {
            "apiVersion": API_GROUP_VERSION,
            "kind": KIND,
            "metadata": {
                "name": self.object_name,
                "labels": labels(self.name, self.version),
                **(
                    {"annotations": {BUILT_IMAGE_ANNOTATION: self.built_image}}
                    if self.built_image
                    else {}
                ),
            },
            "spec": self.spec(),
        }


def check_pull_secrets(names: tuple[str, ...]) -> tuple[str, ...]:
    """--pull-secret values: Secret names (lowercase DNS subdomains)."""
    for name in names:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name) or len(name) > 253:
            raise InputError(
                f"invalid --pull-secret {name!r}: give the name of a Secret of the namespace "
                "(kubectl create secret docker-registry NAME ...)"
            )
    return tuple(dict.fromkeys(names))


def check_callers(callers: tuple[str, ...]) -> tuple[str, ...] | None:
    """--caller values: ``name`` or ``namespace/name``; none given leaves spec.callers unset."""
    if not callers:
        return None
    for caller in callers:
        namespace, _, name = caller.rpartition("/")
        try:
            validate_service_name(name)
            if "/" in caller and not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace):
                raise InvalidNameError(namespace)
        except InvalidNameError:
            raise InputError(
                f"invalid --caller {caller!r}: give a service name (yatzee) or "
                "namespace/name (games/yatzee)"
            ) from None
    return tuple(dict.fromkeys(callers))


def check_probe(value: str | None) -> dict[str, str] | None:
    """--probe: ``sdk``, ``tcp``, ``http`` (path /) or ``http:/PATH``; None leaves it unset."""
    if value is None:
        return None
    kind, sep, path = value.partition(":")
    if kind in (PROBE_SDK, PROBE_TCP) and not sep:
        return {"type": kind}
    if kind == PROBE_HTTP and (not sep or re.fullmatch(r"/\S{0,1023}", path)):
        return {"type": PROBE_HTTP, "path": path or "/"}
    raise InputError(
        f"invalid --probe {value!r}: use sdk (an image built on the Daeploy SDK), tcp (the "
        "port accepts connections) or http:/PATH (a GET of PATH answers 2xx or 3xx, for "
        "example http:/healthz)"
    )


def check_persistence(
    persist: bool, size: str | None, storage_class: str | None
) -> dict[str, str] | None:
    """--persist, --persist-size and --storage-class as spec.persistence (either of the last
    two alone asks for persistence too); None: no claim."""
    if not (persist or size or storage_class):
        return None
    persistence: dict[str, str] = {}
    if size is not None:
        if not re.fullmatch(QUANTITY_PATTERN, size) or len(size) > 64:
            raise InputError(
                f"invalid --persist-size {size!r}: give a storage quantity such as 1Gi or 500Mi"
            )
        persistence["size"] = size
    if storage_class is not None:
        if not re.fullmatch(STORAGE_CLASS_PATTERN, storage_class) or len(storage_class) > 253:
            raise InputError(
                f"invalid --storage-class {storage_class!r}: give the name of a StorageClass "
                "of the cluster (kubectl get storageclass), or leave it out for the default"
            )
        persistence["storageClassName"] = storage_class
    return persistence
