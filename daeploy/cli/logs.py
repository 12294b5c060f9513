"""`daeploy logs`: what a version's pods print (the main version's by default)."""

from __future__ import annotations

import sys

import click

from daeploy.cli.errors import CliError
from daeploy.cli.kube import Connector
from daeploy.cli.lookup import main_or_named
from daeploy.cli.resource import spec_version
from daeploy.cli.spec import check_name, check_version
from daeploy.contract import SERVICE_LABEL, VERSION_LABEL
from daeploy.names import label_value


def _pod_sort_key(pod: dict) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))


@click.command()
@click.argument("name")
@click.argument("version", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option(
    "-n",
    "--tail",
    type=click.IntRange(min=0),
    default=None,
    help="Show only the last N lines (default: all).",
)
@click.pass_obj
def logs(conn: Connector, name: str, version: str | None, follow: bool, tail: int | None) -> None:
    """Print the logs of service NAME (its main version, or VERSION)."""
    check_name(name)
    if version is not None:
        check_version(version)
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
            for chunk in kube.follow_pod_log(pod_name, container, tail):
                sys.stdout.write(chunk.decode("utf-8", errors="replace"))
                sys.stdout.flush()
        except KeyboardInterrupt:
            return
        return
    for pod in pods:
        pod_name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]["name"]
        text = kube.pod_log(pod_name, container, tail)
        if len(pods) == 1:
            click.echo(text, nl=False)
        else:
            for line in text.splitlines():
                click.echo(f"[{pod_name}] {line}")
