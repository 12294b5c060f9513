"""The `daeploy` command group: cluster options, subcommands, and one-line errors."""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import click
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from daeploy.cli.assign import assign
from daeploy.cli.dashboard import dashboard
from daeploy.cli.deploy import deploy
from daeploy.cli.errors import explain
from daeploy.cli.init import init
from daeploy.cli.kill import kill
from daeploy.cli.kube import Connector
from daeploy.cli.listing import ls
from daeploy.cli.logs import logs
from daeploy.cli.monitor import monitor
from daeploy.cli.notifications import notifications
from daeploy.cli.token import token
from daeploy.contract import DEBUG_ENV


def _version() -> str:
    try:
        return version("daeploy")
    except PackageNotFoundError:
        return "unknown"


class DaeployGroup(click.Group):
    """Turns Kubernetes client failures anywhere below into one line naming the cluster."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (
            ApiException,
            ConfigException,
            urllib3.exceptions.HTTPError,
            ConnectionError,
            TimeoutError,
        ) as exc:
            conn = ctx.obj if isinstance(ctx.obj, Connector) else None
            target = conn.target if conn else None
            raise explain(
                exc, target.where() if target else None, target.namespace if target else None
            ) from None


@click.group(cls=DaeployGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="daeploy", message="%(prog)s %(version)s")
@click.option(
    "--namespace",
    metavar="NAMESPACE",
    help="Namespace to work in (default: the kubeconfig context's, else 'default').",
)
@click.option(
    "--context", "kube_context", metavar="CONTEXT", help="Kubeconfig context (default: current)."
)
@click.pass_context
def cli(ctx: click.Context, namespace: str | None, kube_context: str | None) -> None:
    """Deploy typed Python functions as versioned HTTP services on Kubernetes.

    Talks to the cluster of your kubeconfig (KUBECONFIG or ~/.kube/config), like kubectl.
    """
    ctx.obj = Connector(context=kube_context, namespace=namespace)


for command in (init, deploy, ls, assign, kill, logs, monitor, notifications, token, dashboard):
    cli.add_command(command)


def main() -> None:
    """The console script: any failure ends in one line, a traceback only with DAEPLOY_DEBUG=1."""
    try:
        cli.main(prog_name="daeploy")
    except Exception as exc:
        # Known failures are CliErrors by now; this is a bug, or a case nobody has met yet.
        if os.environ.get(DEBUG_ENV):
            raise
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        click.echo(
            f"Error: unexpected failure ({detail}); rerun with {DEBUG_ENV}=1 for the traceback "
            "and report it as a daeploy bug",
            err=True,
        )
        sys.exit(1)
