"""`daeploy token` against a real API server (envtest): the token it prints is checked by the
API server itself, with a TokenReview as the access gate makes one.

No operator runs here, so each test creates the ServiceAccount the operator would have made.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_envtest import ApiNamespace, eventually, service_account_kubeconfig
from cli_support import Daeploy, one_line_error

from daeploy.cli.token import DAY_SECONDS, Issued, describe
from daeploy.contract import ADMIN_ACCOUNT, CALLER_ACCOUNT, TOKEN_AUDIENCE
from daeploy.names import service_audience
from daeploy_operator.kinds import resource_path

SCRIPT = Path(sys.executable).parent / "daeploy"
JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
EXPIRES = re.compile(r"Expires (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


def create_account(apiserver: ApiNamespace, name: str = CALLER_ACCOUNT) -> dict[str, Any]:
    """What the operator makes with the namespace's first service when access control is on."""
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
    path = resource_path("v1", "ServiceAccount", apiserver.namespace)
    return apiserver.api.request("POST", path, body=body) or {}


def delete_account(apiserver: ApiNamespace, name: str = CALLER_ACCOUNT) -> None:
    apiserver.api.request(
        "DELETE", resource_path("v1", "ServiceAccount", apiserver.namespace, name)
    )


def review(apiserver: ApiNamespace, token: str, audience: str) -> dict[str, Any]:
    """The API server's verdict on ``token`` for ``audience``, asked as the admin."""
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token, "audiences": [audience]},
    }
    answer = apiserver.api.request("POST", TOKEN_REVIEWS, body=body) or {}
    return answer["status"]


def username(apiserver: ApiNamespace, account: str) -> str:
    return f"system:serviceaccount:{apiserver.namespace}:{account}"


def printed_token(result: Any) -> str:
    """Standard output is the token and a newline, nothing else."""
    assert result.exit_code == 0, result.output
    token = result.stdout.removesuffix("\n")
    assert result.stdout == token + "\n"
    assert JWT.fullmatch(token), result.stdout
    return token


def claims(token: str) -> dict[str, Any]:
    """The JWT's payload: what the API server signed (iat, exp, aud, ...)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def printed_expiry(stderr: str) -> datetime:
    found = EXPIRES.search(stderr)
    assert found, stderr
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def test_token_authenticates_as_the_caller_for_every_service(
    daeploy: Daeploy, apiserver: ApiNamespace
) -> None:
    create_account(apiserver)
    began = time.time()
    result = daeploy("token")
    token = printed_token(result)
    verdict = review(apiserver, token, TOKEN_AUDIENCE)
    assert verdict["authenticated"] is True, verdict
    assert verdict["user"]["username"] == username(apiserver, CALLER_ACCOUNT)
    assert verdict["audiences"] == [TOKEN_AUDIENCE]
    # Not a token for the API server itself, nor for another audience.
    assert not review(apiserver, token, "https://kubernetes.default.svc").get("authenticated")
    # The default: one day, exactly, from the moment the API server issued it.
    signed = claims(token)
    assert signed["exp"] - signed["iat"] == DAY_SECONDS
    assert abs(signed["exp"] - (began + DAY_SECONDS)) < 60
    # What stderr says: whose, which audience, and the expiry status gave (the JWT's exp).
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert username(apiserver, CALLER_ACCOUNT) in lines[0]
    assert f"audience {TOKEN_AUDIENCE} (every service" in lines[0]
    assert printed_expiry(result.stderr).timestamp() == signed["exp"]
    assert "valid for 1 day)" in lines[1]


def test_admin_token_for_half_a_day(daeploy: Daeploy, apiserver: ApiNamespace) -> None:
    create_account(apiserver, ADMIN_ACCOUNT)
    began = time.time()
    result = daeploy("token", "0.5", "--admin")
    token = printed_token(result)
    verdict = review(apiserver, token, TOKEN_AUDIENCE)
    assert verdict["authenticated"] is True, verdict
    assert verdict["user"]["username"] == username(apiserver, ADMIN_ACCOUNT)
    expires = printed_expiry(result.stderr)
    assert abs(expires.timestamp() - (began + DAY_SECONDS / 2)) < 60
    assert claims(token)["exp"] == expires.timestamp()
    assert "valid for 12 hours)" in result.stderr
    assert "shortened" not in result.stderr


def test_the_shortest_token_is_ten_minutes(daeploy: Daeploy, apiserver: ApiNamespace) -> None:
    create_account(apiserver)
    token = printed_token(daeploy("token", "0.007"))
    signed = claims(token)
    assert signed["exp"] - signed["iat"] == round(0.007 * DAY_SECONDS)
    assert review(apiserver, token, TOKEN_AUDIENCE)["authenticated"] is True


def test_service_token_is_accepted_for_that_service_only(
    daeploy: Daeploy, apiserver: ApiNamespace
) -> None:
    create_account(apiserver)
    result = daeploy("token", "--service", "die_roller")
    token = printed_token(result)
    audience = service_audience(apiserver.namespace, "die_roller")
    verdict = review(apiserver, token, audience)
    assert verdict["authenticated"] is True, verdict
    assert verdict["user"]["username"] == username(apiserver, CALLER_ACCOUNT)
    assert verdict["audiences"] == [audience]
    assert not review(apiserver, token, TOKEN_AUDIENCE).get("authenticated")
    other = service_audience(apiserver.namespace, "yatzee")
    assert not review(apiserver, token, other).get("authenticated")
    assert f"audience {audience} (only service die_roller" in result.stderr


def test_stdout_of_the_script_is_the_token_alone(apiserver: ApiNamespace) -> None:
    """As `TOKEN=$(daeploy token)` sees it: the installed script, its real stdout."""
    create_account(apiserver)
    proc = subprocess.run(
        [str(SCRIPT), "token", "2"],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(apiserver.kubeconfig)},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.removesuffix("\n")
    assert JWT.fullmatch(token), proc.stdout
    assert review(apiserver, token, TOKEN_AUDIENCE)["authenticated"] is True
    assert username(apiserver, CALLER_ACCOUNT) in proc.stderr
    assert token not in proc.stderr


def test_tokens_of_a_deleted_account_stop_working(
    daeploy: Daeploy, apiserver: ApiNamespace
) -> None:
    """What the help promises: delete the account, and a recreated one does not revive them.

    The API server caches a successful review for 10 s, so the old token works that long.
    """
    create_account(apiserver)
    token = printed_token(daeploy("token"))
    assert review(apiserver, token, TOKEN_AUDIENCE)["authenticated"] is True
    old_uid = claims(token)["kubernetes.io"]["serviceaccount"]["uid"]
    delete_account(apiserver)
    recreated = create_account(apiserver)  # as the operator does at its next resync
    assert recreated["metadata"]["uid"] != old_uid
    began = time.monotonic()
    eventually(
        lambda: not review(apiserver, token, TOKEN_AUDIENCE).get("authenticated"),
        "the old token rejected",
        timeout=20,
    )
    assert time.monotonic() - began < 15
    # And it stays rejected: the new account is not the one it was issued for.
    time.sleep(1)
    assert not review(apiserver, token, TOKEN_AUDIENCE).get("authenticated")
    fresh = printed_token(daeploy("token"))
    assert review(apiserver, fresh, TOKEN_AUDIENCE)["authenticated"] is True


@pytest.mark.parametrize(
    ("days", "says"),
    [
        ("0", "positive number of days"),
        ("-1", "positive number of days"),
        ("-0.5", "positive number of days"),
        ("abc", "number of days"),
        ("nan", "number of days"),
        ("0.001", "at least 10 minutes; give DAYS 0.007 or more"),
        ("100000", "at most 2^32 seconds"),
    ],
)
def test_bad_days_is_one_line_naming_days(
    daeploy: Daeploy, no_cluster: Path, days: str, says: str
) -> None:
    """Checked before any cluster is asked (there is none here)."""
    result = daeploy("token", days)
    assert result.exit_code == 2, result.output
    line = one_line_error(result)
    assert line.startswith(f"Error: invalid DAYS {days!r}"), line
    assert says in line, line
    assert result.stdout == ""


def test_a_negative_service_name_is_not_taken_for_days(daeploy: Daeploy, no_cluster: Path) -> None:
    result = daeploy("token", "--service", "-1")
    assert result.exit_code == 2, result.output
    assert one_line_error(result).startswith("Error: --service: invalid service name '-1'")


def test_bad_service_name_names_the_option_and_the_rule(daeploy: Daeploy, no_cluster: Path) -> None:
    result = daeploy("token", "--service", "Die-Roller")
    assert result.exit_code == 2, result.output
    line = one_line_error(result)
    assert line.startswith("Error: --service: invalid service name 'Die-Roller': use lowercase")
    assert "for example 'die_roller'" in line


def test_missing_account_says_who_makes_it(daeploy: Daeploy, apiserver: ApiNamespace) -> None:
    create_account(apiserver, ADMIN_ACCOUNT)  # the other one exists: the right one is named
    result = daeploy("token")
    assert result.exit_code == 1, result.output
    assert one_line_error(result) == (
        f"Error: no ServiceAccount {CALLER_ACCOUNT} in namespace {apiserver.namespace}: the "
        "operator creates it with the namespace's first service when access control is on "
        "(helm value access.enabled)"
    )
    assert result.stdout == ""


def test_missing_namespace_is_the_groups_error(daeploy: Daeploy, apiserver: ApiNamespace) -> None:
    result = daeploy("--namespace", "no-such-namespace", "token")
    assert result.exit_code == 1, result.output
    assert one_line_error(result) == (
        "Error: namespace 'no-such-namespace' does not exist: create it with "
        "`kubectl create namespace no-such-namespace` or choose another with --namespace"
    )


def test_forbidden_is_the_groups_error(
    daeploy: Daeploy, apiserver: ApiNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_account(apiserver)
    kubeconfig = service_account_kubeconfig(
        apiserver.envtest, tmp_path / "dev-kubeconfig", apiserver.namespace, "dev"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    result = daeploy("token")
    assert result.exit_code == 1, result.output
    line = one_line_error(result)
    denied = f"Error: permission denied (403 Forbidden) in namespace '{apiserver.namespace}'"
    assert line.startswith(denied), line
    assert 'cannot create resource "serviceaccounts/token"' in line, line


def test_a_capped_token_is_reported() -> None:
    """envtest sets no --service-account-max-token-expiration, so the capped answer is made up."""
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    asked = Issued("t", requested=30 * DAY_SECONDS, granted=DAY_SECONDS, expires=expires)
    lines = describe(asked, "team-a", CALLER_ACCOUNT, None)
    assert lines[1] == "Expires 2030-01-02 03:04:05 UTC (valid for 1 day)."
    assert lines[2].startswith("The API server shortened it from the 30 days asked for")
    assert "--service-account-max-token-expiration" in lines[2]
    given = Issued("t", requested=DAY_SECONDS, granted=DAY_SECONDS, expires=expires)
    assert len(describe(given, "team-a", CALLER_ACCOUNT, None)) == 2
    later = expires + timedelta(days=29)
    assert len(describe(Issued("t", 30 * DAY_SECONDS, 30 * DAY_SECONDS, later), "a", "b", "c")) == 2


def test_help_explains_the_token(daeploy: Daeploy) -> None:
    result = daeploy("token", "--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert text.startswith("Usage: daeploy token [OPTIONS] [DAYS]")
    for phrase in (
        "Kubernetes ServiceAccount token (TokenRequest API)",
        'Authorization: Bearer $TOKEN"',
        "1 by default",
        "at least 10 minutes",
        "Daeploy 1.x, where leaving out DAYS gave a token that never expires",
        f"--service NAME limits it to that one service (audience "
        f"{service_audience('NAMESPACE', 'NAME')})",
        f"kubectl delete serviceaccount {CALLER_ACCOUNT} -n NAMESPACE",
        "no keys need changing",
        "RoleBinding",
        f"--admin A token of {ADMIN_ACCOUNT}",
    ):
        assert phrase in text, phrase
