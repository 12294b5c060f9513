"""`daeploy deploy`: a folder (or an image) becomes a running version, no registry needed.

Order matters: everything that can be checked locally is checked before the cluster is
contacted. Every write is a server-side apply of what this deploy asks for (spec.py). A new
version's DaeployService is applied first, then its source ConfigMap, owned by it (the owner's
uid is only known after creation). On a re-deploy the ConfigMap is applied first, so the
rollout the spec change triggers already sees the new source. ``--main`` then claims main
(claim.py); which version serves the name the operator decides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from daeploy.cli import s2i
from daeploy.cli.claim import claim_main
from daeploy.cli.errors import CliError, InputError
from daeploy.cli.kube import Connector, Kube
from daeploy.cli.packing import (
    IgnoreRules,
    PackedSource,
    check_service_folder,
    included_paths,
    pack,
)
from daeploy.cli.progress import Expectation, wait_until_ready
from daeploy.cli.registry import RegistrySetting, base_reference, find
from daeploy.cli.sources import ARCHIVE_SUFFIXES, is_git_url, service_folder
from daeploy.cli.spec import (
    PROBE_SDK,
    Request,
    check_callers,
    check_name,
    check_persistence,
    check_probe,
    check_pull_secrets,
    check_version,
    labels,
    parse_env,
    source_config_map,
)
from daeploy.cli.table import format_services
from daeploy.contract import LOCAL_REGISTRY_CONFIG_MAP, REGISTRY_ENV, ROUTE_PREFIX
from daeploy.images import base as base_image
from daeploy.images import dependencies
from daeploy.images.build import Built, Destination, build, cache_dir
from daeploy.images.credentials import CredentialsError
from daeploy.images.dependencies import DependencyError
from daeploy.images.reference import Reference, ReferenceError
from daeploy.images.registry import Registry, RegistryError


def _check_input(
    name: str,
    version: str,
    path: str | None,
    image: str | None,
    env: tuple[str, ...],
    port: int | None,
    replicas: int | None,
    public: bool = False,
    callers: tuple[str, ...] = (),
    ship: str = "auto",
    pull_secrets: tuple[str, ...] = (),
    runs: Running | None = None,
) -> Request:
    runs = runs or Running()
    check_name(name)
    check_version(version)
    variables = parse_env(env)
    allowed = check_callers(callers)
    probe = check_probe(runs.probe)
    if probe is not None and path is not None and probe["type"] != PROBE_SDK:
        raise InputError(
            f"--probe {runs.probe} is for --image IMAGE: a folder runs on the Daeploy SDK, "
            "whose own health checks are used; leave --probe out"
        )
    persistence = check_persistence(runs.persist, runs.persist_size, runs.storage_class)
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
    if path is not None and not is_git_url(path) and not path.endswith(ARCHIVE_SUFFIXES):
        check_service_folder(Path(path))
        if ship == "configmap":
            pack(Path(path))  # refused here, before the cluster, when it cannot fit
    return Request(
        name=name,
        version=version,
        env=variables,
        image=image,
        port=port,
        replicas=replicas,
        public=public,
        callers=allowed,
        pull_secrets=check_pull_secrets(pull_secrets),
        probe=probe,
        run_as_user=runs.run_as_user,
        persistence=persistence,
    )


def _configmap(request: Request, folder: Path) -> tuple[Request, PackedSource]:
    packed = pack(folder)
    return replace(request, source_digest=packed.digest), packed


def _ship(
    kube: Kube,
    request: Request,
    folder: Path,
    options: ShipOptions,
) -> tuple[Request, PackedSource | None, str | None]:
    """The folder as an image in a registry, or in a ConfigMap, and the line that says why
    when it chose the ConfigMap by itself (said once the version is applied)."""
    check_service_folder(folder)
    if options.ship == "configmap":
        return (*_configmap(request, folder), None)
    hosting = None if options.registry or os.environ.get(REGISTRY_ENV) else kube.registry_hosting()
    setting = find(options.registry, hosting)
    if setting is None:
        if options.ship == "image":
            raise InputError(
                "--ship image needs a registry: give --registry HOST[/PATH] or set "
                f"${REGISTRY_ENV} (this cluster announces none)"
            )
        request, packed = _configmap(request, folder)
        return request, packed, NO_REGISTRY
    try:
        return _ship_with(kube, request, folder, options, setting)
    except (DependencyError, RegistryError, ReferenceError, CredentialsError) as error:
        raise CliError(str(error)) from None


def _ship_with(
    kube: Kube,
    request: Request,
    folder: Path,
    options: ShipOptions,
    setting: RegistrySetting,
) -> tuple[Request, PackedSource | None, str | None]:
    base_ref = base_reference(options.base, setting)
    with Registry(setting.host, setting.insecure) as registry:
        base_registry = (
            registry if base_ref.registry == setting.host else Registry(base_ref.registry)
        )
        base: base_image.BaseImage | None = None
        try:
            if options.ship == "auto":
                requirements = dependencies.read(folder)
                base = base_image.load(base_registry, base_ref, cache_dir())
                # A requirement on the SDK counts here: `daeploy==1.4` is unmet, so it gets an
                # image (which leaves that line out) instead of pip at pod start.
                everything = replace(requirements, lines=requirements.lines + requirements.dropped)
                if not dependencies.unmet(everything, base):
                    try:
                        return (*_configmap(request, folder), NOTHING_TO_BUILD)
                    except InputError:
                        pass  # too large for a ConfigMap: an image has no such limit
            built = _build_image(request, folder, setting, registry, base_ref, base_registry,
                                 options, kube.namespace, base)  # fmt: skip
        finally:
            if base_registry is not registry:
                base_registry.close()
    return replace(request, image=str(built.image), built_image=str(built.tag)), None, None


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 100_000 else f"{count / 1000:.1f} kB"


def _build_image(
    request: Request,
    folder: Path,
    setting: RegistrySetting,
    registry: Registry,
    base_ref: Reference,
    base_registry: Registry,
    options: ShipOptions,
    namespace: str,
    base: base_image.BaseImage | None,
) -> Built:
    files = included_paths(folder, IgnoreRules.for_folder(folder))
    click.echo(
        f"Building an image on {base_ref} (pushing to {setting.host}, {setting.origin})", err=True
    )
    built = build(
        folder,
        files,
        request.name,
        request.version,
        namespace,
        Destination(registry, setting.path),
        base_ref,
        base_registry,
        say=lambda line: click.echo(line, err=True),
        refresh_dependencies=options.rebuild_dependencies,
        base=base,
    )
    for line in built.dropped_requirements:
        click.echo(
            f"requirements.txt: {line!r} left out, the runtime image brings the SDK", err=True
        )
    if built.added_requirements:
        click.echo(
            f"requirements: added {', '.join(built.added_requirements)} (the SDK's `data` extra:"
            " Daeploy 1.x's SDK brought them, and this code uses daeploy.data_types or pins 1.x)",
            err=True,
        )
    sent = ", ".join(f"{kind} {_size(size)}" for kind, size in built.uploaded.items())
    kept = ", ".join(built.reused)
    click.echo(
        f"Image: {built.image} (uploaded: {sent or 'nothing'}"
        + (f"; already in the registry: {kept}" if kept else "")
        + ")",
        err=True,
    )
    return built


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


NO_REGISTRY = (
    f"No registry known (--registry, ${REGISTRY_ENV} or the cluster's "
    f"{LOCAL_REGISTRY_CONFIG_MAP}): the folder traveled in a ConfigMap; requirements.txt is "
    "installed when the pod starts"
)
NOTHING_TO_BUILD = (
    "Needs nothing beyond the runtime image: the folder traveled in a ConfigMap (no image build)"
)


@dataclass(frozen=True)
class Running:
    """How the pods run: probes, user and storage (--probe, --run-as-user, --persist...)."""

    probe: str | None = None
    run_as_user: int | None = None
    persist: bool = False
    persist_size: str | None = None
    storage_class: str | None = None


@dataclass(frozen=True)
class ShipOptions:
    ship: str
    registry: str | None
    base: str | None
    rebuild_dependencies: bool


@click.command()
@click.argument("name")
@click.argument("version")
@click.argument("path", required=False)
@click.option("--image", help="Deploy this built image instead of a folder.")
@click.option(
    "-e",
    "--env",
    multiple=True,
    metavar="NAME[=VALUE]",
    help="Environment variable for the service (repeatable); NAME alone copies NAME's value "
    "from your environment, as in Daeploy 1.x.",
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
@click.option(
    "--ship",
    type=click.Choice(["auto", "image", "configmap"]),
    default="auto",
    show_default=True,
    help="How a folder travels: an image built here and pushed to a registry, or a ConfigMap "
    "(at most 1 MB, requirements installed at pod start); auto builds an image when a "
    "registry is known and the folder needs more than the runtime image has.",
)
@click.option(
    "--registry",
    metavar="HOST[/PATH]",
    help=f"Registry to push folder images to (default ${REGISTRY_ENV}, else the cluster's own).",
)
@click.option(
    "--base",
    metavar="IMAGE",
    help="Image to build on (default: daeploy-runtime in the same registry).",
)
@click.option(
    "--pull-secret",
    "pull_secrets",
    multiple=True,
    metavar="SECRET",
    help="A docker-registry Secret of the namespace the node pulls the image with (repeatable).",
)
@click.option(
    "--rebuild-dependencies",
    is_flag=True,
    help="Install requirements.txt again even if a layer for it is cached.",
)
@click.option(
    "--probe",
    metavar="sdk|tcp|http:/PATH",
    help="How the cluster checks an --image is up: sdk (the default: an image built on the "
    "Daeploy SDK), tcp (the port accepts connections) or http:/PATH (GET PATH answers 2xx/3xx). "
    f"tcp and http are for other images: they get their requests without the {ROUTE_PREFIX}/... "
    "prefix and run as their own USER unless --run-as-user is given.",
)
@click.option(
    "--run-as-user",
    type=click.IntRange(min=1, max=2147483647),
    metavar="UID",
    help="User id the container runs as (never 0); needed for an image whose USER is root or "
    "a name.",
)
@click.option(
    "--persist",
    is_flag=True,
    help="Give this version a volume of its own (a PersistentVolumeClaim) that outlives its "
    "pods; the monitoring store (service.store, monitor=True) is kept on it.",
)
@click.option(
    "--persist-size",
    metavar="SIZE",
    help="Size of the --persist volume (default 1Gi); implies --persist.",
)
@click.option(
    "--storage-class",
    metavar="NAME",
    help="StorageClass of the --persist volume (default: the cluster's); implies --persist.",
)
@click.pass_obj
def deploy(
    conn: Connector,
    name: str,
    version: str,
    path: str | None,
    image: str | None,
    env: tuple[str, ...],
    port: int | None,
    replicas: int | None,
    make_main: bool,
    public: bool,
    callers: tuple[str, ...],
    timeout: float,
    wait: bool,
    ship: str,
    registry: str | None,
    base: str | None,
    rebuild_dependencies: bool,
    pull_secrets: tuple[str, ...],
    probe: str | None,
    run_as_user: int | None,
    persist: bool,
    persist_size: str | None,
    storage_class: str | None,
) -> None:
    """Deploy the service folder PATH (or --image) as version VERSION of service NAME.

    PATH is a folder with service.py, a .tar.gz of one, or a git URL (a branch or tag after
    #). The first version of a name becomes the main one; later versions run beside it until
    `daeploy assign` (or --main) makes them main.
    """
    runs = Running(probe, run_as_user, persist, persist_size, storage_class)
    request = _check_input(
        name, version, path, image, env, port, replicas, public, callers, ship, pull_secrets, runs
    )
    kube = conn.kube()
    host = kube.active_host()
    click.echo(f"Active host: {host}")
    packed = note = None
    if path is not None:
        options = ShipOptions(ship, registry, base, rebuild_dependencies)
        with service_folder(path) as folder:
            from_s2i = s2i.environment(folder)
            if from_s2i:
                click.echo(
                    f"Environment from {s2i.ENVIRONMENT_FILE}: "
                    + ", ".join(e["name"] for e in from_s2i),
                    err=True,
                )
                request = replace(request, env=s2i.merged(from_s2i, request.env))
            request, packed, note = _ship(kube, request, folder, options)
    click.echo("Deploying service...")
    written = apply(kube, request, packed, make_main, timeout)
    if note:
        click.echo(note, err=True)
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
