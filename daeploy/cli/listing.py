"""`daeploy ls`: the tutorial's table of services and versions."""

from __future__ import annotations

import click

from daeploy.cli.kube import Connector
from daeploy.cli.lookup import one_version, versions_of
from daeploy.cli.spec import check_name, check_version
from daeploy.cli.table import format_services


@click.command("ls")
@click.argument("name", required=False)
@click.argument("version", required=False)
@click.option(
    "--wide", "-w", is_flag=True, help="Also show what each version runs (image digest or folder)."
)
@click.pass_obj
def ls(conn: Connector, name: str | None, version: str | None, wide: bool) -> None:
    """List services (all, one NAME, or one NAME VERSION); * marks the main version."""
    if name is not None:
        check_name(name)
    if version is not None:
        check_version(version)
    kube = conn.kube()
    if name is None:
        objs = kube.list_services()
    elif version is None:
        objs = versions_of(kube, name)
    else:
        objs = [one_version(kube, name, version)[0]]
    click.echo(format_services(objs, wide=wide))
