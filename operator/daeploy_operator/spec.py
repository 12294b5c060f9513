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
        )

    def reference(self) -> dict[str, Any]:
        """Enough of the object to attach Events to it."""
        return {
            "apiVersion": API_GROUP_VERSION,
            "kind": KIND,
            "metadata": {"name": self.resource_name, "namespace": self.namespace, "uid": self.uid},
        }
