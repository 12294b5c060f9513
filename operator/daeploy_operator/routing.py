"""Who gets which route: pure decisions over all versions of a service name.

- Duplicates: two DaeployServices with the same name and version would fight over the same
  children; the oldest keeps them.
- Main: the latest claim (``spec.main`` becoming true) wins; with no claim, the first version
  deployed. The route moves to the winner only once it is Available, so a new main that never
  comes up leaves the old main serving. This is the only place that decides main.
- Hosts: one namespace per (host, name) holds the routes; the earliest to deploy the name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from daeploy.names import label_value

from . import timestamps
from .spec import ServiceVersion


def split_duplicates(
    versions: Iterable[ServiceVersion],
) -> tuple[list[ServiceVersion], dict[str, ServiceVersion]]:
    """Holders (one per version string, the oldest) and a map duplicate name -> its holder."""
    by_version: dict[str, list[ServiceVersion]] = {}
    for v in versions:
        by_version.setdefault(v.version, []).append(v)
    holders: list[ServiceVersion] = []
    duplicates: dict[str, ServiceVersion] = {}
    for group in by_version.values():
        group.sort(key=lambda v: (timestamps.parse(v.created_at), v.resource_name))
        holders.append(group[0])
        for other in group[1:]:
            duplicates[other.resource_name] = group[0]
    holders.sort(key=lambda v: v.resource_name)
    return holders, duplicates


def claim_times(versions: Iterable[ServiceVersion], now: datetime) -> dict[str, str | None]:
    """When each version's main claim was made: kept from status, or now for a new claim."""
    claims: dict[str, str | None] = {}
    for v in versions:
        if not v.main:
            claims[v.resource_name] = None
        else:
            claims[v.resource_name] = v.status.get("mainClaimedAt") or timestamps.to_micros(now)
    return claims


@dataclass(frozen=True)
class MainRoute:
    """Where /services/<name> points (``target``) and which version's claim wins (``winner``)."""

    target: str | None
    winner: str | None


def _claim_order(v: ServiceVersion, claims: Mapping[str, str | None]) -> tuple[datetime, ...]:
    return (timestamps.parse(claims.get(v.resource_name)), timestamps.parse(v.created_at))


def main_route(
    versions: Sequence[ServiceVersion],
    claims: Mapping[str, str | None],
    available: Mapping[str, bool],
    current_label: str | None,
) -> MainRoute:
    """Decide the main route from claims, availability and what the route serves now.

    ``current_label`` is the version label the per-name Service selects at the moment.
    """
    claimants = [v for v in versions if claims.get(v.resource_name)]
    if claimants:
        ordered = sorted(claimants, key=lambda v: (*_claim_order(v, claims), v.resource_name))
    elif versions:
        # No version claims main: the first one deployed is, as in Daeploy 1.x, whichever
        # client (kubectl, helm, the CLI) wrote the specs.
        ordered = [min(versions, key=lambda v: (timestamps.parse(v.created_at), v.resource_name))]
    else:
        return MainRoute(target=None, winner=None)
    winner = ordered[-1]
    if available.get(winner.resource_name, False):
        return MainRoute(target=winner.version, winner=winner.version)
    current = next((v for v in versions if label_value(v.version) == current_label), None)
    if current is not None and available.get(current.resource_name, False):
        return MainRoute(target=current.version, winner=winner.version)
    for v in reversed(ordered[:-1]):
        if available.get(v.resource_name, False):
            return MainRoute(target=v.version, winner=winner.version)
    # Nothing available yet: point at the winner so it serves as soon as it is ready.
    return MainRoute(target=winner.version, winner=winner.version)


@dataclass(frozen=True)
class RouteClaim:
    """A namespace's claim on a service name's routes on one host."""

    namespace: str
    claimed_at: str


def route_holder(own: RouteClaim, others: Iterable[RouteClaim]) -> str:
    """The namespace that keeps the routes: the earliest claim, then the namespace name."""
    claims = [own, *others]
    earliest = min(claims, key=lambda c: (timestamps.parse(c.claimed_at), c.namespace))
    return earliest.namespace


def group_claim_time(versions: Iterable[ServiceVersion]) -> str:
    """A namespace claims a name's routes when it first deployed the name."""
    created = [v.created_at for v in versions if v.created_at]
    return min(created, key=timestamps.parse) if created else ""


@dataclass(frozen=True)
class Traffic:
    """How /services/<name> shares its requests: answered by weight, copied to shadows.

    ``weights`` holds whole percents summing to 100 (the main's is the rest), zero shares left
    out; ``note`` says why the asked weights could not be met as written.
    """

    main: str | None
    weights: Mapping[str, int]
    shadows: tuple[str, ...]
    note: str = ""

    def share(self, version: str) -> int:
        return self.weights.get(version, 0)

    def table(self) -> dict[str, object]:
        """What the per-name Service's annotation says, for call_service."""
        return {"main": self.main, "weights": dict(self.weights), "shadows": list(self.shadows)}


def traffic_split(
    versions: Sequence[ServiceVersion], target: str | None, available: Mapping[str, bool]
) -> Traffic:
    """Canaries and shadows among the Available versions that are not the route's target.

    Only Available versions take part, so a version that stops being Available loses its share
    (back to the main) and its copies in the same reconcile. Weights over 100 in total are
    scaled down to fit, and the main then answers nothing: said in ``note``.
    """
    if target is None:
        return Traffic(main=None, weights={}, shadows=())
    others = [v for v in versions if v.version != target and available.get(v.resource_name, False)]
    canaries = {v.version: v.weight for v in others if v.weight > 0}
    shadows = tuple(sorted(v.version for v in others if v.weight == 0 and v.shadow))
    asked = sum(canaries.values())
    note = ""
    if asked > 100:
        canaries = _scaled(canaries, 100)
        note = (
            f"the canaries of this name ask for {asked}% together; scaled to 100%, so the main "
            "version answers nothing: lower spec.weight on some of them"
        )
    weights = {target: 100 - sum(canaries.values()), **canaries}
    return Traffic(
        main=target,
        weights={v: w for v, w in sorted(weights.items()) if w > 0},
        shadows=shadows,
        note=note,
    )


def _scaled(weights: Mapping[str, int], total: int) -> dict[str, int]:
    """Largest remainder: whole percents in proportion that add up to exactly ``total``."""
    asked = sum(weights.values())
    exact = {v: w * total / asked for v, w in weights.items()}
    scaled = {v: int(x) for v, x in exact.items()}
    left = total - sum(scaled.values())
    for v in sorted(exact, key=lambda v: (scaled[v] - exact[v], v))[:left]:
        scaled[v] += 1
    return scaled
