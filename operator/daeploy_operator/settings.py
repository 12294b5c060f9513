"""Operator settings, read once from environment variables the Helm chart sets.

Env-driven so the same image serves any cluster: the chart turns its values into these variables.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from daeploy.contract import (
    ACCESS_GATE_URL_ENV,
    ACCESS_INGRESS_ANNOTATIONS_ENV,
    ACCESS_INGRESS_GATE_URL_ENV,
    ACCESS_TRAEFIK_MIDDLEWARE_ENV,
    ACCESS_TRAEFIK_PLUGIN_ENV,
    GATE_CACHE_SECONDS_ENV,
    GATE_INGRESS_PATH,
    GATE_NAME,
    HOST_ANNOTATION,
    INGRESS_CLASS_ENV,
    INGRESS_HOST_ENV,
    LIVENESS_ENDPOINT_ENV,
    MIRROR_MAX_BODY_ENV,
    NAMESPACE_DOMAIN_ENV,
    NAMESPACE_HOSTS_ENV,
    RESYNC_SECONDS_ENV,
    RUNTIME_IMAGE,
    RUNTIME_IMAGE_ENV,
    TRAFFIC_ROUTES_ENV,
    WATCH_CLIENT_TIMEOUT_ENV,
    WATCH_NAMESPACES_ENV,
    WATCH_SERVER_TIMEOUT_ENV,
)

from .resources.traffic import ANY_BODY_SIZE

DEFAULT_RUNTIME_IMAGE = RUNTIME_IMAGE
DEFAULT_INGRESS_CLASS = "traefik"
TRAFFIC_ROUTES_TRAEFIK = "traefik"
DEFAULT_LIVENESS_ENDPOINT = "http://0.0.0.0:8080/healthz"

_HOST_PATTERN = re.compile(
    r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_NAMESPACE_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class SettingsError(ValueError):
    """An environment variable the operator cannot use; the message names it and the fix."""


@dataclass(frozen=True)
class OperatorSettings:
    """Everything the operator takes from its environment."""

    ingress_class: str = DEFAULT_INGRESS_CLASS
    host: str = ""
    namespace_hosts: Mapping[str, str] = field(default_factory=dict)
    namespace_domain: str = ""
    """Every namespace without a host of its own is also served at <namespace>.<domain>, so the
    same service name in two namespaces never waits for someone to hand out hosts."""
    watch_namespaces: tuple[str, ...] = ()
    runtime_image: str = DEFAULT_RUNTIME_IMAGE
    resync_seconds: float = 30.0
    # Sent to the API server as timeoutSeconds, which must be a whole number.
    watch_server_timeout: int = 120
    watch_client_timeout: float = 150.0
    liveness_endpoint: str = DEFAULT_LIVENESS_ENDPOINT
    gate_url: str = ""
    """The access gate's base URL; empty turns access control off (every service open)."""
    ingress_gate_url: str = ""
    """Where the ingress controller reaches the gate (``{gate}``): a node-local address when
    the gate runs next to a host-network ingress; empty: ``gate_url``."""
    ingress_annotations: Mapping[str, str] = field(default_factory=dict)
    """Put on each Ingress of a service that is not public, ``{namespace}`` and ``{gate}``
    filled in: how the ingress controller is told to ask the gate."""
    traefik_middleware: bool = False
    """Also keep a Traefik Middleware in each namespace for those annotations."""
    traefik_plugin: str = ""
    """The Middleware uses this Traefik plugin (operator/traefik-access) instead of forwardAuth."""
    cache_seconds: float = 5.0
    """How long the gate, and the plugin, reuse an answer."""
    traffic_routes: str = ""
    """"traefik": the main route of each name is an IngressRoute with weights and shadows;
    "": an Ingress path to the main version alone, for any ingress controller."""
    mirror_max_body_bytes: int = ANY_BODY_SIZE
    """Larger request bodies are not copied to shadows. A limit is not free: Traefik allocates
    that many bytes for every shadowed request with a body (bench/README.md, traffic)."""

    @property
    def traefik_routes(self) -> bool:
        return self.traffic_routes == TRAFFIC_ROUTES_TRAEFIK

    @property
    def access(self) -> bool:
        return bool(self.gate_url)

    @property
    def gate_for_ingress(self) -> str:
        return self.ingress_gate_url or self.gate_url

    def ingress_annotations_for(self, namespace: str) -> dict[str, str]:
        return {
            k: v.replace("{namespace}", namespace).replace("{gate}", self.gate_for_ingress)
            for k, v in self.ingress_annotations.items()
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorSettings:
        env = os.environ if env is None else env
        host = env.get(INGRESS_HOST_ENV, "").strip()
        if host:
            _check_host(INGRESS_HOST_ENV, host)
        namespace_hosts = _parse_namespace_hosts(env.get(NAMESPACE_HOSTS_ENV, ""))
        namespace_domain = env.get(NAMESPACE_DOMAIN_ENV, "").strip()
        if namespace_domain:
            _check_host(NAMESPACE_DOMAIN_ENV, namespace_domain)
        watch = tuple(
            ns.strip() for ns in env.get(WATCH_NAMESPACES_ENV, "").split(",") if ns.strip()
        )
        for ns in watch:
            if not _NAMESPACE_PATTERN.fullmatch(ns):
                raise SettingsError(
                    f"{WATCH_NAMESPACES_ENV}: {ns!r} is not a namespace name; use a comma "
                    "separated list such as 'team-a,team-b', or leave it empty to watch all"
                )
        ingress_class = env.get(INGRESS_CLASS_ENV, DEFAULT_INGRESS_CLASS).strip()
        if not _NAMESPACE_PATTERN.fullmatch(ingress_class):
            raise SettingsError(
                f"{INGRESS_CLASS_ENV}: {ingress_class!r} is not an IngressClass name "
                "(for example 'traefik')"
            )
        runtime_image = env.get(RUNTIME_IMAGE_ENV, DEFAULT_RUNTIME_IMAGE).strip()
        if not runtime_image or any(c.isspace() for c in runtime_image):
            raise SettingsError(
                f"{RUNTIME_IMAGE_ENV}: {runtime_image!r} is not an image reference "
                f"(for example {DEFAULT_RUNTIME_IMAGE!r})"
            )
        server_timeout = _positive_int(env, WATCH_SERVER_TIMEOUT_ENV, 120)
        client_timeout = _positive(env, WATCH_CLIENT_TIMEOUT_ENV, server_timeout + 30.0)
        if client_timeout <= server_timeout:
            raise SettingsError(
                f"{WATCH_CLIENT_TIMEOUT_ENV} must be larger than {WATCH_SERVER_TIMEOUT_ENV}, "
                "so that the server closes a healthy watch before the client gives up on it"
            )
        gate_url = _base_url(env, ACCESS_GATE_URL_ENV, "or leave it empty to turn access off")
        ingress_gate_url = _base_url(env, ACCESS_INGRESS_GATE_URL_ENV, "or leave it empty")
        traffic_routes = env.get(TRAFFIC_ROUTES_ENV, "").strip()
        if traffic_routes not in ("", TRAFFIC_ROUTES_TRAEFIK):
            raise SettingsError(
                f"{TRAFFIC_ROUTES_ENV}: {traffic_routes!r} is not a traffic route kind; use "
                f"{TRAFFIC_ROUTES_TRAEFIK!r} (Traefik's IngressRoute, with weights and shadows) "
                "or leave it empty (a plain Ingress path to the main version)"
            )
        traefik_middleware = _flag(env, ACCESS_TRAEFIK_MIDDLEWARE_ENV)
        if traffic_routes and gate_url and not traefik_middleware:
            raise SettingsError(
                f"{TRAFFIC_ROUTES_ENV}={traffic_routes} with access control on needs "
                f"{ACCESS_TRAEFIK_MIDDLEWARE_ENV}=true: an IngressRoute asks the gate through "
                "the namespace's Middleware, not through Ingress annotations"
            )
        return cls(
            ingress_class=ingress_class,
            host=host,
            namespace_hosts=namespace_hosts,
            namespace_domain=namespace_domain,
            watch_namespaces=watch,
            runtime_image=runtime_image,
            resync_seconds=_positive(env, RESYNC_SECONDS_ENV, 30.0),
            watch_server_timeout=server_timeout,
            watch_client_timeout=client_timeout,
            liveness_endpoint=env.get(LIVENESS_ENDPOINT_ENV, DEFAULT_LIVENESS_ENDPOINT),
            gate_url=gate_url,
            ingress_gate_url=ingress_gate_url,
            ingress_annotations=_parse_annotations(env.get(ACCESS_INGRESS_ANNOTATIONS_ENV, "")),
            traefik_middleware=traefik_middleware,
            traefik_plugin=_plugin_name(env.get(ACCESS_TRAEFIK_PLUGIN_ENV, "")),
            cache_seconds=_positive(env, GATE_CACHE_SECONDS_ENV, 5.0, zero=True),
            traffic_routes=traffic_routes,
            mirror_max_body_bytes=_body_limit(env, MIRROR_MAX_BODY_ENV),
        )

    def host_for(self, namespace: str, namespace_annotations: Mapping[str, str]) -> str:
        """The Ingress host of a namespace: its annotation, else the chart's map, else the default.

        An empty string means no host: the rules match any host.
        """
        annotated = namespace_annotations.get(HOST_ANNOTATION, "").strip()
        if annotated and _HOST_PATTERN.fullmatch(annotated):
            return annotated
        return self.namespace_hosts.get(namespace, self.host)

    def namespace_host(self, namespace: str) -> str:
        """The host only this namespace serves ('' when no namespace domain is set)."""
        return f"{namespace}.{self.namespace_domain}" if self.namespace_domain else ""


def _check_host(variable: str, host: str) -> None:
    if not _HOST_PATTERN.fullmatch(host):
        raise SettingsError(
            f"{variable}: {host!r} is not a DNS host name; use lowercase letters, digits, dashes "
            "and dots, for example 'daeploy.example.com'"
        )


def _string_map(raw: str, variable: str, what: str, example: str) -> dict[str, str]:
    """A JSON object of strings from ``variable``; empty when unset."""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        raise SettingsError(
            f"{variable} is not JSON ({error}); use an object such as {example}"
        ) from error
    if not isinstance(parsed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
    ):
        raise SettingsError(f"{variable} must map {what}, e.g. {example}")
    return dict(parsed)


def _parse_namespace_hosts(raw: str) -> dict[str, str]:
    hosts = _string_map(
        raw, NAMESPACE_HOSTS_ENV, "namespace names to hosts", '{"team-a": "a.example.com"}'
    )
    for host in hosts.values():
        _check_host(NAMESPACE_HOSTS_ENV, host)
    return hosts


def _positive(
    env: Mapping[str, str], variable: str, default: float, *, zero: bool = False
) -> float:
    """Seconds from ``variable``; ``zero`` allows 0 (for example: keep no answers)."""
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0 or (value == 0 and not zero):
        kind = "number of seconds >= 0" if zero else "positive number of seconds"
        raise SettingsError(f"{variable}: {raw!r} is not a {kind}")
    return value


def _positive_int(env: Mapping[str, str], variable: str, default: int) -> int:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise SettingsError(f"{variable}: {raw!r} is not a positive whole number of seconds")
    return int(raw)


def _body_limit(env: Mapping[str, str], variable: str) -> int:
    raw = env.get(variable, "").strip()
    if not raw:
        return ANY_BODY_SIZE
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0 and value != ANY_BODY_SIZE:
        raise SettingsError(
            f"{variable}: {raw!r} is not a size; use a whole number of bytes such as "
            f"'65536', or {ANY_BODY_SIZE} to copy bodies of any size to shadows"
        )
    return value


def _parse_annotations(raw: str) -> dict[str, str]:
    example = (
        f'{{"nginx.ingress.kubernetes.io/auth-url": "{{gate}}{GATE_INGRESS_PATH}/{{namespace}}"}}'
    )
    return _string_map(
        raw, ACCESS_INGRESS_ANNOTATIONS_ENV, "annotation names to string values", example
    )


def _flag(env: Mapping[str, str], variable: str) -> bool:
    raw = env.get(variable, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise SettingsError(f"{variable}: {raw!r} is not 'true' or 'false'")
    return raw == "true"


def _base_url(env: Mapping[str, str], variable: str, otherwise: str) -> str:
    url = env.get(variable, "").strip().rstrip("/")
    if url and not re.fullmatch(r"https?://[^\s/]+", url):
        raise SettingsError(
            f"{variable}: {url!r} is not a base URL; use one such as "
            f"'http://{GATE_NAME}.daeploy-system.svc.cluster.local', {otherwise}"
        )
    return url


def _plugin_name(raw: str) -> str:
    name = raw.strip()
    if name and not _NAMESPACE_PATTERN.fullmatch(name):
        raise SettingsError(
            f"{ACCESS_TRAEFIK_PLUGIN_ENV}: {name!r} is not a plugin name (for example "
            "'access-plugin'); leave it empty to use forwardAuth"
        )
    return name
