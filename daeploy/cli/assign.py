"""`daeploy assign`: make one version the main one, the one the service's name routes to.

The CLI claims main for the chosen version (claim.py) and touches no other version: the operator
routes the name to the latest claim and marks it, which is what this command waits for.
"""

from __future__ import annotations

import time

import click

from daeploy.cli.claim import claim_main
from daeploy.cli.errors import CliError
from daeploy.cli.kube import Connector, Kube
from daeploy.cli.lookup import one_version
from daeploy.cli.resource import is_main, reports_main, spec_version
from daeploy.cli.spec import check_name, check_version
from daeploy.cli.table import format_services

POLL_SECONDS = 1.0


def _wait_for_routing(kube: Kube, name: str, version: str, timeout: float) -> None:
    """Until the operator marks the new main (only if it marks mains at all)."""
    deadline = time.monotonic() + timeout
    while True:
        objs = kube.list_services(name)
        if not reports_main(objs):
            return
        mains = [spec_version(obj) for obj in objs if is_main(obj)]
        if mains == [version]:
            return
        if time.monotonic() >= deadline:
            raise CliError(
                f"the operator has not switched {name} to {version} after {timeout:.0f} s "
                f"(main now: {', '.join(mains) or 'none'}); check the operator's logs"
            )
        time.sleep(POLL_SECONDS)


@click.command()
@click.argument("name")
@click.argument("version")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=60,
    show_default=True,
    help="Seconds to wait for the operator to switch the routing.",
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Accepted so Daeploy 1.x scripts keep working; assign never asks for confirmation.",
)
@click.pass_obj
def assign(conn: Connector, name: str, version: str, timeout: float, yes: bool) -> None:
    """Make VERSION the main version of service NAME.

    Never asks for confirmation (Daeploy 1.x did; its --yes is accepted and changes nothing):
    assigning removes nothing, and assigning the previous main version back undoes it.
    """
    check_name(name)
    check_version(version)
    kube = conn.kube()
    target, versions = one_version(kube, name, version)
    claim_main(kube, target, versions, timeout)
    _wait_for_routing(kube, name, version, timeout)
    click.echo(f"Changed main version of {name} to {version}")
    click.echo(format_services(kube.list_services(name)))
