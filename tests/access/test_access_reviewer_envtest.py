"""The Reviewer against envtest's real kube-apiserver: real tokens, TokenReview, RBAC.

The reviewer runs as a ServiceAccount bound to the built-in ClusterRole system:auth-delegator,
as the forwardAuth endpoint and the SDK's app will in a pod. Callers are ServiceAccounts with
tokens from the TokenRequest API, and Roles granting (or not) the contract's subresources.
Stand-in: a closed port for an unreachable API server.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from envtest import EnvTest

from daeploy import pod_api
from daeploy.access import Action, Decision, KubeApi, Request, Reviewer, TtlCache
from daeploy.access.reviewer import API_UNAVAILABLE
from daeploy.contract import API_GROUP, INVOKE_RESOURCE, PARAMETERS_RESOURCE
from daeploy_operator.api import ApiError, ApiServer
from daeploy_operator.kinds import resource_path

SERVICE = "die_roller"
OTHER_SERVICE = "yatzee"
AUTH_DELEGATOR = "system:auth-delegator"
CLUSTER_ROLES = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
CLUSTER_ROLE_BINDINGS = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
PROPAGATION_TIMEOUT = 10.0
# The API server itself remembers a valid token for 10s (its token cache); then it looks again.
API_TOKEN_CACHE_TIMEOUT = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _ca_file(envtest: EnvTest) -> str:
    kubeconfig = yaml.safe_load(envtest.kubeconfig.read_text())
    return str(Path(kubeconfig["clusters"][0]["cluster"]["certificate-authority"]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _eventually(check: Callable[[], bool], what: str, timeout: float = PROPAGATION_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} after {timeout:.0f}s"
        time.sleep(0.05)


@dataclass
class Accounts:
    """ServiceAccounts, their tokens and Roles, made as the admin."""

    admin: ApiServer

    def account(self, namespace: str, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        self.admin.request("POST", resource_path("v1", "ServiceAccount", namespace), body=body)

    def token(self, namespace: str, name: str, audiences: list[str] | None = None) -> str:
        spec: dict[str, Any] = {"expirationSeconds": 3600}
        if audiences:
            spec["audiences"] = audiences
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        path = resource_path("v1", "ServiceAccount", namespace, name, "token")
        return str((self.admin.request("POST", path, body=request) or {})["status"]["token"])

    def caller(self, namespace: str, name: str = "caller") -> str:
        self.account(namespace, name)
        return self.token(namespace, name)

    def grant(
        self,
        namespace: str,
        account: tuple[str, str],
        resource: str,
        verb: str,
        names: list[str],
        binding: str = "",
    ) -> str:
        """A Role in ``namespace`` and its RoleBinding to ``account`` (namespace, name)."""
        name = binding or f"access-{secrets.token_hex(3)}"
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": namespace},
            "rules": [
                {
                    "apiGroups": [API_GROUP],
                    "resources": [resource],
                    "verbs": [verb],
                    "resourceNames": names,
                }
            ],
        }
        role_binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "namespace": account[0], "name": account[1]}],
        }
        self.admin.create(role)
        self.admin.create(role_binding)
        return name


@dataclass
class Setup:
    envtest: EnvTest
    accounts: Accounts
    api: KubeApi
    namespace: str
    home: str

    def reviewer(self, ttl: float = 0, **options: Any) -> Reviewer:
        return Reviewer(self.api, ttl=ttl, **options)

    def allowed_eventually(self, token: str, request: Request) -> None:
        """Wait for the authorizer to see a new Role (it learns of it from a watch)."""
        fresh = self.reviewer()
        _eventually(lambda: fresh.review(f"Bearer {token}", request).allowed, "never allowed")


@pytest.fixture
def setup(envtest: EnvTest, envtest_namespaces: Callable[[str], str]) -> Iterator[Setup]:
    admin = envtest.api
    # Part of the bootstrap RBAC every API server writes: nothing to install.
    assert admin.request("GET", f"{CLUSTER_ROLES}/{AUTH_DELEGATOR}")
    accounts = Accounts(admin)
    home = envtest_namespaces("reviewer")
    accounts.account(home, "access-reviewer")
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{home}-auth-delegator"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": AUTH_DELEGATOR,
        },
        "subjects": [{"kind": "ServiceAccount", "namespace": home, "name": "access-reviewer"}],
    }
    admin.request("POST", CLUSTER_ROLE_BINDINGS, body=binding)
    api = KubeApi(envtest.server, accounts.token(home, "access-reviewer"), _ca_file(envtest))
    made = Setup(envtest, accounts, api, envtest_namespaces("svc"), home)
    # The reviewer may review once the authorizer has seen the binding.
    probe = Request(made.namespace, SERVICE, Action.INVOKE)
    _eventually(
        lambda: made.reviewer().review("Bearer x", probe).status != 503,
        "the reviewer was never allowed to create tokenreviews",
    )
    yield made
    api.close()
    try:
        admin.request("DELETE", f"{CLUSTER_ROLE_BINDINGS}/{home}-auth-delegator")
    except ApiError as error:
        if error.status != 404:
            raise


def _no_token_in(decision: Decision, *tokens: str) -> Decision:
    for token in tokens:
        assert token not in decision.reason
        assert token not in (decision.user or "")
    return decision


def test_missing_or_malformed_headers_are_401_without_asking(setup: Setup) -> None:
    token = setup.accounts.caller(setup.namespace)
    request = Request(setup.namespace, SERVICE, Action.INVOKE)
    setup.accounts.grant(
        setup.namespace, (setup.namespace, "caller"), INVOKE_RESOURCE, "create", [SERVICE]
    )
    setup.allowed_eventually(token, request)
    reviewer = setup.reviewer(ttl=10)
    for header in (
        None,
        [],
        "",
        token,
        f"Basic {token}",
        f"Bearer{token}",
        f"Bearer {token} {token}",
        [f"Bearer {token}", f"Bearer {token}"],
        [f"Bearer {token}", "Bearer other"],
    ):
        decision = _no_token_in(reviewer.review(header, request), token)
        assert decision.status == 401, header
        assert decision.user is None
    assert len(reviewer.cache) == 0
    assert reviewer.review(f"Bearer {token}", request).allowed


def test_forged_token_is_401(setup: Setup) -> None:
    token = setup.accounts.caller(setup.namespace)
    header, claims, _ = token.split(".")
    forged = f"{header}.{claims}.{'A' * 86}"
    decision = setup.reviewer().review(
        f"Bearer {forged}", Request(setup.namespace, SERVICE, Action.INVOKE)
    )
    assert decision.status == 401
    _no_token_in(decision, forged, token)


def test_audiences(setup: Setup) -> None:
    """Default: only the API server's own audience; configured: only the listed ones."""
    ns = setup.namespace
    setup.accounts.account(ns, "caller")
    setup.accounts.grant(ns, (ns, "caller"), INVOKE_RESOURCE, "create", [SERVICE])
    request = Request(ns, SERVICE, Action.INVOKE)
    default_token = setup.accounts.token(ns, "caller")
    daeploy_token = setup.accounts.token(ns, "caller", audiences=["daeploy"])
    setup.allowed_eventually(default_token, request)

    default = setup.reviewer()
    assert default.review(f"Bearer {daeploy_token}", request).status == 401
    dedicated = setup.reviewer(audiences=["daeploy", "spare"])
    assert dedicated.review(f"Bearer {daeploy_token}", request).allowed
    assert dedicated.review(f"Bearer {default_token}", request).status == 401


def test_token_of_a_deleted_service_account_is_401(setup: Setup) -> None:
    """Stands in for an expired token: TokenRequest will not mint one shorter than 10 minutes."""
    ns = setup.namespace
    token = setup.accounts.caller(ns)
    setup.accounts.grant(ns, (ns, "caller"), INVOKE_RESOURCE, "create", [SERVICE])
    request = Request(ns, SERVICE, Action.INVOKE)
    setup.allowed_eventually(token, request)
    setup.envtest.api.delete("v1", "ServiceAccount", ns, "caller")
    reviewer = setup.reviewer()
    _eventually(
        lambda: reviewer.review(f"Bearer {token}", request).status == 401,
        "the token of the deleted ServiceAccount still works",
        API_TOKEN_CACHE_TIMEOUT,
    )
    _no_token_in(reviewer.review(f"Bearer {token}", request), token)


def test_wrong_namespace_or_service_name_is_403(
    setup: Setup, envtest_namespaces: Callable[[str], str]
) -> None:
    ns, elsewhere = setup.namespace, envtest_namespaces("other")
    # A ServiceAccount of another namespace, with the right to die_roller there only.
    outsider = setup.accounts.caller(elsewhere, "outsider")
    setup.accounts.grant(elsewhere, (elsewhere, "outsider"), INVOKE_RESOURCE, "create", [SERVICE])
    setup.allowed_eventually(outsider, Request(elsewhere, SERVICE, Action.INVOKE))
    # One of this namespace with the right to another service.
    neighbour = setup.accounts.caller(ns, "neighbour")
    setup.accounts.grant(ns, (ns, "neighbour"), INVOKE_RESOURCE, "create", [OTHER_SERVICE])
    setup.allowed_eventually(neighbour, Request(ns, OTHER_SERVICE, Action.INVOKE))

    reviewer = setup.reviewer()
    request = Request(ns, SERVICE, Action.INVOKE)
    for token, user in ((outsider, f"{elsewhere}:outsider"), (neighbour, f"{ns}:neighbour")):
        decision = _no_token_in(reviewer.review(f"Bearer {token}", request), token)
        assert decision.status == 403
        assert decision.user == f"system:serviceaccount:{user}"
        assert SERVICE in decision.reason


def test_invoke_right_does_not_change_parameters(setup: Setup) -> None:
    ns = setup.namespace
    token = setup.accounts.caller(ns)
    invoke = Request(ns, SERVICE, Action.INVOKE)
    parameters = Request(ns, SERVICE, Action.PARAMETERS)
    setup.accounts.grant(ns, (ns, "caller"), INVOKE_RESOURCE, "create", [SERVICE])
    setup.allowed_eventually(token, invoke)
    reviewer = setup.reviewer(ttl=10)
    assert reviewer.review(f"Bearer {token}", invoke).allowed
    assert reviewer.review(f"Bearer {token}", parameters).status == 403
    # The parameters right wants verb update: create on that subresource is not it.
    setup.accounts.grant(ns, (ns, "caller"), PARAMETERS_RESOURCE, "create", [SERVICE])
    setup.accounts.grant(ns, (ns, "caller"), PARAMETERS_RESOURCE, "update", [SERVICE])
    setup.allowed_eventually(token, parameters)
    reviewer.cache.clear()
    assert reviewer.review(f"Bearer {token}", parameters).allowed
    assert (
        reviewer.review(f"Bearer {token}", Request(ns, OTHER_SERVICE, Action.PARAMETERS)).status
        == 403
    )


def test_revoked_right_holds_until_the_ttl(setup: Setup) -> None:
    ns = setup.namespace
    token = setup.accounts.caller(ns)
    request = Request(ns, SERVICE, Action.INVOKE)
    binding = setup.accounts.grant(ns, (ns, "caller"), INVOKE_RESOURCE, "create", [SERVICE])
    setup.allowed_eventually(token, request)
    clock = Clock()
    reviewer = setup.reviewer(ttl=2.0, clock=clock)
    assert reviewer.ttl == 2.0
    assert reviewer.review(f"Bearer {token}", request).allowed

    setup.envtest.api.delete("rbac.authorization.k8s.io/v1", "RoleBinding", ns, binding)
    fresh = setup.reviewer()
    _eventually(
        lambda: fresh.review(f"Bearer {token}", request).status == 403, "the revocation not seen"
    )
    clock.now = 1.99
    assert reviewer.review(f"Bearer {token}", request).allowed  # the cached verdict
    clock.now = 2.0
    assert reviewer.review(f"Bearer {token}", request).status == 403
    clock.now = 3.0
    assert reviewer.review(f"Bearer {token}", request).status == 403  # cached too


def test_revoked_right_is_refused_after_a_short_real_ttl(setup: Setup) -> None:
    ns = setup.namespace
    token = setup.accounts.caller(ns)
    request = Request(ns, SERVICE, Action.INVOKE)
    binding = setup.accounts.grant(ns, (ns, "caller"), INVOKE_RESOURCE, "create", [SERVICE])
    setup.allowed_eventually(token, request)
    reviewer = setup.reviewer(ttl=1.0)
    assert reviewer.review(f"Bearer {token}", request).allowed
    cached_at = time.monotonic()
    setup.envtest.api.delete("rbac.authorization.k8s.io/v1", "RoleBinding", ns, binding)
    fresh = setup.reviewer()
    _eventually(
        lambda: fresh.review(f"Bearer {token}", request).status == 403, "the revocation not seen"
    )
    time.sleep(max(0.0, cached_at + 1.0 - time.monotonic()))
    assert reviewer.review(f"Bearer {token}", request).status == 403


def test_unreachable_api_server_is_503_and_not_cached(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    ns = setup.namespace
    token = setup.accounts.caller(ns)
    request = Request(ns, SERVICE, Action.INVOKE)
    setup.accounts.grant(ns, (ns, "caller"), INVOKE_RESOURCE, "create", [SERVICE])
    setup.allowed_eventually(token, request)
    cache: TtlCache[Decision] = TtlCache(ttl=60)
    down = KubeApi(f"https://127.0.0.1:{_free_port()}", "reviewer-token", verify=False, timeout=1.0)
    try:
        with caplog.at_level(logging.DEBUG, logger="daeploy.access"):
            decision = Reviewer(down, cache=cache).review(f"Bearer {token}", request)
    finally:
        down.close()
    assert (decision.status, decision.reason, decision.user) == (503, API_UNAVAILABLE, None)
    assert len(cache) == 0
    assert token not in caplog.text
    # The same cache, the API server back: asked, allowed, and now remembered.
    assert Reviewer(setup.api, cache=cache).review(f"Bearer {token}", request).allowed
    assert len(cache) == 1


def test_reviewer_without_auth_delegator_is_503_not_the_callers_fault(setup: Setup) -> None:
    ns = setup.namespace
    token = setup.accounts.caller(ns)
    setup.accounts.account(ns, "plain")
    plain = KubeApi(
        setup.envtest.server, setup.accounts.token(ns, "plain"), _ca_file(setup.envtest)
    )
    try:
        reviewer = Reviewer(plain)
        decision = reviewer.review(f"Bearer {token}", Request(ns, SERVICE, Action.INVOKE))
    finally:
        plain.close()
    assert decision.status == 503
    assert len(reviewer.cache) == 0


def test_no_decision_or_log_holds_the_token(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    ns = setup.namespace
    token = setup.accounts.caller(ns)
    setup.accounts.grant(ns, (ns, "caller"), INVOKE_RESOURCE, "create", [SERVICE])
    setup.allowed_eventually(token, Request(ns, SERVICE, Action.INVOKE))
    reviewer = setup.reviewer(ttl=10)
    header, claims, _ = token.split(".")
    forged = f"{header}.{claims}.{'B' * 86}"
    with caplog.at_level(logging.DEBUG, logger="daeploy.access"):
        decisions = [
            reviewer.review(value, Request(ns, service, action))
            for value in (f"Bearer {token}", f"Bearer {forged}", f"Basic {token}", token)
            for service in (SERVICE, OTHER_SERVICE)
            for action in Action
        ]
    assert {d.status for d in decisions} == {200, 401, 403}
    for decision in decisions:
        _no_token_in(decision, token, forged, claims)
    assert token not in caplog.text and forged not in caplog.text


def test_in_pod_reads_the_mounted_service_account(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KubeApi.in_pod: the token file (re-read per request), ca.crt and KUBERNETES_SERVICE_*."""
    ns = setup.namespace
    token = setup.accounts.caller(ns)
    request = Request(ns, SERVICE, Action.INVOKE)
    setup.accounts.grant(ns, (ns, "caller"), INVOKE_RESOURCE, "create", [SERVICE])
    setup.allowed_eventually(token, request)
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("not-a-valid-token")
    shutil.copyfile(_ca_file(setup.envtest), account / "ca.crt")
    monkeypatch.setattr(pod_api, "SERVICE_ACCOUNT_DIR", account)
    server = urlsplit(setup.envtest.server)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", str(server.hostname))
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    api = KubeApi.in_pod()
    try:
        reviewer = Reviewer(api, ttl=0)
        assert reviewer.review(f"Bearer {token}", request).status == 503  # the reviewer's 401
        reviewer_token = setup.accounts.token(setup.home, "access-reviewer")
        (account / "token").write_text(reviewer_token)
        assert reviewer.review(f"Bearer {token}", request).allowed
    finally:
        api.close()
