"""`daeploy logs`: what a version's pods print (the main version's by default)."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime

import click

from daeploy.cli.errors import CliError, InputError
from daeploy.cli.kube import Connector
from daeploy.cli.lookup import main_or_named
from daeploy.cli.resource import spec_version
from daeploy.cli.spec import check_name, check_version
from daeploy.contract import SERVICE_LABEL, VERSION_LABEL
from daeploy.names import label_value

DATE_EXAMPLES = "2024-05-01, '2024-05-01 13:30:00' or 2024-05-01T13:30:00+02:00"


def _pod_sort_key(pod: dict) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))


def parse_tail(text: str | None) -> int | None:
    """``-n``: a number of lines, or ``all`` (Daeploy 1.x's word for every line)."""
    if text is None or text.strip().lower() == "all":
        return None
    if not re.fullmatch(r"\d+", text.strip()):
        raise InputError(
            f"invalid --tail {text!r}: give a number of lines (-n 100) or all (-n all)"
        )
    return int(text)


def parse_date(text: str | None) -> datetime | None:
    """``--date``: ISO 8601 like Daeploy 1.x's formats; UTC unless it names its offset (1.x
    took it as UTC too)."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"invalid --date {text!r}: give a date or date and time such as {DATE_EXAMPLES} "
            "(UTC unless it ends with an offset)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@click.command()
@click.argument("name")
@click.argument("version", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option(
    "-n",
    "--tail",
    "tail_text",
    metavar="N|all",
    default=None,
    help="Show only the last N lines; all (the default) shows every line.",
)
@click.option(
    "-d",
    "--date",
    "date_text",
    metavar="DATETIME",
    default=None,
    help=f"Show only lines logged since DATETIME, for example {DATE_EXAMPLES}; "
    "UTC unless it ends with an offset.",
)
@click.pass_obj
def logs(
    conn: Connector,
    name: str,
    version: str | None,
    follow: bool,
    tail_text: str | None,
    date_text: str | None,
) -> None:
    """Print the logs of service NAME (its main version, or VERSION)."""
    check_name(name)
    if version is not None:
        check_version(version)
    tail = parse_tail(tail_text)
    since = parse_date(date_text)
    kube = conn.kube()
    chosen = spec_version(main_or_named(kube, name, version))
    selector = f"{SERVICE_LABEL}={label_value(name)},{VERSION_LABEL}={label_value(chosen)}"
    pods = sorted(kube.list_pods(selector), key=_pod_sort_key)
    if not pods:
        raise CliError(f"{name} {chosen} has no pods yet (see `daeploy ls {name}`)")
    if follow:
        pod = pods[-1]
        pod_name = pod["metadata"]["name"]
        if len(pods) > 1:
            click.echo(f"following the newest of {len(pods)} pods: {pod_name}", err=True)
        container = pod["spec"]["containers"][0]["name"]
        try:
            for chunk in kube.follow_pod_log(pod_name, container, tail, since_time=since):
                sys.stdout.write(chunk.decode("utf-8", errors="replace"))
                sys.stdout.flush()
        except KeyboardInterrupt:
            return
        return
    for pod in pods:
        pod_name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]["name"]
        text = kube.pod_log(pod_name, container, tail, since_time=since)
        if len(pods) == 1:
            click.echo(text, nl=False)
        else:
            for line in text.splitlines():
                click.echo(f"[{pod_name}] {line}")
