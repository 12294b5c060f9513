"""`daeploy dashboard`: where the web dashboard answers, opened in a browser where there is one.

The address comes from the dashboard's Ingress (the chart names it DASHBOARD_NAME): its host
and path, on the address the ingress controller published. Only the address goes to standard
output, so `URL=$(daeploy dashboard --no-browser)` works.
"""

from __future__ import annotations

import os
import sys
import webbrowser
from typing import Any

import click
from kubernetes.client.exceptions import ApiException

from daeploy.cli.errors import CliError
from daeploy.cli.kube import Connector, Kube, _ingress_host
from daeploy.contract import DASHBOARD_NAME, DASHBOARD_PATH


def _dashboard_ingresses(kube: Kube) -> list[dict[str, Any]]:
    found = kube._call(
        kube.networking.list_ingress_for_all_namespaces,
        field_selector=f"metadata.name={DASHBOARD_NAME}",
    )
    return found.get("items") or []


def address_of(ingress: dict[str, Any], fallback_host: str) -> str:
    """``<scheme>://<host><path>/`` of the dashboard's Ingress; ``fallback_host`` when the
    Ingress names no host and its controller published no address."""
    spec = ingress.get("spec") or {}
    rule = (spec.get("rules") or [{}])[0]
    paths = (rule.get("http") or {}).get("paths") or [{}]
    path = str(paths[0].get("path") or "/").rstrip("/")
    scheme = "https" if spec.get("tls") else "http"
    host = rule.get("host")
    base = f"{scheme}://{host}" if host else (_ingress_host([ingress]) or fallback_host)
    return f"{base.rstrip('/')}{path}/"


def dashboard_address(kube: Kube) -> tuple[str, str]:
    """The address, and a note for standard error when it had to be guessed."""
    try:
        found = _dashboard_ingresses(kube)
    except ApiException as exc:
        if exc.status != 403:
            raise
        guess = f"{kube.active_host().rstrip('/')}{DASHBOARD_PATH}/"
        note = (
            "you may not list Ingresses in all namespaces, so this is the chart's default "
            f"path on the ingress (dashboard.path may differ): {guess}"
        )
        return guess, note
    if not found:
        raise CliError(
            f"no dashboard on this cluster (no Ingress named {DASHBOARD_NAME}): install the "
            "chart with --set dashboard.enabled=true"
        )
    return address_of(found[0], kube.active_host()), ""


def has_display() -> bool:
    """Whether a graphical browser could open here (never a text browser in the terminal)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@click.command()
@click.option("--no-browser", is_flag=True, help="Only print the address.")
@click.pass_obj
def dashboard(conn: Connector, no_browser: bool) -> None:
    """Print the web dashboard's address, and open it in a browser where there is one.

    Log in with a Kubernetes token (`kubectl create token ACCOUNT`): the dashboard shows and
    changes what that account may.
    """
    address, note = dashboard_address(conn.kube())
    click.echo(address)
    if note:
        click.echo(note, err=True)
    if not no_browser and has_display() and webbrowser.open(address):
        click.echo("opened in your browser", err=True)
