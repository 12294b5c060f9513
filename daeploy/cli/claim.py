"""Claiming main for a version (`daeploy assign`, `daeploy deploy --main`).

The operator alone decides which version ``/services/<name>`` routes to: the version whose
``spec.main`` became true last, once it is Available. The CLI only makes that claim, on the chosen
version and nowhere else: ``spec.main: true`` applied under a field manager of its own, so a
later deploy's apply (which leaves spec.main out) never withdraws it.

A claim counts from the moment ``spec.main`` became true. A version that still claims from an
earlier assign may hold an older claim than another version's; applying ``true`` again would
change nothing, so its claim is withdrawn first and made again once the operator has seen the
withdrawal. Siblings are never written.
"""

from __future__ import annotations

import time

from daeploy.cli.errors import CliError
from daeploy.cli.kube import Kube
from daeploy.cli.resource import Obj, object_name, parse_time, spec_name, spec_version, status

POLL_SECONDS = 1.0


def _claims(obj: Obj) -> bool:
    return (obj.get("spec") or {}).get("main") is True


def holds_latest_claim(target: Obj, versions: list[Obj]) -> bool:
    """Whether ``target`` claims main later than every other claimant, as the operator recorded.

    Unknown (a claim the operator has not timed yet) counts as not latest.
    """
    if not _claims(target):
        return False
    own = parse_time(status(target).get("mainClaimedAt"))
    if own is None:
        return False
    for obj in versions:
        if object_name(obj) == object_name(target) or not _claims(obj):
            continue
        other = parse_time(status(obj).get("mainClaimedAt"))
        if other is None or other >= own:
            return False
    return True


def _wait_observed(kube: Kube, target: Obj, generation: int, timeout: float) -> None:
    """Until the operator has reconciled ``generation`` of the target's spec."""
    label = f"{spec_name(target)} {spec_version(target)}"
    deadline = time.monotonic() + timeout
    while True:
        obj = kube.get_service(object_name(target))
        if obj is None:
            raise CliError(f"{label} was deleted while claiming main for it")
        observed = status(obj).get("observedGeneration")
        if observed is not None and int(observed) >= generation:
            return
        if time.monotonic() >= deadline:
            raise CliError(
                f"the operator has not seen the withdrawn main claim of {label} after "
                f"{timeout:.0f} s, so it cannot be claimed anew; is the operator running?"
            )
        time.sleep(POLL_SECONDS)


def claim_main(kube: Kube, target: Obj, versions: list[Obj], timeout: float) -> Obj:
    """Make ``target`` the latest main claim among ``versions``; returns the object as written."""
    others_claim = any(_claims(obj) for obj in versions if object_name(obj) != object_name(target))
    if _claims(target) and (not others_claim or holds_latest_claim(target, versions)):
        return target
    if _claims(target):
        withdrawn = kube.apply_main(object_name(target), False)
        generation = int((withdrawn.get("metadata") or {}).get("generation") or 0)
        _wait_observed(kube, withdrawn, generation, timeout)
    return kube.apply_main(object_name(target), True)
