"""`daeploy kill`: remove versions, never the main one by accident."""

from __future__ import annotations

import time

import click

from daeploy.cli.errors import CliError, InputError
from daeploy.cli.kube import Connector, Kube
from daeploy.cli.lookup import one_version, version_list, versions_of
from daeploy.cli.resource import Obj, is_main, object_name, spec_name, spec_version
from daeploy.cli.spec import check_name, check_version
from daeploy.cli.table import format_services
from daeploy.contract import BUILT_IMAGE_ANNOTATION
from daeploy.images.credentials import CredentialsError
from daeploy.images.reference import ReferenceError, parse
from daeploy.images.registry import Registry, RegistryError

POLL_SECONDS = 1.0


def choose(
    kube: Kube, name: str | None, version: str | None, everything: bool, force_main: bool
) -> list[Obj]:
    """The versions to remove, refusing to orphan a service name of its main version."""
    if name is None:
        if not everything:
            raise InputError(
                f"name the service to kill, or pass --all to kill every service in "
                f"namespace {kube.namespace!r}"
            )
        found = kube.list_services()
        if not found:
            raise CliError(f"there are no services in namespace {kube.namespace!r}")
        return found
    if version is None:
        versions = versions_of(kube, name)
        if len(versions) > 1 and not everything:
            raise InputError(
                f"service {name!r} has {len(versions)} versions ({version_list(versions)}): "
                "give the VERSION to kill, or pass --all to kill them all"
            )
        return versions
    target, versions = one_version(kube, name, version)
    others = [obj for obj in versions if obj is not target]
    if is_main(target) and others and not (everything or force_main):
        raise CliError(
            f"{name} {version} is the main version and {name} has other versions "
            f"({version_list(others)}): make one of them main first "
            f"(`daeploy assign {name} {spec_version(others[-1])}`), or pass --force-main"
        )
    return [target]


def _wait_gone(kube: Kube, objs: list[Obj], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    remaining = {object_name(obj) for obj in objs}
    while remaining:
        remaining = {n for n in remaining if kube.get_service(n) is not None}
        if not remaining:
            return
        if time.monotonic() >= deadline:
            raise CliError(
                f"still being removed after {timeout:.0f} s: {', '.join(sorted(remaining))} "
                "(the operator's finalizer may be stuck; check the operator's logs)"
            )
        time.sleep(POLL_SECONDS)


@click.command()
@click.argument("name", required=False)
@click.argument("version", required=False)
@click.option("--all", "-a", "everything", is_flag=True, help="All versions (of NAME, or of all).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force-main", is_flag=True, help="Allow killing a main version.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=120,
    show_default=True,
    help="Seconds to wait until the versions are gone.",
)
@click.option(
    "--keep-image",
    "-i",
    is_flag=True,
    help="Keep the image a folder deploy pushed (default: remove it from the registry).",
)
@click.pass_obj
def kill(
    conn: Connector,
    name: str | None,
    version: str | None,
    everything: bool,
    yes: bool,
    force_main: bool,
    timeout: float,
    keep_image: bool,
) -> None:
    """Remove version VERSION of service NAME (or its only version, or --all)."""
    if name is not None:
        check_name(name)
    if version is not None:
        check_version(version)
    kube = conn.kube()
    targets = choose(kube, name, version, everything, force_main)
    if not yes:
        click.echo(format_services(targets))
        what = "this version" if len(targets) == 1 else "these versions"
        try:
            confirmed = click.confirm(f"Kill {what}?", default=False)
        except click.Abort:  # no answer: end of input (a script) or Ctrl-C
            confirmed = False
        if not confirmed:
            raise CliError("nothing killed: answer 'y' to confirm, or pass --yes")
    for obj in targets:
        kube.delete_service(object_name(obj))
    _wait_gone(kube, targets, timeout)
    for obj in targets:
        click.echo(f"Killed {spec_name(obj)} {spec_version(obj)}")
        if not keep_image:
            _remove_built_image(obj)


def _remove_built_image(obj: Obj) -> None:
    """Delete the manifest a folder deploy pushed; a failure is said, never fatal."""
    built = ((obj.get("metadata") or {}).get("annotations") or {}).get(BUILT_IMAGE_ANNOTATION)
    image = str((obj.get("spec") or {}).get("image") or "")
    if not built or "@" not in image:
        return
    try:
        reference = parse(image)
        with Registry(reference.registry) as registry:
            registry.delete_manifest(reference.repository, reference.digest or "")
    except (RegistryError, ReferenceError, CredentialsError) as error:
        click.echo(f"Kept image {built}: {error}", err=True)
        return
    click.echo(f"Removed image {built}")
