"""`daeploy monitor`: the values a version stored (``service.store()``, ``monitor=True``), read
over HTTP from its ``/~monitor`` and printed as tables, or as CSV for a file.

The cluster only says where the version answers (its DaeployService's ``status.url``) and gives
a short token of the namespace's caller account, as `daeploy token --service NAME` would: the
values themselves live in the service's pods, behind the same access control as its
entrypoints. ``--url`` skips the cluster, for a service run locally or a port-forward.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import click
import httpx
from kubernetes.client.exceptions import ApiException

from daeploy.cli.errors import CliError, InputError, _network_reason
from daeploy.cli.kube import Connector, Kube
from daeploy.cli.lookup import main_or_named
from daeploy.cli.monitor_output import (
    BadAnswer,
    Series,
    csv_files,
    csv_text,
    format_values,
    parse_values,
)
from daeploy.cli.resource import Obj, spec_version, status
from daeploy.cli.spec import check_name, check_version
from daeploy.cli.token import MIN_SECONDS, MissingAccount, request_token
from daeploy.contract import CALLER_ACCOUNT, MONITOR_PATH
from daeploy.names import service_audience

DURATION_EXAMPLES = "30s, 15m, 1h or 2d"
TIME_EXAMPLE = "2024-05-01T13:30:00"
URL_EXAMPLE = "http://127.0.0.1:8000"
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smhd])")
# (connect, read) as the Kubernetes calls: a dead address fails fast, a big store may be slow.
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# ``start`` for asking only which variables exist: every series comes back empty.
NAMES_ONLY_START = datetime(9999, 1, 1, tzinfo=UTC)
CSV_SUFFIX_PATH = "/csv"

HELP = f"""Print the values service NAME (its main version, or VERSION) stored.

A service stores values with service.store(name=value) and with monitor=True on entrypoints
and parameters; each version keeps its own. By default every variable is printed as a table,
newest value last, times in your time zone.

\b
    daeploy monitor die_roller --since 1h
    daeploy monitor die_roller 1.0.0 -v rolled --csv > rolled.csv

--csv prints CSV instead, timestamps in UTC as stored: with one --variable that variable's file
(timestamp,value), otherwise one file of all of them (variable,timestamp,value).

The values are read from the version's own address ({MONITOR_PATH} under the route the
operator reports), with a 10-minute token of the namespace's {CALLER_ACCOUNT} account when
access control is on. --url reads from another address instead (a service run locally, a
port-forward) without asking the cluster; give --token when that address needs one.
"""


# --- input -----------------------------------------------------------------------------------


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """``--since``: a duration back from now (30s, 15m, 1h, 2d) or a time (UTC unless it names
    its offset, as `daeploy logs --date`), as an aware UTC time for ``start``."""
    if text is None:
        return None
    given = text.strip()
    found = _DURATION.fullmatch(given)
    if found:
        seconds = float(found.group(1)) * UNIT_SECONDS[found.group(2)]
        if seconds <= 0:
            raise InputError(
                f"invalid --since {text!r}: give a duration longer than zero, such as "
                f"{DURATION_EXAMPLES}"
            )
        try:
            return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
        except OverflowError:
            raise InputError(
                f"invalid --since {text!r}: that is before the calendar starts; give a "
                f"duration such as {DURATION_EXAMPLES}"
            ) from None
    try:
        moment = datetime.fromisoformat(given)
    except ValueError:
        raise InputError(
            f"invalid --since {text!r}: give a duration such as {DURATION_EXAMPLES}, or a time "
            f"such as {TIME_EXAMPLE} (UTC unless it ends with an offset)"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def check_url(text: str) -> str:
    """``--url``: an http(s) address with a host, to put ``/~monitor`` after."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise InputError(
            f"invalid --url {text!r}: give the version's address, such as {URL_EXAMPLE} "
            f"(its {MONITOR_PATH} is read)"
        )
    return text.strip().rstrip("/")


def check_variables(names: tuple[str, ...]) -> list[str]:
    """Each name once, in the order given; an empty name is a mistake worth saying."""
    for name in names:
        if not name.strip():
            raise InputError(
                f"invalid --variable {name!r}: give a variable's name, such as -v rolled"
            )
    return list(dict.fromkeys(names))


# --- where and as whom -----------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A version's address and the token to show it; ``label`` names it in messages, and
    ``no_token`` says why none is sent, for a 401."""

    name: str
    base: str
    label: str
    token: str | None
    no_token: str = ""
    from_cluster: bool = False


def version_address(kube: Kube, obj: Obj, label: str) -> str:
    """``status.url``, absolute: without an ingress host the operator writes just the path,
    which goes under the address `daeploy deploy` prints as the active host."""
    url = str(status(obj).get("url") or "").strip()
    if not url:
        raise CliError(
            f"{label} has no address yet (the operator has not routed it; see `daeploy ls "
            f"{label}`), or give its address with --url"
        )
    if url.startswith("/"):
        return f"{kube.active_host().rstrip('/')}{url}".rstrip("/")
    return url.rstrip("/")


def caller_token(kube: Kube, name: str) -> str | None:
    """A 10-minute token of the caller account that only this service accepts; None when the
    namespace has no such account (access control off: no token is needed)."""
    audience = service_audience(kube.namespace, name)
    try:
        issued = request_token(kube, CALLER_ACCOUNT, audience, MIN_SECONDS)
    except MissingAccount:
        return None
    except ApiException as exc:
        if exc.status == 403:
            raise CliError(
                f"cannot get a token to read {name}'s values: you may not create tokens of "
                f"{CALLER_ACCOUNT} in namespace {kube.namespace} (403 Forbidden); ask for "
                "that right, or give a token with --token"
            ) from None
        raise
    return issued.token or None


def cluster_endpoint(
    conn: Connector, name: str, version: str | None, token: str | None
) -> Endpoint:
    """The version's address and a token from the cluster, unless a token was given."""
    kube = conn.kube()
    obj = main_or_named(kube, name, version)
    label = f"{name} {spec_version(obj)}"
    base = version_address(kube, obj, label)
    token = token or caller_token(kube, name)
    no_token = (
        f"namespace {kube.namespace} has no {CALLER_ACCOUNT} account to get one from (the "
        "operator makes it when access control is on)"
    )
    return Endpoint(name, base, label, token, no_token, from_cluster=True)


# --- reading ---------------------------------------------------------------------------------


def _reason(error: httpx.HTTPError) -> str:
    """Why a connection failed, short; a certificate problem says it is one."""
    reason = _network_reason(error)
    return f"TLS error ({reason})" if "SSL" in reason else reason


class UnknownVariable(Exception):
    """The service answered 412: a variable asked for (or any at all, for the CSV) is absent."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _detail(response: httpx.Response) -> str:
    """The service's (FastAPI's ``detail``) or the gate's (``reason``) word, else the text."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "reason"):
            if isinstance(body.get(key), str) and body[key].strip():
                return " ".join(body[key].split())
    text = " ".join(response.text.split())
    return text[:200] or response.reason_phrase


class Reader:
    """GETs below a version's ``/~monitor``; every failure becomes one line naming it."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def _get(self, suffix: str, variables: list[str], start: datetime | None) -> httpx.Response:
        url = f"{self.endpoint.base}{MONITOR_PATH}{suffix}"
        params: list[tuple[str, str]] = [("variables", name) for name in variables]
        if start is not None:
            params.append(("start", start.astimezone(UTC).isoformat()))
        headers = {"Accept": "application/json"}
        if self.endpoint.token:
            headers["Authorization"] = f"Bearer {self.endpoint.token}"
        try:
            with httpx.Client(timeout=HTTP_TIMEOUT) as client:
                response = client.get(url, params=params, headers=headers)
        except httpx.HTTPError as error:
            hint = (
                f"is it running? (see `daeploy ls {self.endpoint.name}`)"
                if self.endpoint.from_cluster
                else "is it running there?"
            )
            raise CliError(
                f"cannot reach {self.endpoint.label} at {self.endpoint.base}: "
                f"{_reason(error)}; {hint}"
            ) from None
        if response.status_code == 412:
            raise UnknownVariable(_detail(response))
        if response.status_code != 200:
            raise self._refused(response)
        return response

    def _refused(self, response: httpx.Response) -> CliError:
        code = f"{response.status_code} {response.reason_phrase}"
        where = f"{self.endpoint.label} at {self.endpoint.base}"
        detail = _detail(response)
        command = f'--token "$(daeploy token --service {self.endpoint.name})"'
        if response.status_code == 401 and not self.endpoint.token:
            why = f", and {self.endpoint.no_token}" if self.endpoint.no_token else ""
            return CliError(
                f"{where} refused the call ({code}: {detail}): it needs a token{why}; "
                f"give one with {command}"
            )
        if response.status_code == 401:
            return CliError(
                f"{where} refused the token ({code}: {detail}); give a valid one with {command}"
            )
        if response.status_code == 403:
            return CliError(
                f"{where} refused the call ({code}: {detail}): the token's account may not "
                f"call {self.endpoint.name}"
            )
        if response.status_code == 404:
            return CliError(
                f"{where} has no {MONITOR_PATH} ({code}): is that the version's address? "
                "(a Daeploy service answers there)"
            )
        return CliError(f"{where} failed to answer ({code}): {detail}")

    def values(self, variables: list[str], start: datetime | None) -> dict[str, Series]:
        response = self._get("", variables, start)
        try:
            return parse_values(response.json())
        except (ValueError, BadAnswer) as error:
            raise self._bad(error) from None

    def csv(self, variables: list[str], start: datetime | None) -> dict[str, str]:
        response = self._get(CSV_SUFFIX_PATH, variables, start)
        try:
            return csv_files(response.content)
        except BadAnswer as error:
            raise self._bad(error) from None

    def known(self) -> list[str] | None:
        """The variables the version has (names only), or None if it will not say."""
        try:
            return list(self.values([], NAMES_ONLY_START))
        except (CliError, UnknownVariable):
            return None

    def _bad(self, error: Exception) -> CliError:
        return CliError(
            f"{self.endpoint.label} at {self.endpoint.base} answered {MONITOR_PATH} with "
            f"something else than stored values ({error}): is that the version's address?"
        )


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


def unknown_error(reader: Reader, asked: list[str], detail: str) -> CliError:
    """Which asked variable is missing, and what there is instead."""
    label = reader.endpoint.label
    known = reader.known()
    if known is None:
        return CliError(f"{label} has no such variable: {detail}")
    missing = [name for name in asked if name not in known] or asked
    noun = "variable" if len(missing) == 1 else "variables"
    has = f"it has: {', '.join(known)}" if known else "it has stored nothing yet"
    return CliError(f"no {noun} {_quoted(missing)} stored by {label} ({has})")


def empty_note(label: str) -> str:
    return f"{label} has stored no values yet (service.store() and monitor=True store them)"


# --- the command -----------------------------------------------------------------------------


@click.command(help=HELP, short_help="Print the values a service stored.")
@click.argument("name")
@click.argument("version", required=False)
@click.option(
    "-v",
    "--variable",
    "variables",
    multiple=True,
    metavar="NAME",
    help="Only this variable (repeatable; default: all).",
)
@click.option(
    "--since",
    "since_text",
    metavar="DURATION|TIME",
    help=f"Only values stored since then: a duration back from now ({DURATION_EXAMPLES}) or "
    f"a time such as {TIME_EXAMPLE} (UTC unless it ends with an offset).",
)
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (UTC timestamps) instead of tables.")
@click.option(
    "--url",
    "url",
    metavar="BASE",
    help=f"Read from this address (such as {URL_EXAMPLE}) instead of the version's route; "
    "the cluster is not asked.",
)
@click.option(
    "--token",
    "token",
    metavar="TOKEN",
    help=f"Send this token (default: a 10-minute token of {CALLER_ACCOUNT}; none with --url).",
)
@click.pass_obj
def monitor(
    conn: Connector,
    name: str,
    version: str | None,
    variables: tuple[str, ...],
    since_text: str | None,
    as_csv: bool,
    url: str | None,
    token: str | None,
) -> None:
    """Input is checked before any address or cluster is asked, so a typo fails at once."""
    check_name(name)
    if version is not None:
        check_version(version)
    asked = check_variables(variables)
    since = parse_since(since_text)
    given_token = (token.strip() or None) if token is not None else None
    if url is not None:
        label = f"{name} {version}" if version else name
        endpoint = Endpoint(name, check_url(url), label, given_token)
    else:
        endpoint = cluster_endpoint(conn, name, version, given_token)
    reader = Reader(endpoint)
    try:
        if as_csv:
            files = reader.csv(asked, since)
        else:
            data = reader.values(asked, since)
    except UnknownVariable as missing:
        if asked:
            raise unknown_error(reader, asked, missing.detail) from None
        if reader.known() == []:
            # Only the CSV answers 412 for a store without variables.
            click.echo(empty_note(endpoint.label), err=True)
            return
        raise CliError(f"{endpoint.label} could not answer: {missing.detail}") from None
    if as_csv:
        click.echo(csv_text(files, single=len(asked) == 1), nl=False)
        return
    if not data:
        click.echo(empty_note(endpoint.label), err=True)
        return
    click.echo(format_values(data, since))
