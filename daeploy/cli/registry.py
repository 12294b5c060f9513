"""Which registry a folder deploy pushes to, and which image it builds on.

In this order: ``--registry``, ``$DAEPLOY_REGISTRY``, then the cluster's own announcement
(the ``local-registry-hosting`` ConfigMap of KEP-1755, which kind and ``hack/cluster`` write).
None found means the folder travels in a ConfigMap, as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import yaml

from daeploy.cli.errors import InputError
from daeploy.contract import (
    BASE_IMAGE_ENV,
    LOCAL_REGISTRY_CONFIG_MAP,
    LOCAL_REGISTRY_KEY,
    REGISTRY_ENV,
    RUNTIME_IMAGE,
)
from daeploy.images.reference import Reference, ReferenceError, parse, parse_registry


@dataclass(frozen=True)
class RegistrySetting:
    host: str
    path: str
    insecure: bool | None
    origin: str
    """Where the setting came from, for messages."""


def from_text(text: str, origin: str) -> RegistrySetting:
    try:
        host, path, insecure = parse_registry(text)
    except ReferenceError as error:
        raise InputError(f"{origin}: {error}") from None
    return RegistrySetting(host, path, insecure, origin)


def from_hosting(data: dict[str, str] | None) -> RegistrySetting | None:
    """The registry a KEP-1755 ``localRegistryHosting.v1`` document names, if any."""
    text = (data or {}).get(LOCAL_REGISTRY_KEY)
    if not text:
        return None
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None
    host = document.get("host") if isinstance(document, dict) else None
    if not host:
        return None
    return from_text(str(host), f"the cluster's {LOCAL_REGISTRY_CONFIG_MAP} ConfigMap")


def find(option: str | None, hosting: dict[str, str] | None) -> RegistrySetting | None:
    if option:
        return from_text(option, "--registry")
    if os.environ.get(REGISTRY_ENV):
        return from_text(os.environ[REGISTRY_ENV], f"${REGISTRY_ENV}")
    return from_hosting(hosting)


def base_reference(option: str | None, setting: RegistrySetting) -> Reference:
    """``--base``, ``$DAEPLOY_BASE_IMAGE``, or the runtime image in the same registry."""
    text = option or os.environ.get(BASE_IMAGE_ENV)
    if not text:
        path = f"{setting.path}/" if setting.path else ""
        text = f"{setting.host}/{path}{RUNTIME_IMAGE.removeprefix('localhost/')}"
    try:
        return parse(text)
    except ReferenceError as error:
        raise InputError(f"--base: {error}") from None
