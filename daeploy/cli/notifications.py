"""`daeploy notifications`: what services said with `notify`, newest first."""

from __future__ import annotations

import click

from daeploy.cli.errors import CliError
from daeploy.cli.kube import Connector
from daeploy.cli.spec import check_name, check_version
from daeploy.cli.table import format_notifications
from daeploy.contract import EVENT_REASON, KIND, SERVICE_LABEL, VERSION_LABEL

FIELD_SELECTOR = f"reason={EVENT_REASON},involvedObject.kind={KIND}"


@click.command()
@click.argument("name", required=False)
@click.argument("version", required=False)
@click.pass_obj
def notifications(conn: Connector, name: str | None, version: str | None) -> None:
    """Show notifications (of service NAME, or NAME VERSION)."""
    if name is not None:
        check_name(name)
    if version is not None:
        check_version(version)
    kube = conn.kube()
    events = kube.list_events(FIELD_SELECTOR)

    def wanted(event: dict) -> bool:
        notes = (event.get("metadata") or {}).get("annotations") or {}
        return (name is None or notes.get(SERVICE_LABEL) == name) and (
            version is None or notes.get(VERSION_LABEL) == version
        )

    selected = [event for event in events if wanted(event)]
    if name is not None and not selected and not kube.list_services(name):
        raise CliError(f"no service named {name!r} in namespace {kube.namespace!r}")
    click.echo(format_notifications(selected))
