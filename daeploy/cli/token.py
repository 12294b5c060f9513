"""`daeploy token`: a token to call the namespace's services with, when access control is on.

The token is the API server's own: a TokenRequest for the namespace's caller (or admin)
ServiceAccount, which the operator creates with the namespace's first service. Only the token
goes to standard output, so ``TOKEN=$(daeploy token)`` works; the rest goes to standard error.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
from kubernetes.client.exceptions import ApiException

from daeploy.cli.errors import CliError, InputError, status_body
from daeploy.cli.kube import REQUEST_TIMEOUT, Connector, Kube
from daeploy.cli.resource import local_time, parse_time
from daeploy.contract import ADMIN_ACCOUNT, CALLER_ACCOUNT, ROUTE_PREFIX, TOKEN_AUDIENCE
from daeploy.names import InvalidNameError, service_audience, validate_service_name

DAY_SECONDS = 86400
DEFAULT_DAYS = 1.0
MIN_SECONDS = 10 * 60  # the API server refuses shorter TokenRequests
MAX_SECONDS = 1 << 32  # ... and longer ones
TOKEN_REQUEST_VERSION = "authentication.k8s.io/v1"
_NEGATIVE_NUMBER = re.compile(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")

HELP = f"""Print a token to call this namespace's services with (access control).

The token is a Kubernetes ServiceAccount token (TokenRequest API) of the namespace's
{CALLER_ACCOUNT} account, which may call every service of the namespace; with --admin of
{ADMIN_ACCOUNT}, which may also change their parameters. Send it as a header:

\b
    TOKEN=$(daeploy token 7)
    curl -X POST -H "Authorization: Bearer $TOKEN" HOST{ROUTE_PREFIX}/NAME/ENTRYPOINT

Standard output gets the token alone; whose it is, for which audience and when it expires go
to standard error.

DAYS is how long the token is valid: 1 by default, fractions allowed (0.5 is 12 hours), at
least 10 minutes (Kubernetes' floor). The API server may give less (its
--service-account-max-token-expiration caps every token); the command then says so. Unlike
Daeploy 1.x, where leaving out DAYS gave a token that never expires, every token expires.

Without --service every service of the namespace accepts the token (audience
{TOKEN_AUDIENCE}); --service NAME limits it to that one service (audience
{service_audience("NAMESPACE", "NAME")}).

Single tokens cannot be revoked; all of an account's tokens can, by deleting the account:

\b
    kubectl delete serviceaccount {CALLER_ACCOUNT} -n NAMESPACE

Its tokens stop working within seconds. The operator recreates the account (within its
resync, 30 s by default), but as a new account that the old tokens were not issued for, so
no keys need changing. Deleting the account's RoleBinding ({CALLER_ACCOUNT} too) takes the
tokens' rights only until the operator recreates the binding. The same goes for
{ADMIN_ACCOUNT}.
"""


class MissingAccount(CliError):
    """The account to issue for does not exist: access control is off in the namespace (or
    no service was deployed there yet). `daeploy monitor` then calls without a token."""


@dataclass(frozen=True)
class Issued:
    """What the API server answered to a TokenRequest, as the command reports it."""

    token: str
    requested: int  # seconds asked for
    granted: int  # seconds the API server gave
    expires: datetime | None


def parse_days(text: str | None) -> int:
    """DAYS as whole seconds for spec.expirationSeconds, or an InputError naming DAYS."""
    if text is None:
        return round(DEFAULT_DAYS * DAY_SECONDS)
    try:
        days = float(text)
    except ValueError:
        days = math.nan
    if not math.isfinite(days):
        raise InputError(
            f"invalid DAYS {text!r}: give the number of days the token is valid, such as 1 or 0.5"
        )
    if days <= 0:
        raise InputError(
            f"invalid DAYS {text!r}: a token must be valid for a positive number of days, "
            "such as 1 or 0.5"
        )
    seconds = round(days * DAY_SECONDS)
    if seconds < MIN_SECONDS:
        least = math.ceil(MIN_SECONDS / DAY_SECONDS * 1000) / 1000
        raise InputError(
            f"invalid DAYS {text!r} ({duration(seconds)}): Kubernetes issues tokens for at "
            f"least 10 minutes; give DAYS {least} or more"
        )
    if seconds > MAX_SECONDS:
        raise InputError(
            f"invalid DAYS {text!r}: Kubernetes issues tokens for at most 2^32 seconds; "
            f"give DAYS {MAX_SECONDS // DAY_SECONDS} or less"
        )
    return seconds


def check_service(name: str) -> str:
    try:
        return validate_service_name(name)
    except InvalidNameError as exc:
        raise InputError(f"--service: {exc}") from None


def duration(seconds: float) -> str:
    """``1 day``, ``12 hours``, ``1 day 6 hours``, ``10 minutes``: the two largest units."""
    rest = max(0, round(seconds))
    parts = []
    for unit, size in (("day", DAY_SECONDS), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts[:2]) or "0 seconds"


def request_token(kube: Kube, account: str, audience: str, seconds: int) -> Issued:
    """POST serviceaccounts/<account>/token; a missing account is a MissingAccount saying why."""
    body = {
        "apiVersion": TOKEN_REQUEST_VERSION,
        "kind": "TokenRequest",
        "spec": {"audiences": [audience], "expirationSeconds": seconds},
    }
    try:
        response = kube.core.create_namespaced_service_account_token(
            account,
            kube.namespace,
            body,
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )
    except ApiException as exc:
        details = status_body(exc).get("details") or {}
        if exc.status == 404 and details.get("kind") == "serviceaccounts":
            raise MissingAccount(
                f"no ServiceAccount {account} in namespace {kube.namespace}: the operator "
                "creates it with the namespace's first service when access control is on "
                "(helm value access.enabled)"
            ) from None
        raise  # the group's handler explains it (a missing namespace, a 403, ...)
    try:
        answer: dict[str, Any] = json.loads(response.data or b"{}")
    finally:
        response.release_conn()
    status = answer.get("status") or {}
    expires = parse_time(status.get("expirationTimestamp"))
    granted = (answer.get("spec") or {}).get("expirationSeconds")
    if not isinstance(granted, int):
        # Not echoed back: judge by the expiry, allowing for a minute of clock skew.
        left = (expires - datetime.now(UTC)).total_seconds() if expires else seconds
        granted = seconds if left >= seconds - 60 else max(0, round(left))
    return Issued(str(status.get("token") or ""), seconds, granted, expires)


def describe(issued: Issued, namespace: str, account: str, service: str | None) -> list[str]:
    """The lines for standard error: whose token, for which audience, when it expires."""
    if service is None:
        audience = f"{TOKEN_AUDIENCE} (every service in namespace {namespace} accepts it)"
    else:
        audience = f"{service_audience(namespace, service)} (only service {service} accepts it)"
    when = "at a time the API server did not say"
    if issued.expires is not None:
        moment = issued.expires.astimezone()
        when = f"{local_time(moment)} {moment.tzname()}"
    lines = [
        f"Token of system:serviceaccount:{namespace}:{account}, for audience {audience}.",
        f"Expires {when} (valid for {duration(issued.granted)}).",
    ]
    if issued.granted < issued.requested:
        lines.append(
            f"The API server shortened it from the {duration(issued.requested)} asked for: its "
            "--service-account-max-token-expiration caps every token, so this is the longest "
            "it gives."
        )
    return lines


class _TokenCommand(click.Command):
    """Reads ``daeploy token -1`` as a DAYS that is not positive, not as an unknown option."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # the parser consumes ``args``
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption:
            for arg in given:
                if arg == "--":
                    break
                if _NEGATIVE_NUMBER.fullmatch(arg):
                    parse_days(arg)  # raises the DAYS error
            raise


@click.command(cls=_TokenCommand, help=HELP, short_help="Print a token to call services with.")
@click.argument("days", metavar="[DAYS]", required=False)
@click.option(
    "--service",
    metavar="NAME",
    help="Only service NAME accepts the token (default: every service of the namespace).",
)
@click.option(
    "--admin",
    is_flag=True,
    help=f"A token of {ADMIN_ACCOUNT}, which may also change parameters "
    f"(default: {CALLER_ACCOUNT}, which may call).",
)
@click.pass_obj
def token(conn: Connector, days: str | None, service: str | None, admin: bool) -> None:
    seconds = parse_days(days)
    if service is not None:
        check_service(service)
    kube = conn.kube()
    account = ADMIN_ACCOUNT if admin else CALLER_ACCOUNT
    namespace = kube.namespace
    audience = TOKEN_AUDIENCE if service is None else service_audience(namespace, service)
    issued = request_token(kube, account, audience, seconds)
    if not issued.token:
        raise CliError(f"the API server answered the TokenRequest for {account} without a token")
    for line in describe(issued, namespace, account, service):
        click.echo(line, err=True)
    click.echo(issued.token)
