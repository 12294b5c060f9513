"""Access control on the real cluster (issue 11): the gate behind Traefik's forwardAuth, the
services' own check pod to pod, RBAC and TokenReview as the only source of truth.

The tutorial runs as applied from its manifests (die_roller lists yatzee as its caller). The
requests go to the cluster's ingress address, with the namespace's own host so no other test's
routes interfere; pod-to-pod calls run inside a service's pod with ``kubectl exec``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kube_helpers import apply, manifest, wait_ready, wait_until

from daeploy.contract import (
    ADMIN_ACCOUNT,
    API_GROUP,
    CALL_TOKEN_FILE_ENV,
    CALLER_ACCOUNT,
    PLURAL,
    READY_PATH,
    ROUTE_PREFIX,
    SERVICE_LABEL,
    TOKEN_AUDIENCE,
)
from daeploy.names import (
    label_value,
    service_account_name,
    service_audience,
    service_dns_name,
    service_path,
    version_object_name,
)

REPO = Path(__file__).resolve().parents[2]
ROLL_DIE = f"{service_path('die_roller')}/roll_die"
PLAY = f"{service_path('yatzee')}/play"
SET_PARAMETER = f"{service_path('die_roller')}/~parameters/sides"
# The gate's and the service's caches (5 s each, the chart's default), RBAC's watch, and the
# API server's own token cache (10 s) for a deleted account: what a refusal may take at most.
REVOCATION_BOUND = 30.0

pytestmark = pytest.mark.cluster


@dataclass
class Secured:
    cluster: Any
    namespace: str
    other_namespace: str
    host: str

    def url(self, path: str) -> str:
        return f"{self.cluster.ingress_url}{path}"

    def call(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Host": self.host, **kwargs.pop("headers", {})}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.post(
            self.url(path), json=kwargs.pop("json", {}), headers=headers, timeout=30, **kwargs
        )

    def token(
        self,
        account: str = CALLER_ACCOUNT,
        audience: str = TOKEN_AUDIENCE,
        namespace: str | None = None,
    ) -> str:
        return self.cluster.kubectl(
            "-n",
            namespace or self.namespace,
            "create",
            "token",
            account,
            f"--audience={audience}",
            "--duration=1h",
        ).stdout.strip()

    def exec_call(self, service: str, url: str, token: str = "", method: str = "POST") -> dict:
        """A request from inside ``service``'s pod: ``token`` 'own' sends the pod's own."""
        pod = self.cluster.kubectl(
            "-n",
            self.namespace,
            "get",
            "pods",
            "-l",
            f"{SERVICE_LABEL}={label_value(service)}",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ).stdout.strip()
        out = self.cluster.kubectl(
            "-n",
            self.namespace,
            "exec",
            pod,
            "--",
            "python",
            "-c",
            POD_CLIENT,
            method,
            url,
            token,
            timeout=60,
        ).stdout
        return json.loads(out)


POD_CLIENT = """
import json, os, sys, httpx
method, url, token = sys.argv[1:4]
if token == "own":
    token = open(os.environ["TOKEN_FILE_ENV"]).read().strip()
headers = {"Authorization": "Bearer " + token} if token else {}
r = httpx.request(method, url, json={} if method == "POST" else None, headers=headers, timeout=20)
print(json.dumps({"status": r.status_code, "body": r.text[:2000]}))
""".replace("TOKEN_FILE_ENV", CALL_TOKEN_FILE_ENV)


@pytest.fixture(scope="module")
def secured(cluster: Any, daeploy_operator: str) -> Iterator[Secured]:
    namespace = f"access-{uuid.uuid4().hex[:6]}"
    other = f"access-other-{uuid.uuid4().hex[:6]}"
    for ns in (namespace, other):
        cluster.kubectl("create", "namespace", ns)
    try:
        for service in ("die_roller", "yatzee"):
            path = REPO / "services" / service / "daeployservice.yaml"
            cluster.kubectl("apply", "-n", namespace, "-f", str(path))
        cluster.kubectl(
            "apply", "-n", other, "-f", str(REPO / "services/die_roller/daeployservice.yaml")
        )
        wait_ready(
            cluster,
            namespace,
            version_object_name("die_roller", "1.0.0"),
            version_object_name("yatzee", "1.0.0"),
        )
        wait_ready(cluster, other, version_object_name("die_roller", "1.0.0"))
        secured = Secured(cluster, namespace, other, f"{namespace}.daeploy.local")
        caller = secured.token()
        wait_until(
            lambda: secured.call(PLAY, caller).status_code == 200,
            "yatzee to answer its caller through the ingress",
        )
        yield secured
    finally:
        for ns in (namespace, other):
            cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _assert_nothing_leaked(response: httpx.Response, *secrets: str) -> None:
    text = response.text
    for secret in secrets:
        if secret:
            assert secret not in text and secret[-20:] not in text, "the body echoes the token"
    assert "Traceback" not in text and 'File "' not in text, text


# --- through the ingress ---------------------------------------------------------------------


def test_through_the_ingress_only_the_right_token_gets_an_answer(secured: Secured) -> None:
    caller = secured.token()
    other_namespace = secured.token(namespace=secured.other_namespace)
    die_roller_only = secured.token(audience=service_audience(secured.namespace, "die_roller"))
    expired = expired_token(secured.cluster, secured.namespace, CALLER_ACCOUNT)

    refused = secured.call(ROLL_DIE)
    assert refused.status_code == 401, refused.text
    body = refused.json()
    assert body["service"] == "die_roller" and body["needs"] == f"create {PLURAL}/invoke"
    assert refused.headers["www-authenticate"].startswith("Bearer")

    assert secured.call(ROLL_DIE, expired).status_code == 401
    wrong_namespace = secured.call(ROLL_DIE, other_namespace)
    assert wrong_namespace.status_code == 403, wrong_namespace.text
    assert (
        f"system:serviceaccount:{secured.other_namespace}:{CALLER_ACCOUNT}" in wrong_namespace.text
    )
    wrong_service = secured.call(PLAY, die_roller_only)
    assert wrong_service.status_code == 403, wrong_service.text
    assert "die_roller only" in wrong_service.json()["reason"]

    assert secured.call(ROLL_DIE, die_roller_only).status_code == 200
    answer = secured.call(ROLL_DIE, caller)
    assert answer.status_code == 200 and 1 <= answer.json() <= 6
    dice = secured.call(PLAY, caller)
    assert dice.status_code == 200 and len(dice.json()) == 5, dice.text
    for response in (refused, wrong_namespace, wrong_service):
        _assert_nothing_leaked(response, caller, other_namespace, die_roller_only)


def test_changing_parameters_needs_a_stronger_right_than_calling(secured: Secured) -> None:
    caller, admin = secured.token(), secured.token(ADMIN_ACCOUNT)
    refused = secured.call(SET_PARAMETER, caller, json={"value": 8})
    assert refused.status_code == 403, refused.text
    assert refused.json()["needs"] == f"update {PLURAL}/parameters"
    # Reading is calling.
    read = httpx.get(
        secured.url(f"{service_path('die_roller')}/~parameters"),
        headers={"Host": secured.host, "Authorization": f"Bearer {caller}"},
        timeout=30,
    )
    assert read.status_code == 200, read.text
    # The admin passes the gate and the service's own check; the app itself answers (die_roller
    # has no parameter 'sides'), not the gate.
    allowed = secured.call(SET_PARAMETER, admin, json={"value": 8})
    assert allowed.status_code == 404, allowed.text
    assert "needs" not in allowed.json()


def test_docs_are_behind_the_token_too(secured: Secured) -> None:
    docs = f"{service_path('yatzee')}/docs"
    assert (
        httpx.get(secured.url(docs), headers={"Host": secured.host}, timeout=30).status_code == 401
    )
    with_token = httpx.get(
        secured.url(docs),
        timeout=30,
        headers={"Host": secured.host, "Authorization": f"Bearer {secured.token()}"},
    )
    assert with_token.status_code == 200 and "swagger" in with_token.text.lower()


# --- hostile requests ------------------------------------------------------------------------


def test_hostile_requests_are_all_refused_and_leak_nothing(secured: Secured) -> None:
    cluster, ns = secured.cluster, secured.namespace
    caller = secured.token()
    header, payload, signature = caller.split(".")
    claims = json.loads(_b64decode(payload))
    forged_claims = dict(claims, sub=f"system:serviceaccount:{ns}:{ADMIN_ACCOUNT}")
    forged = f"{header}.{_b64encode(json.dumps(forged_claims).encode())}.{signature}"
    alg_none = (
        f"{_b64encode(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}."
        f"{_b64encode(json.dumps(claims).encode())}."
    )
    vault = secured.token(audience="vault")
    doomed = f"doomed-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("-n", ns, "create", "serviceaccount", doomed)
    cluster.kubectl(
        "-n",
        ns,
        "create",
        "rolebinding",
        doomed,
        f"--role={CALLER_ACCOUNT}",
        f"--serviceaccount={ns}:{doomed}",
    )
    deleted = secured.token(doomed)
    wait_until(
        lambda: secured.call(ROLL_DIE, deleted).status_code == 200, "the doomed token to work"
    )
    cluster.kubectl("-n", ns, "delete", "serviceaccount", doomed)
    started = time.monotonic()
    wait_until(
        lambda: secured.call(ROLL_DIE, deleted).status_code == 401,
        "a deleted ServiceAccount's token to be refused",
        timeout=REVOCATION_BOUND,
    )
    print(f"\na deleted account's token was refused after {time.monotonic() - started:.1f}s")

    raw = httpx.Client(base_url=cluster.ingress_url, timeout=30)
    host = {"Host": secured.host}
    bearer = {"Authorization": f"Bearer {caller}"}
    attempts: list[tuple[str, httpx.Response]] = [
        ("no token", secured.call(ROLL_DIE)),
        (
            "Basic credentials",
            secured.call(ROLL_DIE, headers={"Authorization": "Basic YWRtaW46YWRtaW4="}),
        ),
        ("empty bearer", secured.call(ROLL_DIE, headers={"Authorization": "Bearer"})),
        ("forged subject, old signature", secured.call(ROLL_DIE, forged)),
        ("alg: none", secured.call(ROLL_DIE, alg_none)),
        ("garbage token", secured.call(ROLL_DIE, "not.a.jwt")),
        ("expired", secured.call(ROLL_DIE, expired_token(cluster, ns, CALLER_ACCOUNT))),
        ("deleted ServiceAccount", secured.call(ROLL_DIE, deleted)),
        ("wrong audience", secured.call(ROLL_DIE, vault)),
        ("token in another header", secured.call(ROLL_DIE, headers={"X-Auth-Token": caller})),
        (
            "second Authorization header",
            raw.post(
                ROLL_DIE,
                json={},
                headers=httpx.Headers(
                    [
                        ("Host", secured.host),
                        ("Authorization", f"Bearer {caller}"),
                        ("Authorization", "Bearer x"),
                    ]
                ),
            ),
        ),
        (
            "X-Forwarded-Uri spoofing a public path",
            secured.call(
                ROLL_DIE,
                headers={
                    "X-Forwarded-Uri": f"{ROUTE_PREFIX}/public/x",
                    "X-Forwarded-Method": "GET",
                },
            ),
        ),
        (
            "X-Forwarded-Host of another namespace",
            secured.call(
                ROLL_DIE, headers={"X-Forwarded-Host": f"{secured.other_namespace}.daeploy.local"}
            ),
        ),
        (
            "dot-dot from a path the token may use",
            raw.post(
                f"{service_path('die_roller')}/../yatzee/play",
                json={},
                headers={
                    **host,
                    "Authorization": "Bearer "
                    + secured.token(audience=service_audience(ns, "die_roller")),
                },
            ),
        ),
        (
            "%2e%2e",
            raw.post(f"{service_path('die_roller')}/%2e%2e/%2e%2e{PLAY}", json={}, headers=host),
        ),
        (
            "%2f in the service segment",
            raw.post(f"{ROUTE_PREFIX}/die_roller%2f..%2fyatzee/play", json={}, headers=host),
        ),
        ("double slashes", raw.post(f"/{service_path('yatzee')}//play", json={}, headers=host)),
        (
            "encoded ~parameters write as a caller",
            raw.post(
                f"{service_path('die_roller')}/%7Eparameters/sides",
                json={"value": 1},
                headers={**host, **bearer},
            ),
        ),
        (
            "method override on a parameters write",
            raw.post(
                SET_PARAMETER,
                json={"value": 1},
                headers={**host, **bearer, "X-HTTP-Method-Override": "GET"},
            ),
        ),
        ("very long Authorization header", secured.call(ROLL_DIE, "a" * 20000)),
        (
            "very long path",
            raw.post(f"{service_path('die_roller')}/{'x' * 9000}", json={}, headers=host),
        ),
    ]
    assert len(attempts) >= 15
    for what, response in attempts:
        assert response.status_code in (400, 401, 403, 404, 414, 431), (
            what,
            response.status_code,
            response.text[:300],
        )
        _assert_nothing_leaked(response, caller, vault, deleted)


# --- pod to pod ------------------------------------------------------------------------------


def test_pod_to_pod_the_service_checks_the_caller_itself(secured: Secured) -> None:
    ns = secured.namespace
    die_roller = f"http://{service_dns_name('die_roller', ns)}/roll_die"
    health = f"http://{service_dns_name('die_roller', ns)}{READY_PATH}"
    # No token, a forged one, another namespace's: never the answer.
    assert secured.exec_call("yatzee", die_roller)["status"] == 401
    assert secured.exec_call("yatzee", die_roller, "not.a.jwt")["status"] == 401
    other = secured.token(namespace=secured.other_namespace)
    assert secured.exec_call("yatzee", die_roller, other)["status"] == 403
    expired = expired_token(secured.cluster, ns, CALLER_ACCOUNT)
    assert secured.exec_call("yatzee", die_roller, expired)["status"] == 401
    # A token for die_roller alone, used on yatzee.
    yatzee = f"http://{service_dns_name('yatzee', ns)}/play"
    scoped = secured.token(audience=service_audience(ns, "die_roller"))
    assert secured.exec_call("die_roller", yatzee, scoped)["status"] == 403
    # Calling is not changing parameters.
    parameters = f"http://{service_dns_name('die_roller', ns)}/~parameters/sides"
    assert secured.exec_call("yatzee", parameters, secured.token())["status"] == 403
    admin = secured.exec_call("yatzee", parameters, secured.token(ADMIN_ACCOUNT))
    assert admin["status"] not in (401, 403) and "needs" not in admin["body"], admin
    # yatzee's own identity, which die_roller's spec.callers names.
    own = secured.exec_call("yatzee", die_roller, "own")
    assert own["status"] == 200 and 1 <= int(own["body"]) <= 6, own
    # The kubelet's probes need no token.
    assert secured.exec_call("yatzee", health, method="GET")["status"] == 200


def test_yatzee_calls_with_its_own_identity_and_is_refused_once_the_right_is_gone(
    secured: Secured,
) -> None:
    cluster, ns = secured.cluster, secured.namespace
    caller = secured.token()
    resource = f"{PLURAL}/{version_object_name('die_roller', '1.0.0')}"
    who = f"system:serviceaccount:{ns}:{service_account_name('yatzee')}"
    assert _can_invoke(cluster, ns, who) == "yes"
    cluster.kubectl("-n", ns, "patch", resource, "--type=merge", "-p", '{"spec": {"callers": []}}')
    started = time.monotonic()
    try:
        wait_until(lambda: _can_invoke(cluster, ns, who) == "no", "RBAC to drop yatzee's right")
        refused = wait_until(
            lambda: (r := secured.call(PLAY, caller)).status_code == 502 and r,
            "yatzee's calls to be refused",
            timeout=REVOCATION_BOUND,
        )
        seconds = time.monotonic() - started
        print(f"\nyatzee's removed right stopped working after {seconds:.1f}s")
        assert refused.json()["callee_status_code"] == 403, refused.text
        assert who in refused.text
    finally:
        cluster.kubectl(
            "-n", ns, "patch", resource, "--type=merge", "-p", '{"spec": {"callers": ["yatzee"]}}'
        )
    wait_until(
        lambda: secured.call(PLAY, caller).status_code == 200,
        "yatzee to play again",
        timeout=REVOCATION_BOUND,
    )


def test_a_public_service_answers_anyone_but_its_parameters_stay_closed(secured: Secured) -> None:
    ns = secured.namespace
    public = manifest("open_dice", "1.0.0", image="localhost/die-roller:1.0.0", public=True)
    apply(secured.cluster, ns, public)
    wait_ready(secured.cluster, ns, public["metadata"]["name"])
    roll = f"{service_path('open_dice')}/roll_die"
    wait_until(lambda: secured.call(roll).status_code == 200, "the public service to answer")
    docs = httpx.get(
        secured.url(f"{service_path('open_dice')}/docs"), headers={"Host": secured.host}, timeout=30
    )
    assert docs.status_code == 200
    write = f"{service_path('open_dice')}/~parameters/sides"
    assert secured.call(write, json={"value": 2}).status_code == 401
    assert secured.call(write, secured.token(), json={"value": 2}).status_code == 403
    ingress = json.loads(
        secured.cluster.kubectl("-n", ns, "get", "ingress", "open-dice", "-o", "json").stdout
    )
    assert not any("middlewares" in k for k in ingress["metadata"].get("annotations", {}))


# --- helpers ---------------------------------------------------------------------------------


def _can_invoke(cluster: Any, ns: str, who: str) -> str:
    """Whether RBAC lets ``who`` invoke die_roller, as the gate's SubjectAccessReview asks."""
    return cluster.kubectl(
        "auth", "can-i", "create", f"{PLURAL}.{API_GROUP}/die_roller", "--subresource=invoke",
        "-n", ns, f"--as={who}", check=False,
    ).stdout.strip()  # fmt: skip


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def expired_token(cluster: Any, namespace: str, account: str) -> str:
    """A token exactly like the API server's, signed with its own key, that expired a minute
    ago: the only way to hold an expired token without waiting (TokenRequest's floor is 10
    minutes)."""
    fresh = cluster.kubectl(
        "-n", namespace, "create", "token", account, f"--audience={TOKEN_AUDIENCE}"
    ).stdout.strip()
    header, payload, _ = fresh.split(".")
    claims = json.loads(_b64decode(payload))
    now = int(time.time())
    claims.update(iat=now - 3600, nbf=now - 3600, exp=now - 60)
    signed = f"{header}.{_b64encode(json.dumps(claims).encode())}"
    key = cluster.layout.pki / "sa.key"
    signature = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", str(key)],
        input=signed.encode(),
        capture_output=True,
        check=True,
    ).stdout
    return f"{signed}.{_b64encode(signature)}"
