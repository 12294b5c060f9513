"""`daeploy deploy`: a folder (or an image) becomes a running version, no registry needed.

Order matters: everything that can be checked locally is checked before the cluster is
contacted. Every write is a server-side apply of what this deploy asks for (spec.py). A new
version's DaeployService is applied first, then its source ConfigMap, owned by it (the owner's
uid is only known after creation). On a re-deploy the ConfigMap is applied first, so the
rollout the spec change triggers already sees the new source. ``--main`` then claims main
(claim.py); which version serves the name the operator decides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from daeploy.cli.claim import claim_main
from daeploy.cli.errors import CliError, InputError
from daeploy.cli.kube import Connector, Kube
from daeploy.cli.packing import PackedSource, pack
from daeploy.cli.progress import Expectation, wait_until_ready
from daeploy.cli.spec import (
    Request,
    check_callers,
    check_name,
    check_version,
    labels,
    parse_env,
    source_config_map,
)
from daeploy.cli.table import format_services


def _check_input(
    name: str,
    version: str,
    path: Path | None,
    image: str | None,
    env: tuple[str, ...],
    port: int | None,
    replicas: int | None,
    public: bool = False,
    callers: tuple[str, ...] = (),
) -> tuple[Request, PackedSource | None]:
    check_name(name)
    check_version(version)
    variables = parse_env(env)
    allowed = check_callers(callers)
    if image is not None and path is not None:
        raise InputError(
            "give either PATH (a service folder) or --image IMAGE (a built image), not both"
        )
    if image is None and path is None:
        raise InputError(
            "missing PATH: give the service folder (for example ./my_project) or --image IMAGE"
        )
    if image is not None and (not image.strip() or any(c.isspace() for c in image)):
        raise InputError(f"invalid --image {image!r}: give an image reference such as repo/app:1.0")
    packed = pack(path) if path is not None else None
    request = Request(
        name=name,
        version=version,
        env=variables,
        image=image,
        source_digest=packed.digest if packed else None,
        port=port,
        replicas=replicas,
        public=public,
        callers=allowed,
    )
    return request, packed


def apply(
    kube: Kube, request: Request, packed: PackedSource | None, make_main: bool, timeout: float
) -> dict[str, Any]:
    """Apply the version and its source (and the main claim); returns the object as written."""
    existing = kube.get_service(request.object_name)
    config_map = source_config_map(request.name, request.version)
    source_labels = labels(request.name, request.version)
    if existing is not None:
        if packed is not None:
            kube.apply_source(config_map, packed.data, existing, source_labels)
        written = kube.apply_service(request.body())
        if packed is None:
            kube.delete_config_map(config_map)
    else:
        written = kube.apply_service(request.body())
        if packed is not None:
            try:
                kube.apply_source(config_map, packed.data, written, source_labels)
            except BaseException:
                kube.delete_service(request.object_name)
                raise
    if make_main:
        written = claim_main(kube, written, kube.list_services(request.name), timeout)
    return written


@click.command()
@click.argument("name")
@click.argument("version")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--image", help="Deploy this built image instead of a folder.")
@click.option(
    "-e",
    "--env",
    multiple=True,
    metavar="NAME=VALUE",
    help="Environment variable for the service (repeatable).",
)
@click.option("--port", type=click.IntRange(1, 65535), help="Port the service listens on.")
@click.option("--replicas", type=click.IntRange(0, 1000), help="Number of pods (default 1).")
@click.option("--main", "make_main", is_flag=True, help="Make this version the main one.")
@click.option(
    "--public",
    is_flag=True,
    help="Answer callers without a token (entrypoints and docs; parameter changes stay closed).",
)
@click.option(
    "--caller",
    "callers",
    multiple=True,
    metavar="NAME",
    help="A service that may call this one (NAME or NAMESPACE/NAME, repeatable); without it "
    "every service of the namespace may.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=300,
    show_default=True,
    help="Seconds to wait for the version to become ready.",
)
@click.option("--wait/--no-wait", default=True, help="Wait until the version is ready.")
@click.pass_obj
def deploy(
    conn: Connector,
    name: str,
    version: str,
    path: Path | None,
    image: str | None,
    env: tuple[str, ...],
    port: int | None,
    replicas: int | None,
    make_main: bool,
    public: bool,
    callers: tuple[str, ...],
    timeout: float,
    wait: bool,
) -> None:
    """Deploy the service folder PATH (or --image) as version VERSION of service NAME.

    The first version of a name becomes the main one; later versions run beside it until
    `daeploy assign` (or --main) makes them main.
    """
    request, packed = _check_input(name, version, path, image, env, port, replicas, public, callers)
    kube = conn.kube()
    host = kube.active_host()
    click.echo(f"Active host: {host}")
    click.echo("Deploying service...")
    written = apply(kube, request, packed, make_main, timeout)
    if not wait:
        click.echo("Service deployment started (follow it with `daeploy ls`)")
        return
    expected = Expectation(
        name=name,
        version=version,
        generation=int((written.get("metadata") or {}).get("generation") or 0),
    )
    try:
        final = wait_until_ready(kube, request.object_name, expected, timeout)
    except KeyboardInterrupt:
        raise CliError(
            f"stopped waiting; {name} {version} keeps deploying in the cluster "
            f"(follow it with `daeploy ls {name}`)"
        ) from None
    final_status = final.get("status") or {}
    url = str(final_status.get("serviceUrl") or final_status.get("url") or "")
    if url:
        # Without an ingress host the operator writes just the path.
        base = f"{host.rstrip('/')}{url}" if url.startswith("/") else url
        click.echo(f"Documentation: {base.rstrip('/')}/docs", err=True)
    click.echo("Service deployed successfully")
    click.echo(format_services(kube.list_services(name)))
