"""A DaeployService object read into a typed value the builders and deciders take.

Reading once, with the CRD's defaults filled in, keeps every builder free of dict digging and of
"what if the field is missing" branches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from daeploy.contract import API_GROUP_VERSION, KIND
from daeploy.names import validate_service_name, validate_version

DEFAULT_PORT = 8000
DEFAULT_REPLICAS = 1
# spec.probe.type: how the kubelet tells the app is up. "sdk" (the default) asks the SDK's own
# health routes; "tcp" and "http" are for images not built on the SDK.
PROBE_SDK = "sdk"
PROBE_TCP = "tcp"
PROBE_HTTP = "http"
PROBE_TYPES = (PROBE_SDK, PROBE_TCP, PROBE_HTTP)
DEFAULT_HTTP_PROBE_PATH = "/"
DEFAULT_PERSISTENCE_SIZE = "1Gi"


@dataclass(frozen=True)
class Probe:
    """spec.probe: what the kubelet asks to decide the app started, is ready and lives."""

    type: str = PROBE_SDK
    path: str = DEFAULT_HTTP_PROBE_PATH
    """Only for type http."""

    @property
    def sdk(self) -> bool:
        """Built on the SDK: its health routes, its user id, its own prefix handling."""
        return self.type == PROBE_SDK

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any] | None, source: bool) -> Probe:
        """A folder deploy runs on the runtime image, so on the SDK, whatever the spec says."""
        raw = raw or {}
        kind = str(raw.get("type") or PROBE_SDK)
        if source or kind not in PROBE_TYPES:
            return cls()
        return cls(kind, str(raw.get("path") or DEFAULT_HTTP_PROBE_PATH))


@dataclass(frozen=True)
class Persistence:
    """spec.persistence: a PersistentVolumeClaim of the version's own, for the monitoring store."""

    size: str = DEFAULT_PERSISTENCE_SIZE
    storage_class: str | None = None
    """None: the cluster's default StorageClass."""


@dataclass(frozen=True)
class ServiceVersion:
    """One DaeployService: a version of a service, as declared and as last observed."""

    resource_name: str
    namespace: str
    uid: str
    name: str
    version: str
    generation: int = 1
    created_at: str = ""
    main: bool = False
    image: str | None = None
    source_config_map: str | None = None
    port: int = DEFAULT_PORT
    replicas: int = DEFAULT_REPLICAS
    env: tuple[tuple[str, str], ...] = ()
    resources: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    status: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    deleting: bool = False
    public: bool = False
    """Entrypoints and docs open without a token; parameter writes never are."""
    weight: int = 0
    """Percent of the name's main route while Available and not main (a canary); 0: no share."""
    shadow: bool = True
    """Gets a copy of every request while Available, not main and without a weight."""
    image_pull_secrets: tuple[str, ...] = ()
    """Secrets the node pulls ``image`` with (a registry that wants a login)."""
    callers: tuple[str, ...] | None = None
    """Services (``name`` here, ``namespace/name`` elsewhere) allowed to call this one; None
    (unset): every service of the namespace, as in Daeploy 1.x."""
    probe: Probe = field(default_factory=Probe)
    run_as_user: int | None = None
    """spec.runAsUser; None: the SDK's user for SDK images, the image's own USER otherwise."""
    persistence: Persistence | None = None

    @property
    def image_user(self) -> bool:
        """The pods run as the image's own USER: an image not built on the SDK, no runAsUser."""
        return self.run_as_user is None and not self.probe.sdk

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> ServiceVersion:
        """Raises daeploy.names.InvalidNameError for names the CRD should have refused."""
        metadata = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        source = spec.get("source") or {}
        return cls(
            resource_name=metadata["name"],
            namespace=metadata.get("namespace", ""),
            uid=metadata.get("uid", ""),
            name=validate_service_name(spec.get("name")),
            version=validate_version(spec.get("version")),
            generation=int(metadata.get("generation") or 1),
            created_at=metadata.get("creationTimestamp") or "",
            main=spec.get("main") is True,
            image=spec.get("image") or None,
            source_config_map=source.get("configMap") or None,
            port=int(spec.get("port", DEFAULT_PORT)),
            replicas=int(spec.get("replicas", DEFAULT_REPLICAS)),
            env=tuple((e["name"], str(e.get("value", ""))) for e in spec.get("env") or ()),
            resources=MappingProxyType(dict(spec.get("resources") or {})),
            status=MappingProxyType(dict(obj.get("status") or {})),
            deleting=bool(metadata.get("deletionTimestamp")),
            public=spec.get("public") is True,
            weight=int(spec.get("weight") or 0),
            shadow=spec.get("shadow") is not False,
            callers=None if spec.get("callers") is None else tuple(str(c) for c in spec["callers"]),
            image_pull_secrets=tuple(str(s) for s in spec.get("imagePullSecrets") or ()),
            probe=Probe.from_spec(spec.get("probe"), source=bool(source.get("configMap"))),
            run_as_user=int(spec["runAsUser"]) if spec.get("runAsUser") else None,
            persistence=_persistence(spec.get("persistence")),
        )

    def reference(self) -> dict[str, Any]:
        """Enough of the object to attach Events to it."""
        return {
            "apiVersion": API_GROUP_VERSION,
            "kind": KIND,
            "metadata": {"name": self.resource_name, "namespace": self.namespace, "uid": self.uid},
        }


def _persistence(raw: Mapping[str, Any] | None) -> Persistence | None:
    """None when the spec asks for none; an empty object asks for the defaults."""
    if raw is None:
        return None
    return Persistence(
        size=str(raw.get("size") or DEFAULT_PERSISTENCE_SIZE),
        storage_class=str(raw["storageClassName"]) if raw.get("storageClassName") else None,
    )
