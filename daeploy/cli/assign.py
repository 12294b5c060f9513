"""`daeploy assign`: make one version the main one, or set its share of the name's traffic.

The CLI claims main for the chosen version (claim.py) and touches no other version: the operator
routes the name to the latest claim and marks it, which is what this command waits for.
``--weight`` and ``--shadow/--no-shadow`` instead set that version's ``spec.weight`` and
``spec.shadow`` (a canary's percent, and whether it gets copies), and wait until the operator
has routed them.
"""

from __future__ import annotations

import time

import click

from daeploy.cli.claim import claim_main
from daeploy.cli.errors import CliError
from daeploy.cli.kube import Connector, Kube
from daeploy.cli.lookup import one_version
from daeploy.cli.resource import Obj, is_main, object_name, reports_main, spec_version, status
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


def _wait_for_traffic(kube: Kube, written: Obj, timeout: float) -> Obj:
    """Until the operator has reconciled the written spec (and so routed it)."""
    generation = int((written.get("metadata") or {}).get("generation") or 0)
    deadline = time.monotonic() + timeout
    while True:
        obj = kube.get_service(object_name(written)) or written
        if int(status(obj).get("observedGeneration") or 0) >= generation:
            return obj
        if time.monotonic() >= deadline:
            raise CliError(
                f"the operator has not routed the new traffic share after {timeout:.0f} s; "
                "check the operator's logs"
            )
        time.sleep(POLL_SECONDS)


def _set_traffic(
    kube: Kube, target: Obj, weight: int | None, shadow: bool | None, timeout: float
) -> None:
    name, version = (target.get("spec") or {}).get("name"), spec_version(target)
    if weight and is_main(target):
        raise CliError(
            f"{name} {version} is the main version: it answers what the canaries leave. Give "
            f"the weight to another version (daeploy assign {name} OTHER_VERSION --weight N)"
        )
    spec = target.get("spec") or {}
    new_weight = int(spec.get("weight") or 0) if weight is None else weight
    new_shadow = spec.get("shadow") is not False if shadow is None else shadow
    written = kube.apply_traffic(object_name(target), new_weight, new_shadow)
    obj = _wait_for_traffic(kube, written, timeout)
    share = str(status(obj).get("traffic") or "")
    said = f"weight {new_weight}%, shadow {'on' if new_shadow else 'off'}"
    click.echo(f"Set {name} {version}: {said}; it now gets: {share or 'no share'}")
    if new_weight and not share.startswith("canary"):
        click.echo(f"(the share applies once {version} is Available)")


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
@click.option(
    "--weight",
    type=click.IntRange(0, 100),
    default=None,
    help="Percent of the requests to NAME (its main route) that VERSION answers (a "
    "canary); the main answers the rest. 0 removes the share. VERSION stays a non-main version.",
)
@click.option(
    "--shadow/--no-shadow",
    default=None,
    help="Whether VERSION gets a copy of every request to NAME (its main route) while it has no "
    "weight (on by default, as in Daeploy 1.x).",
)
@click.pass_obj
def assign(
    conn: Connector,
    name: str,
    version: str,
    timeout: float,
    yes: bool,
    weight: int | None,
    shadow: bool | None,
) -> None:
    """Make VERSION the main version of service NAME, or set its share with --weight/--shadow.

    Never asks for confirmation (Daeploy 1.x did; its --yes is accepted and changes nothing):
    assigning removes nothing, and assigning the previous main version back undoes it.
    """
    check_name(name)
    check_version(version)
    kube = conn.kube()
    target, versions = one_version(kube, name, version)
    if weight is not None or shadow is not None:
        _set_traffic(kube, target, weight, shadow, timeout)
        click.echo(format_services(kube.list_services(name)))
        return
    claim_main(kube, target, versions, timeout)
    _wait_for_routing(kube, name, version, timeout)
    click.echo(f"Changed main version of {name} to {version}")
    click.echo(format_services(kube.list_services(name)))
