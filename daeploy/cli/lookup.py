"""Finding a service's versions, with the error an unknown name or version deserves."""

from __future__ import annotations

from daeploy.cli.errors import CliError
from daeploy.cli.kube import Kube
from daeploy.cli.resource import Obj, find_main, sort_services, spec_version


def versions_of(kube: Kube, name: str) -> list[Obj]:
    found = sort_services(kube.list_services(name))
    if not found:
        raise CliError(
            f"no service named {name!r} in namespace {kube.namespace!r} "
            "(see `daeploy ls`, or pick the namespace with --namespace)"
        )
    return found


def version_list(objs: list[Obj]) -> str:
    return ", ".join(spec_version(obj) for obj in objs)


def one_version(kube: Kube, name: str, version: str) -> tuple[Obj, list[Obj]]:
    """The version asked for, and all versions of the name."""
    versions = versions_of(kube, name)
    for obj in versions:
        if spec_version(obj) == version:
            return obj, versions
    raise CliError(
        f"service {name!r} has no version {version!r} (it has: {version_list(versions)})"
    )


def main_or_named(kube: Kube, name: str, version: str | None) -> Obj:
    """The named version, or the main one when no version is given."""
    if version is not None:
        return one_version(kube, name, version)[0]
    versions = versions_of(kube, name)
    main = find_main(versions)
    if main is None:
        raise CliError(
            f"service {name!r} has no main version: name one of {version_list(versions)}"
        )
    return main
