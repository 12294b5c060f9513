"""The dashboard's writes, each the CLI's own: make a version main (``daeploy assign``) and
remove one (``daeploy kill``), with the same refusals and the user's own rights."""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException

from daeploy.cli.assign import _wait_for_routing as wait_for_routing
from daeploy.cli.claim import claim_main
from daeploy.cli.errors import CliError
from daeploy.cli.kill import choose
from daeploy.cli.kube import Kube
from daeploy.cli.lookup import one_version
from daeploy.cli.resource import object_name
from daeploy_dashboard.userkube import Refused, refused

CLAIM_TIMEOUT = 30.0
ROUTING_WAIT = 10.0


def _cli_refusal(error: CliError) -> Refused:
    text = error.format_message()
    return Refused(404 if "has no version" in text or "no service named" in text else 409, text)


def make_main(kube: Kube, name: str, version: str) -> str:
    """Claim main for ``version``; returns what to tell the user once the operator routed it
    (or, after a short wait, that it has not yet)."""
    try:
        target, versions = one_version(kube, name, version)
        claim_main(kube, target, versions, CLAIM_TIMEOUT)
    except ApiException as exc:
        raise refused(exc) from None
    except CliError as error:
        raise _cli_refusal(error) from None
    try:
        wait_for_routing(kube, name, version, ROUTING_WAIT)
    except CliError:
        return f"{name} {version} claims main; the operator has not switched the route yet"
    except ApiException as exc:
        raise refused(exc) from None
    return f"{name} {version} is the main version now"


def remove(kube: Kube, name: str, version: str) -> str:
    """Delete one version; never the main one while the name has others (as `daeploy kill`)."""
    try:
        (target,) = choose(kube, name, version, everything=False, force_main=False)
        kube.delete_service(object_name(target))
    except ApiException as exc:
        raise refused(exc) from None
    except CliError as error:
        raise _cli_refusal(error) from None
    return f"{name} {version} is being removed"
