"""The gate and the guard, end to end in-process: what a forwarded request is for, the gate's
HTTP answers in front of a real Reviewer on envtest's kube-apiserver, the SDK's AccessGuard
asking that gate, and the token a service sends on its own calls.

The Reviewer runs as a ServiceAccount bound to system:auth-delegator and accepts what the gate
in a pod accepts: the daeploy.io audience, the API server's own, and each service's own
(service_audiences). Callers are ServiceAccounts with TokenRequest tokens; their rights come
from the operator's own RBAC builders. Stand-ins: an httpx transport that refuses to connect
(an unreachable gate) and a local HTTP server that records what call_service sent.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from envtest import EnvTest
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from daeploy import calls
from daeploy._service import Service
from daeploy.access import Action, KubeApi, Request, Reviewer
from daeploy.access.bearer import token_audiences
from daeploy.access.forwarded import (
    MAX_URI_LENGTH,
    NotARoute,
    Target,
    original_request,
    target,
)
from daeploy.access.gate import HEALTH_PATH, MAX_REVIEW_BODY, Gate
from daeploy.access.guard import GATE_UNREACHABLE, AccessGuard, GuardSettings
from daeploy.contract import (
    ACCESS_URL_ENV,
    ADMIN_ACCOUNT,
    CALL_TOKEN_FILE_ENV,
    CALLER_ACCOUNT,
    GATE_INGRESS_PATH,
    GATE_REVIEW_PATH,
    GATEWAY_URL_ENV,
    INVOKE_RESOURCE,
    LIVE_PATH,
    NAMESPACE_ENV,
    PARAMETERS_RESOURCE,
    PUBLIC_ENV,
    READY_PATH,
    ROUTE_PREFIX,
    SERVICE_ACCOUNT_PREFIX,
    SERVICE_NAME_ENV,
    SERVICE_URLS_ENV,
    TOKEN_AUDIENCE,
)
from daeploy.identity import ConfigurationError
from daeploy.names import (
    InvalidNameError,
    parse_route_segment,
    service_account_name,
    service_audience,
    service_path,
    version_object_name,
    version_path,
)
from daeploy_operator.api import ApiError
from daeploy_operator.kinds import resource_path
from daeploy_operator.resources.rbac import (
    build_callers_role,
    build_callers_role_binding,
    build_peers_role,
    build_peers_role_binding,
    build_people_accounts,
    build_service_account,
)
from daeploy_operator.spec import ServiceVersion

SERVICE = "die_roller"
OTHER = "yatzee"
ROLL = f"{service_path(SERVICE)}/roll_die"
PARAMETERS = f"{service_path(SERVICE)}/~parameters/sides"
AUTH_DELEGATOR = "system:auth-delegator"
CLUSTER_ROLE_BINDINGS = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
PROPAGATION_TIMEOUT = 10.0
NEEDS_INVOKE = f"create {INVOKE_RESOURCE}"
NEEDS_PARAMETERS = f"update {PARAMETERS_RESOURCE}"


# --- forwarded: which service and action a request through the ingress is for -------------


@pytest.mark.parametrize(
    ("method", "uri", "expected"),
    [
        ("GET", ROLL, Target(SERVICE, None, Action.INVOKE)),
        ("POST", ROLL, Target(SERVICE, None, Action.INVOKE)),
        ("GET", service_path(SERVICE), Target(SERVICE, None, Action.INVOKE)),
        ("GET", service_path(SERVICE) + "/", Target(SERVICE, None, Action.INVOKE)),
        ("POST", ROLL + "/", Target(SERVICE, None, Action.INVOKE)),
        (
            "GET",
            version_path(SERVICE, "1.0.0") + "/roll_die",
            Target(SERVICE, "1.0.0", Action.INVOKE),
        ),
        ("GET", version_path(SERVICE, "1.0.0"), Target(SERVICE, "1.0.0", Action.INVOKE)),
        (
            "GET",
            version_path(SERVICE, "1.0.0-rc.1") + "/",
            Target(SERVICE, "1.0.0-rc.1", Action.INVOKE),
        ),
        (
            "POST",
            version_path("my_dice_roller_2", "2.10.3+build.7") + "/roll",
            Target("my_dice_roller_2", "2.10.3+build.7", Action.INVOKE),
        ),
        ("GET", service_path("a_b_c") + "/x?y=1", Target("a_b_c", None, Action.INVOKE)),
        ("GET", service_path("s7") + "/docs#top", Target("s7", None, Action.INVOKE)),
        # Tricks in the query string are not the path's.
        (
            "GET",
            ROLL + "?next=/../yatzee%2f%2e%2e&raw=\\&x=//",
            Target(SERVICE, None, Action.INVOKE),
        ),
        # Percent-encoding below the route segment is fine (not of a dot, slash, backslash, NUL).
        ("GET", service_path(SERVICE) + "/roll%5Fdie", Target(SERVICE, None, Action.INVOKE)),
        # Parameters: writes need the parameters right, reads are invocations.
        ("POST", PARAMETERS, Target(SERVICE, None, Action.PARAMETERS)),
        ("PUT", PARAMETERS, Target(SERVICE, None, Action.PARAMETERS)),
        ("PATCH", PARAMETERS, Target(SERVICE, None, Action.PARAMETERS)),
        ("DELETE", PARAMETERS, Target(SERVICE, None, Action.PARAMETERS)),
        ("OPTIONS", PARAMETERS, Target(SERVICE, None, Action.PARAMETERS)),
        ("post", PARAMETERS, Target(SERVICE, None, Action.PARAMETERS)),
        ("POST", PARAMETERS + "/", Target(SERVICE, None, Action.PARAMETERS)),
        ("POST", PARAMETERS + "?x=1", Target(SERVICE, None, Action.PARAMETERS)),
        (
            "POST",
            service_path(SERVICE) + "/~parameters",
            Target(SERVICE, None, Action.PARAMETERS),
        ),
        (
            "POST",
            version_path(SERVICE, "1.0.0") + "/~parameters/sides",
            Target(SERVICE, "1.0.0", Action.PARAMETERS),
        ),
        (
            "POST",
            service_path(SERVICE) + "/%7Eparameters/sides",
            Target(SERVICE, None, Action.PARAMETERS),
        ),
        (
            "POST",
            service_path(SERVICE) + "/%7eparameters/sides",
            Target(SERVICE, None, Action.PARAMETERS),
        ),
        (
            "POST",
            service_path(SERVICE) + "/~param%65ters",
            Target(SERVICE, None, Action.PARAMETERS),
        ),
        ("GET", PARAMETERS, Target(SERVICE, None, Action.INVOKE)),
        ("HEAD", PARAMETERS, Target(SERVICE, None, Action.INVOKE)),
        ("GET", service_path(SERVICE) + "/%7Eparameters", Target(SERVICE, None, Action.INVOKE)),
        ("POST", ROLL + "/~parameters", Target(SERVICE, None, Action.INVOKE)),
        ("POST", service_path(SERVICE) + "/~parameters_x", Target(SERVICE, None, Action.INVOKE)),
    ],
)
def test_target_of_every_route_form(method: str, uri: str, expected: Target) -> None:
    assert target(method, uri) == expected


HOSTILE = [
    ROLL + "/../../yatzee/roll_die",  # dot-dot
    service_path(SERVICE) + "/./roll_die",  # dot
    ROLL + "/..",  # trailing dot-dot
    ROLL + "/.",
    service_path(SERVICE) + "/%2e%2e/yatzee",  # encoded dot-dot
    service_path(SERVICE) + "/%2E%2E/yatzee",
    service_path(SERVICE) + "/%2E/roll_die",  # encoded dot
    service_path(SERVICE) + "/.%2e/yatzee",
    service_path(SERVICE) + "%2f..%2fyatzee/roll_die",  # encoded slash
    service_path(SERVICE) + "/..%2Fyatzee",
    service_path(SERVICE) + "/..%5cyatzee",  # encoded backslash
    service_path(SERVICE) + "/..%5Cyatzee",
    ROLL + "%00",  # encoded NUL
    ROLL + "%00.json",
    service_path(SERVICE) + "\\..\\yatzee",  # backslash
    ROLL + "\\",
    service_path(SERVICE) + "//roll_die",  # empty segment
    ROLL + "//",
    "/" + ROLL,  # //services/...
    "//evil.example" + ROLL,
    f"{ROUTE_PREFIX}/die%5Froller/roll_die",  # percent-encoded route segment
    f"{ROUTE_PREFIX}/%64ie_roller",
    f"{ROUTE_PREFIX}/die_roller%20",
    f"{ROUTE_PREFIX}/die_roller_1.0.0%2Bbuild",
    "/other/die_roller/roll_die",  # outside the prefix
    "/",
    "",
    ROUTE_PREFIX,
    ROUTE_PREFIX + "/",
    ROUTE_PREFIX + "x/die_roller",
    ROUTE_PREFIX.upper() + "/die_roller",
    ROLL + "/" + "a" * MAX_URI_LENGTH,  # over-long
    ROLL + "?q=" + "a" * MAX_URI_LENGTH,
    f"{ROUTE_PREFIX}/die_roller_1.0",  # bad versions
    f"{ROUTE_PREFIX}/die_roller_01.0.0",
    f"{ROUTE_PREFIX}/die_roller_1.0.0.0",
    f"{ROUTE_PREFIX}/die_roller_v1.0.0",
    f"{ROUTE_PREFIX}/1.0.0",  # a version with no name
    f"{ROUTE_PREFIX}/Die_Roller",  # bad names
    f"{ROUTE_PREFIX}/die-roller",
    f"{ROUTE_PREFIX}/_die",
    f"{ROUTE_PREFIX}/die_",
    f"{ROUTE_PREFIX}/" + "a" * 41,
    f"{ROUTE_PREFIX}/..",
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("uri", HOSTILE, ids=[f"{n}:{u[:48]}" for n, u in enumerate(HOSTILE)])
def test_hostile_or_foreign_paths_are_not_a_route(method: str, uri: str) -> None:
    with pytest.raises(NotARoute) as refused:
        target(method, uri)
    assert str(refused.value)
    assert len(str(refused.value)) < 200  # says why, does not echo a long path


def test_the_length_limit_is_inclusive() -> None:
    uri = ROLL + "/" + "a" * (MAX_URI_LENGTH - len(ROLL) - 1)
    assert len(uri) == MAX_URI_LENGTH
    assert target("GET", uri).service == SERVICE
    with pytest.raises(NotARoute, match=str(MAX_URI_LENGTH)):
        target("GET", uri + "a")


def test_a_uri_without_the_leading_slash_is_not_a_route() -> None:
    """The refusal says "the path must start with <prefix>/<name>"; these do not."""
    for uri in ("x" + ROLL, "evil" + ROLL, "." + ROLL):
        with pytest.raises(NotARoute):
            target("GET", uri)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-forwarded-uri": [ROLL], "x-forwarded-method": ["POST"]}, ("POST", ROLL)),
        ({"x-original-uri": [ROLL], "x-original-method": ["GET"]}, ("GET", ROLL)),
        ({"x-forwarded-uri": [PARAMETERS], "x-original-method": ["PUT"]}, ("PUT", PARAMETERS)),
        (
            {"x-forwarded-uri": [ROLL], "x-forwarded-method": ["A" * 16], "other": ["x", "y"]},
            ("A" * 16, ROLL),
        ),
    ],
)
def test_original_request_from_one_uri_and_one_method(
    headers: dict[str, list[str]], expected: tuple[str, str]
) -> None:
    assert original_request(headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-forwarded-method": ["GET"]},
        {"x-forwarded-uri": [ROLL]},
        {"x-forwarded-uri": [], "x-forwarded-method": ["GET"]},
        {"x-forwarded-uri": [ROLL, ROLL], "x-forwarded-method": ["GET"]},
        {"x-forwarded-uri": [ROLL, PARAMETERS], "x-forwarded-method": ["GET"]},
        {"x-forwarded-uri": [ROLL], "x-original-uri": [ROLL], "x-forwarded-method": ["GET"]},
        {"x-forwarded-uri": [ROLL], "x-forwarded-method": ["GET", "POST"]},
        {"x-forwarded-uri": [ROLL], "x-forwarded-method": ["GET"], "x-original-method": ["GET"]},
        # Bad methods.
        {"x-forwarded-uri": [ROLL], "x-forwarded-method": ["get"]},
        {"x-forwarded-uri": [ROLL], "x-forwarded-method": [""]},
        {"x-forwarded-uri": [ROLL], "x-forwarded-method": ["GET "]},
        {"x-forwarded-uri": [ROLL], "x-forwarded-method": ["G3T"]},
        {"x-forwarded-uri": [ROLL], "x-forwarded-method": ["PO ST"]},
        {"x-forwarded-uri": [ROLL], "x-forwarded-method": ["GET\r\nX-Evil: 1"]},
        {"x-forwarded-uri": [ROLL], "x-forwarded-method": ["A" * 17]},
    ],
)
def test_original_request_refuses_missing_doubled_or_bad_headers(
    headers: dict[str, list[str]],
) -> None:
    with pytest.raises(NotARoute):
        original_request(headers)


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        ("die_roller", ("die_roller", None)),
        ("s7", ("s7", None)),
        ("7up", ("7up", None)),
        ("die_roller_1.0.0", ("die_roller", "1.0.0")),
        ("a_b_c_2.0.0-rc.1", ("a_b_c", "2.0.0-rc.1")),
        ("x_10.20.30+build.1-a", ("x", "10.20.30+build.1-a")),
    ],
)
def test_parse_route_segment(segment: str, expected: tuple[str, str | None]) -> None:
    assert parse_route_segment(segment) == expected


@pytest.mark.parametrize(
    "segment",
    ["", "1.0.0", "die_roller_", "_die", "Die", "die-roller", "die_roller_1.0", "x_1.0.0-rc_1"],
)
def test_parse_route_segment_refuses_what_no_route_is(segment: str) -> None:
    with pytest.raises(InvalidNameError):
        parse_route_segment(segment)


def test_service_audience_and_account_name() -> None:
    assert service_audience("demo", SERVICE) == f"{TOKEN_AUDIENCE}/demo/{SERVICE}"
    assert service_audience("demo", SERVICE) != service_audience("other", SERVICE)
    assert service_account_name(SERVICE) == SERVICE_ACCOUNT_PREFIX + "die-roller"
    assert service_account_name("7up") == SERVICE_ACCOUNT_PREFIX + "s-7up"
    longest = [f"{'a' * 39}{c}" for c in "bc"]
    names = [service_account_name(n) for n in longest]
    assert names[0] != names[1] and all(len(n) <= 63 for n in names)
    with pytest.raises(InvalidNameError):
        service_account_name("die-roller")


# --- the gate on a real API server ---------------------------------------------------------


def _eventually(check: Callable[[], bool], what: str, timeout: float = PROPAGATION_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} after {timeout:.0f}s"
        time.sleep(0.05)


def _ca_file(envtest: EnvTest) -> str:
    kubeconfig = yaml.safe_load(envtest.kubeconfig.read_text())
    return str(Path(kubeconfig["clusters"][0]["cluster"]["certificate-authority"]))


def _version(namespace: str, name: str, version: str = "1.0.0", **spec: Any) -> ServiceVersion:
    resource = version_object_name(name, version)
    return ServiceVersion.from_object(
        {
            "metadata": {"name": resource, "namespace": namespace, "uid": f"uid-{resource}"},
            "spec": {"name": name, "version": version, "image": "localhost/x:1", **spec},
        }
    )


@dataclass
class World:
    """A namespace with die_roller, whose spec lets yatzee call it; a gate that reviews."""

    envtest: EnvTest
    namespace: str
    reviewer: Reviewer
    gate: Gate
    # yatzee's own token: its per-name ServiceAccount, our audience, may invoke die_roller.
    caller: str = ""
    # A ServiceAccount of the namespace with no rights.
    nobody: str = ""
    # Every token handed out, so no answer may contain one.
    tokens: list[str] = field(default_factory=list)

    def account(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        self.envtest.api.request(
            "POST", resource_path("v1", "ServiceAccount", self.namespace), body=body
        )

    def token(self, account: str, audiences: list[str] | None = None) -> str:
        spec: dict[str, Any] = {"expirationSeconds": 3600}
        if audiences is not None:
            spec["audiences"] = audiences
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        path = resource_path("v1", "ServiceAccount", self.namespace, account, "token")
        answer = self.envtest.api.request("POST", path, body=request) or {}
        token = str(answer["status"]["token"])
        self.tokens.append(token)
        return token

    def apply(self, manifests: list[dict[str, Any]]) -> None:
        for manifest in manifests:
            self.envtest.api.create(manifest)


@pytest.fixture
def world(envtest: EnvTest, envtest_namespaces: Callable[[str], str]) -> Iterator[World]:
    admin = envtest.api
    home = envtest_namespaces("gate")
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "gate"}}
    admin.request("POST", resource_path("v1", "ServiceAccount", home), body=body)
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{home}-auth-delegator"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": AUTH_DELEGATOR,
        },
        "subjects": [{"kind": "ServiceAccount", "namespace": home, "name": "gate"}],
    }
    admin.request("POST", CLUSTER_ROLE_BINDINGS, body=binding)
    token_path = resource_path("v1", "ServiceAccount", home, "gate", "token")
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    gate_token = str((admin.request("POST", token_path, body=request) or {})["status"]["token"])
    # As gate_in_pod: ours, then the API server's own (read off the gate's own token).
    api_audiences = token_audiences(gate_token)
    assert api_audiences, "the gate's own token names no audience"
    api = KubeApi(envtest.server, gate_token, _ca_file(envtest))
    reviewer = Reviewer(api, [TOKEN_AUDIENCE, *api_audiences], ttl=0, service_audiences=True)
    made = World(envtest, envtest_namespaces("svc"), reviewer, Gate(reviewer))
    ns = made.namespace
    die_roller = [_version(ns, SERVICE, callers=[OTHER])]
    made.apply(
        [
            build_service_account(OTHER, ns, [_version(ns, OTHER)]),
            build_callers_role(SERVICE, ns, die_roller),
            build_callers_role_binding(SERVICE, ns, die_roller),
        ]
    )
    made.caller = made.token(service_account_name(OTHER), [TOKEN_AUDIENCE])
    made.account("nobody")
    made.nobody = made.token("nobody", [TOKEN_AUDIENCE])
    # The authorizer learns of new bindings from a watch: wait for both of ours.
    wanted = Request(ns, SERVICE, Action.INVOKE)
    _eventually(
        lambda: reviewer.review(f"Bearer {made.caller}", wanted).allowed,
        "the gate's reviewer never allowed yatzee to invoke die_roller",
    )
    yield made
    api.close()
    try:
        admin.request("DELETE", f"{CLUSTER_ROLE_BINDINGS}/{home}-auth-delegator")
    except ApiError as error:
        if error.status != 404:
            raise


async def _send(
    app: Any, method: str, path: str, headers: Any = None, content: bytes | None = None
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gate") as client:
        return await client.request(method, path, headers=headers, content=content)


def send(app: Any, method: str, path: str, headers: Any = None, content: bytes | None = None
         ) -> httpx.Response:  # fmt: skip
    return asyncio.run(_send(app, method, path, headers, content))


def _bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def ingress(world: World, uri: str, method: str = "GET", token: str | None = None,
            namespace: str | None = None) -> httpx.Response:  # fmt: skip
    headers = {"X-Forwarded-Uri": uri, "X-Forwarded-Method": method, **_bearer(token)}
    path = f"{GATE_INGRESS_PATH}/{namespace or world.namespace}"
    return send(world.gate, "GET", path, headers)


def review(world: World, body: Any, token: str | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return send(world.gate, "POST", GATE_REVIEW_PATH, _bearer(token), content)


def answer(response: httpx.Response, world: World, status: int) -> dict[str, Any]:
    """The JSON body, after checking the status and that no token is in the answer."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    for token in world.tokens:
        assert token not in response.text
        assert all(token not in value for value in response.headers.values())
        for part in token.split("."):
            assert part not in response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


def test_gate_ingress_401_without_a_token_403_without_the_right_200_with_it(
    world: World,
) -> None:
    ns = world.namespace
    missing = ingress(world, ROLL)
    body = answer(missing, world, 401)
    assert missing.headers["www-authenticate"] == 'Bearer realm="daeploy"'
    assert body == {
        "allowed": False,
        "status": 401,
        "reason": body["reason"],
        "namespace": ns,
        "service": SERVICE,
        "needs": NEEDS_INVOKE,
    }
    assert "Authorization" in body["reason"]
    for header in (f"Basic {world.caller}", world.caller, f"Bearer {world.caller} x"):
        response = send(
            world.gate,
            "GET",
            f"{GATE_INGRESS_PATH}/{ns}",
            {"X-Forwarded-Uri": ROLL, "X-Forwarded-Method": "GET", "Authorization": header},
        )
        assert answer(response, world, 401)["allowed"] is False

    refused = answer(ingress(world, ROLL, token=world.nobody), world, 403)
    assert refused["allowed"] is False and refused["needs"] == NEEDS_INVOKE
    assert f"system:serviceaccount:{ns}:nobody" in refused["reason"]
    assert SERVICE in refused["reason"]
    assert "www-authenticate" not in ingress(world, ROLL, token=world.nobody).headers

    allowed = answer(ingress(world, ROLL, token=world.caller), world, 200)
    assert allowed["allowed"] is True and allowed["service"] == SERVICE
    assert allowed["namespace"] == ns and allowed["needs"] == NEEDS_INVOKE
    assert f"system:serviceaccount:{ns}:{service_account_name(OTHER)}" in allowed["reason"]
    # Any version of the name, POST as well as GET, the docs too: all are invoking.
    for method, uri in (
        ("POST", ROLL),
        ("GET", version_path(SERVICE, "1.0.0") + "/roll_die"),
        ("GET", service_path(SERVICE) + "/docs"),
        ("GET", PARAMETERS),
    ):
        assert answer(ingress(world, uri, method, world.caller), world, 200)["allowed"], uri
    # The invoke right does not change parameters, however the path spells them.
    for uri in (PARAMETERS, service_path(SERVICE) + "/%7Eparameters/sides"):
        body = answer(ingress(world, uri, "POST", world.caller), world, 403)
        assert body["needs"] == NEEDS_PARAMETERS
    # Nor does it reach another service, or the same name in another namespace.
    other = answer(ingress(world, f"{service_path(OTHER)}/play", token=world.caller), world, 403)
    assert other["service"] == OTHER
    elsewhere = ingress(world, ROLL, token=world.caller, namespace="elsewhere")
    assert answer(elsewhere, world, 403)["namespace"] == "elsewhere"
    # nginx's headers work the same.
    nginx = send(
        world.gate,
        "GET",
        f"{GATE_INGRESS_PATH}/{ns}",
        {"X-Original-URI": ROLL, "X-Original-Method": "GET", **_bearer(world.caller)},
    )
    assert answer(nginx, world, 200)["allowed"] is True


def test_gate_answers_400_for_path_tricks_and_ambiguous_headers(world: World) -> None:
    tricks = [uri for uri in HOSTILE if uri and len(uri) <= MAX_URI_LENGTH]
    assert len(tricks) >= 12
    for uri in tricks:
        for token in (world.caller, None):
            body = answer(ingress(world, uri, "GET", token), world, 400)
            assert body["allowed"] is False and body["status"] == 400, uri
            assert body["reason"], uri
    ns = world.namespace
    path = f"{GATE_INGRESS_PATH}/{ns}"
    auth = ("authorization", f"Bearer {world.caller}")
    for headers in (
        [("x-forwarded-uri", ROLL), ("x-forwarded-uri", ROLL), ("x-forwarded-method", "GET")],
        [("x-forwarded-uri", ROLL), ("x-original-uri", ROLL), ("x-forwarded-method", "GET")],
        [("x-forwarded-uri", ROLL), ("x-forwarded-method", "GET"), ("x-original-method", "GET")],
        [("x-forwarded-uri", ROLL), ("x-forwarded-method", "get")],
        [("x-forwarded-uri", ROLL)],
        [("x-forwarded-method", "GET")],
    ):
        assert answer(send(world.gate, "GET", path, [*headers, auth]), world, 400)["reason"]
    # An over-long forwarded URI.
    long_uri = ROLL + "/" + "a" * MAX_URI_LENGTH
    assert (
        str(MAX_URI_LENGTH)
        in answer(ingress(world, long_uri, "GET", world.caller), world, 400)["reason"]
    )


def test_gate_answers_404_for_unknown_paths_and_bad_namespaces(world: World) -> None:
    auth = _bearer(world.caller)
    forwarded = {"X-Forwarded-Uri": ROLL, "X-Forwarded-Method": "GET", **auth}
    for method, path in (
        ("GET", "/"),
        ("GET", "/nowhere"),
        ("GET", GATE_INGRESS_PATH),
        ("GET", GATE_INGRESS_PATH + "/"),
        ("GET", f"{GATE_INGRESS_PATH}/Demo"),
        ("GET", f"{GATE_INGRESS_PATH}/de_mo"),
        ("GET", f"{GATE_INGRESS_PATH}/{world.namespace}/extra"),
        ("GET", f"{GATE_INGRESS_PATH}/{world.namespace}%2Fx"),
        ("GET", f"{GATE_INGRESS_PATH}x/{world.namespace}"),
        ("GET", GATE_REVIEW_PATH),
        ("PUT", GATE_REVIEW_PATH),
        ("POST", GATE_REVIEW_PATH + "/"),
    ):
        body = answer(send(world.gate, method, path, forwarded), world, 404)
        assert body["status"] == 404 and body["reason"], path
    health = send(world.gate, "GET", HEALTH_PATH)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})


def test_gate_review_refuses_bad_bodies_naming_the_field(world: World) -> None:
    ns = world.namespace
    good = {"namespace": ns, "service": SERVICE, "action": "invoke"}
    cases: list[tuple[Any, str]] = [
        (b"not json", "not JSON"),
        (b"", "not JSON"),
        ([], "namespace"),
        ("invoke", "namespace"),
        ({"service": SERVICE, "action": "invoke"}, "namespace:"),
        (good | {"namespace": ""}, "namespace:"),
        (good | {"namespace": "Bad NS"}, "namespace:"),
        (good | {"namespace": 7}, "namespace:"),
        ({"namespace": ns, "action": "invoke"}, "service:"),
        (good | {"service": ""}, "service:"),
        (good | {"service": ["die_roller"]}, "service:"),
        ({"namespace": ns, "service": SERVICE}, "action:"),
        (good | {"action": "delete"}, "action:"),
        (good | {"action": "INVOKE"}, "action:"),
        (good | {"padding": "x" * MAX_REVIEW_BODY}, str(MAX_REVIEW_BODY)),
    ]
    for body, named in cases:
        for token in (world.caller, None):
            refused = answer(review(world, body, token), world, 400)
            assert refused["allowed"] is False
            assert named in refused["reason"], (body, refused)


def test_gate_review_decides_like_the_ingress(world: World) -> None:
    ns = world.namespace
    invoke = {"namespace": ns, "service": SERVICE, "action": "invoke"}
    parameters = invoke | {"action": "parameters"}
    allowed = answer(review(world, invoke, world.caller), world, 200)
    assert allowed == {
        "allowed": True,
        "status": 200,
        "reason": allowed["reason"],
        "namespace": ns,
        "service": SERVICE,
        "needs": NEEDS_INVOKE,
    }
    assert answer(review(world, parameters, world.caller), world, 403)["needs"] == NEEDS_PARAMETERS
    other = invoke | {"service": OTHER}
    assert answer(review(world, other, world.caller), world, 403)["service"] == OTHER
    assert answer(review(world, invoke, world.nobody), world, 403)["needs"] == NEEDS_INVOKE
    missing = review(world, invoke)
    assert answer(missing, world, 401)["allowed"] is False
    assert missing.headers["www-authenticate"] == 'Bearer realm="daeploy"'


def test_service_scoped_token_works_for_its_service_only(world: World) -> None:
    ns = world.namespace
    scoped = world.token(service_account_name(OTHER), [service_audience(ns, SERVICE)])
    assert token_audiences(scoped) == [service_audience(ns, SERVICE)]
    assert answer(ingress(world, ROLL, token=scoped), world, 200)["allowed"] is True
    invoke = {"namespace": ns, "service": SERVICE, "action": "invoke"}
    assert answer(review(world, invoke, scoped), world, 200)["allowed"] is True
    # Genuine, but for die_roller: another service says so with a 403, not a 401.
    for refused in (
        ingress(world, f"{service_path(OTHER)}/play", token=scoped),
        review(world, invoke | {"service": OTHER}, scoped),
    ):
        body = answer(refused, world, 403)
        assert body["service"] == OTHER
        assert SERVICE in body["reason"], body
        assert "www-authenticate" not in refused.headers
    # The same service name in another namespace is another service.
    elsewhere = answer(ingress(world, ROLL, token=scoped, namespace="elsewhere"), world, 403)
    assert SERVICE in elsewhere["reason"]


def test_tokens_for_other_audiences_or_forged_are_401(world: World) -> None:
    ns = world.namespace
    account = service_account_name(OTHER)
    vault = world.token(account, ["vault"])
    foreign = world.token(account, [f"{TOKEN_AUDIENCE}x"])
    header, claims, _ = world.caller.split(".")
    forged = f"{header}.{claims}.{'A' * 86}"
    world.tokens.append(forged)
    for token in (vault, foreign, forged):
        refused = ingress(world, ROLL, token=token)
        body = answer(refused, world, 401)
        assert body["allowed"] is False
        assert refused.headers["www-authenticate"] == 'Bearer realm="daeploy"'
    # The API server's own audience is accepted (a user's `kubectl create token`).
    default = world.token(account)
    assert answer(ingress(world, ROLL, token=default), world, 200)["allowed"] is True
    invoke = {"namespace": ns, "service": SERVICE, "action": "invoke"}
    assert answer(review(world, invoke, vault), world, 401)["allowed"] is False


def test_the_operators_peers_and_people_accounts_grant_what_they_say(world: World) -> None:
    """Operator-built Roles through the gate: peers call services without callers only, the
    caller account calls everything, the admin account also changes parameters."""
    ns = world.namespace
    owners = [
        _version(ns, SERVICE, callers=[OTHER]),
        _version(ns, OTHER),
        _version(ns, "scoreboard"),
    ]
    world.apply(
        [
            build_service_account("scoreboard", ns, owners),
            build_peers_role(ns, owners),
            build_peers_role_binding(ns, owners),
            *build_people_accounts(ns, owners),
        ]
    )
    scoreboard = world.token(service_account_name("scoreboard"), [TOKEN_AUDIENCE])
    person = world.token(CALLER_ACCOUNT, [TOKEN_AUDIENCE])
    admin = world.token(ADMIN_ACCOUNT, [TOKEN_AUDIENCE])
    play = f"{service_path(OTHER)}/play"
    other_parameters = f"{service_path(OTHER)}/~parameters/x"

    def status(uri: str, token: str, method: str = "GET") -> int:
        return ingress(world, uri, method, token).status_code

    _eventually(lambda: status(play, scoreboard) == 200, "peers never allowed")
    _eventually(lambda: status(ROLL, person) == 200, "the caller account never allowed")
    _eventually(lambda: status(PARAMETERS, admin, "POST") == 200, "the admin never allowed")
    expected = {
        # scoreboard is a peer: yatzee sets no callers, die_roller lists only yatzee.
        ("scoreboard", play, "GET"): 200,
        ("scoreboard", ROLL, "GET"): 403,
        ("scoreboard", other_parameters, "POST"): 403,
        # yatzee: die_roller's caller, and a peer of itself and scoreboard.
        ("yatzee", ROLL, "GET"): 200,
        ("yatzee", play, "GET"): 200,
        ("yatzee", f"{service_path('scoreboard')}/x", "GET"): 200,
        # People: the caller invokes everything, only the admin changes parameters.
        ("person", ROLL, "GET"): 200,
        ("person", play, "POST"): 200,
        ("person", PARAMETERS, "POST"): 403,
        ("admin", ROLL, "GET"): 200,
        ("admin", PARAMETERS, "POST"): 200,
        ("admin", other_parameters, "PUT"): 200,
        ("nobody", play, "GET"): 403,
    }
    tokens = {
        "scoreboard": scoreboard,
        "yatzee": world.caller,
        "person": person,
        "admin": admin,
        "nobody": world.nobody,
    }
    found = {(who, uri, method): status(uri, tokens[who], method) for who, uri, method in expected}
    assert found == expected


# --- the SDK's guard, asking that gate -----------------------------------------------------


class Counting(httpx.AsyncBaseTransport):
    """Passes requests on to ``inner`` and keeps them, to count the guard's questions."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


class Unreachable(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.asked = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.asked += 1
        raise httpx.ConnectError("connection refused", request=request)


def _service_app(seen: list[str]) -> Starlette:
    async def handle(request: HttpRequest) -> JSONResponse:
        seen.append(f"{request.method} {request.url.path}")
        return JSONResponse({"served": request.url.path})

    both = ["GET", "POST"]
    return Starlette(
        routes=[
            Route("/roll_die", handle, methods=both),
            Route("/~parameters/{name}", handle, methods=both),
            Route(READY_PATH, handle),
            Route(LIVE_PATH, handle),
        ]
    )


def guarded(
    namespace: str, gate: httpx.AsyncBaseTransport, public: bool = False
) -> tuple[AccessGuard, list[str]]:
    seen: list[str] = []
    settings = GuardSettings("http://gate", namespace, SERVICE, public)
    return AccessGuard(_service_app(seen), lambda: settings, transport=gate), seen


async def _calls(guard: AccessGuard, requests: list[tuple[str, str, str | None]]
                 ) -> list[httpx.Response]:  # fmt: skip
    transport = httpx.ASGITransport(app=guard)
    async with httpx.AsyncClient(transport=transport, base_url="http://die-roller") as client:
        return [
            await client.request(method, path, headers=_bearer(token))
            for method, path, token in requests
        ]


def call_guarded(guard: AccessGuard, *requests: tuple[str, str, str | None]
                 ) -> list[httpx.Response]:  # fmt: skip
    """All in one event loop, as a running service's guard is."""
    return asyncio.run(_calls(guard, list(requests)))


def test_guard_lets_health_through_and_refuses_no_token_without_asking(world: World) -> None:
    gate = Counting(httpx.ASGITransport(app=world.gate))
    guard, seen = guarded(world.namespace, gate)
    live, ready, missing, basic = call_guarded(
        guard,
        ("GET", LIVE_PATH, None),
        ("GET", READY_PATH, None),
        ("GET", "/roll_die", None),
        ("POST", "/~parameters/sides", "x y"),
    )
    assert (live.status_code, ready.status_code) == (200, 200)
    assert seen == [f"GET {LIVE_PATH}", f"GET {READY_PATH}"]
    body = answer(missing, world, 401)
    assert missing.headers["www-authenticate"] == 'Bearer realm="daeploy"'
    assert body["needs"] == NEEDS_INVOKE and body["service"] == SERVICE
    assert answer(basic, world, 401)["needs"] == NEEDS_PARAMETERS
    assert gate.requests == []


def test_guard_asks_the_gate_once_per_token_and_action(world: World) -> None:
    gate = Counting(httpx.ASGITransport(app=world.gate))
    guard, seen = guarded(world.namespace, gate)
    responses = call_guarded(
        guard,
        ("GET", "/roll_die", world.caller),
        ("POST", "/roll_die", world.caller),
        ("GET", "/roll_die", world.caller),
        ("GET", "/~parameters/sides", world.caller),  # a read: invoke, cached
    )
    assert [r.status_code for r in responses] == [200] * 4
    assert len(gate.requests) == 1
    asked = gate.requests[0]
    assert asked.url.path == GATE_REVIEW_PATH and asked.method == "POST"
    assert json.loads(asked.content) == {
        "namespace": world.namespace,
        "service": SERVICE,
        "action": "invoke",
    }
    assert asked.headers["authorization"] == f"Bearer {world.caller}"
    assert len(seen) == 4

    refused = call_guarded(
        guard,
        ("POST", "/~parameters/sides", world.caller),
        ("POST", "/~parameters/sides", world.caller),
        ("GET", "/roll_die", world.nobody),
        ("GET", "/roll_die", world.nobody),
    )
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    assert answer(refused[0], world, 403)["needs"] == NEEDS_PARAMETERS
    assert answer(refused[2], world, 403)["needs"] == NEEDS_INVOKE
    assert len(gate.requests) == 3  # one more per (token, action), refusals cached too
    assert len(seen) == 4  # nothing refused reached the app


def test_public_service_opens_invoke_but_not_parameter_writes(world: World) -> None:
    gate = Counting(httpx.ASGITransport(app=world.gate))
    guard, seen = guarded(world.namespace, gate, public=True)
    roll_get, roll_post, read, write, write_allowed = call_guarded(
        guard,
        ("GET", "/roll_die", None),
        ("POST", "/roll_die", None),
        ("GET", "/~parameters/sides", None),
        ("POST", "/~parameters/sides", None),
        ("POST", "/~parameters/sides", world.caller),
    )
    assert [r.status_code for r in (roll_get, roll_post, read)] == [200, 200, 200]
    assert gate.requests and len(gate.requests) == 1  # only the write with a token was asked
    assert answer(write, world, 401)["needs"] == NEEDS_PARAMETERS
    assert answer(write_allowed, world, 403)["needs"] == NEEDS_PARAMETERS
    assert seen == ["GET /roll_die", "POST /roll_die", "GET /~parameters/sides"]


def test_a_steady_caller_is_asked_again_in_the_background(world: World) -> None:
    """In the last fifth of the TTL a call is served at once and the gate asked behind it; the
    refreshed answer then serves past the first one's expiry, with no call waiting."""
    gate = Counting(httpx.ASGITransport(app=world.gate))
    seen: list[str] = []
    settings = GuardSettings("http://gate", world.namespace, SERVICE, False)
    guard = AccessGuard(_service_app(seen), lambda: settings, ttl=1.0, transport=gate)

    asked_before_expiry: list[int] = []

    async def steady() -> list[int]:
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://die-roller") as client:

            async def call() -> int:
                response = await client.post("/roll_die", headers=_bearer(world.caller))
                return response.status_code

            codes = [await call()]
            await asyncio.sleep(0.85)  # the answer has 0.15 s left: less than a fifth
            codes += [await call() for _ in range(3)]
            for _ in range(100):  # the background question ends on its own
                if not guard._tasks:
                    break
                await asyncio.sleep(0.02)
            asked_before_expiry.append(len(gate.requests))
            await asyncio.sleep(0.3)  # past the first answer's expiry
            codes.append(await call())
            return codes

    assert asyncio.run(steady()) == [200] * 5
    assert asked_before_expiry == [2]  # the first call, then one refresh behind three calls
    assert len(gate.requests) == 2  # the refreshed answer served the last call
    assert len(seen) == 5


def test_guard_passes_the_gates_token_verdicts_on(world: World) -> None:
    scoped = world.token(service_account_name(OTHER), [service_audience(world.namespace, OTHER)])
    vault = world.token(service_account_name(OTHER), ["vault"])
    gate = Counting(httpx.ASGITransport(app=world.gate))
    guard, _ = guarded(world.namespace, gate)
    wrong_service, wrong_audience = call_guarded(
        guard, ("GET", "/roll_die", scoped), ("GET", "/roll_die", vault)
    )
    assert OTHER in answer(wrong_service, world, 403)["reason"]
    assert answer(wrong_audience, world, 401)["allowed"] is False
    assert wrong_audience.headers["www-authenticate"] == 'Bearer realm="daeploy"'


@pytest.mark.parametrize(
    "gate",
    [
        Unreachable(),
        httpx.MockTransport(lambda request: httpx.Response(502, text="<html>bad gateway")),
        httpx.MockTransport(lambda request: httpx.Response(200, json={"allowed": True})),
    ],
    ids=["refused", "not-json", "no-status"],
)
def test_unusable_gate_is_503_and_not_cached(gate: httpx.AsyncBaseTransport) -> None:
    counting = Counting(gate)
    guard, seen = guarded("demo", counting)
    first, second = call_guarded(
        guard, ("GET", "/roll_die", "some.token"), ("GET", "/roll_die", "some.token")
    )
    for response in (first, second):
        assert response.status_code == 503
        body = response.json()
        assert body["reason"] == GATE_UNREACHABLE and body["allowed"] is False
        assert "some.token" not in response.text
    assert len(counting.requests) == 2  # asked again: a failure is never remembered
    assert len(guard.cache) == 0
    assert seen == []


def test_guard_is_off_without_settings() -> None:
    gate = Unreachable()
    seen: list[str] = []
    guard = AccessGuard(_service_app(seen), lambda: None, transport=gate)
    responses = call_guarded(
        guard, ("GET", "/roll_die", None), ("POST", "/~parameters/sides", None)
    )
    assert [r.status_code for r in responses] == [200, 200]
    assert gate.asked == 0 and len(seen) == 2


def test_service_turns_the_guard_on_with_the_gate_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVICE_NAME_ENV, SERVICE)
    for variable in (ACCESS_URL_ENV, NAMESPACE_ENV, PUBLIC_ENV):
        monkeypatch.delenv(variable, raising=False)
    assert Service()._guard_settings() is None
    monkeypatch.setenv(ACCESS_URL_ENV, "  ")
    assert Service()._guard_settings() is None
    monkeypatch.setenv(ACCESS_URL_ENV, "http://gate")
    with pytest.raises(ConfigurationError) as refused:
        Service()._guard_settings()
    assert ACCESS_URL_ENV in str(refused.value) and NAMESPACE_ENV in str(refused.value)
    monkeypatch.setenv(NAMESPACE_ENV, "demo")
    assert Service()._guard_settings() == GuardSettings("http://gate", "demo", SERVICE, False)
    for raw, public in (("true", True), (" TRUE ", True), ("false", False), ("yes", False)):
        monkeypatch.setenv(PUBLIC_ENV, raw)
        settings = Service()._guard_settings()
        assert settings is not None and settings.public is public, raw


# --- the token a service sends on its own calls --------------------------------------------


def _recorder(seen: list[str | None]) -> type[BaseHTTPRequestHandler]:
    """A handler that keeps each request's Authorization header and answers a roll."""

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            seen.append(self.headers.get("authorization"))
            body = b'{"rolled": 4}'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Recorder


@pytest.fixture
def call_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in (CALL_TOKEN_FILE_ENV, SERVICE_URLS_ENV, GATEWAY_URL_ENV, NAMESPACE_ENV):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv(GATEWAY_URL_ENV, "http://gateway.example")
    return monkeypatch


@pytest.fixture
def recorder(call_env: pytest.MonkeyPatch) -> Iterator[list[str | None]]:
    seen: list[str | None] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _recorder(seen))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    call_env.setenv(SERVICE_URLS_ENV, json.dumps({SERVICE: url}))
    yield seen
    calls.close_sync_client()
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_call_service_sends_the_token_files_content(
    recorder: list[str | None], call_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln\n")
    call_env.setenv(CALL_TOKEN_FILE_ENV, str(token_file))
    assert calls.call_service(SERVICE, "roll_die", {"sides": 6}) == {"rolled": 4}
    # The kubelet rotates the file: the next call reads it again.
    token_file.write_text("rotated.token.value")
    calls.call_service(SERVICE, "roll_die")
    # A header of the caller's own wins, whatever its case.
    calls.call_service(SERVICE, "roll_die", headers={"Authorization": "Bearer mine"})
    call_env.delenv(CALL_TOKEN_FILE_ENV)
    calls.call_service(SERVICE, "roll_die")
    assert recorder == [
        "Bearer eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln",
        "Bearer rotated.token.value",
        "Bearer mine",
        None,
    ]


def test_call_token_reads_the_file_or_gives_none(
    call_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert calls.call_token() is None
    token_file = tmp_path / "token"
    call_env.setenv(CALL_TOKEN_FILE_ENV, str(token_file))
    assert calls.call_token() is None  # not there (yet)
    token_file.write_text("  \n")
    assert calls.call_token() is None
    token_file.write_text(" a.b.c \n")
    assert calls.call_token() == "a.b.c"
    call_env.setenv(CALL_TOKEN_FILE_ENV, "  ")
    assert calls.call_token() is None
    call_env.setenv(CALL_TOKEN_FILE_ENV, str(tmp_path))  # a directory
    assert calls.call_token() is None


def test_prepare_call_headers(call_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("a.b.c")

    def prepared(headers: dict[str, str] | None = None, method: str = "POST") -> dict[str, Any]:
        call = calls.prepare_call(SERVICE, "roll_die", None, None, method, None, headers)
        assert call.url == f"http://gateway.example{ROLL}"
        return call.request_options

    assert "headers" not in prepared()
    call_env.setenv(CALL_TOKEN_FILE_ENV, str(token_file))
    assert prepared() == {"headers": {"authorization": "Bearer a.b.c"}}
    assert prepared(method="GET") == {"headers": {"authorization": "Bearer a.b.c"}}
    assert prepared({"Authorization": "Bearer mine"}) == {
        "headers": {"authorization": "Bearer mine"}
    }
    assert prepared({"X-Trace": "1"}) == {
        "headers": {"x-trace": "1", "authorization": "Bearer a.b.c"}
    }
