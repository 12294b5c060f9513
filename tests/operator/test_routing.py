"""Which version is main, who keeps duplicate versions, which namespace holds a host's routes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dsvc_objects import T0, service_version, stamp

from daeploy.names import label_value
from daeploy_operator.routing import (
    RouteClaim,
    claim_times,
    group_claim_time,
    main_route,
    route_holder,
    split_duplicates,
)


def _versions(*specs: tuple[str, bool, float]) -> list:
    """(version, main, created seconds)."""
    return [service_version("die_roller", v, main=m, created=c) for v, m, c in specs]


def _claims_at(versions: list, claimed: dict[str, float | None]) -> dict[str, str | None]:
    by_version = {v.version: v.resource_name for v in versions}
    return {by_version[ver]: (None if sec is None else stamp(sec)) for ver, sec in claimed.items()}


# (claims: version -> claim second or None, available versions, currently selected, target, winner)
CASES = [
    pytest.param({"1.0.0": 0}, {"1.0.0"}, None, "1.0.0", "1.0.0", id="single-main"),
    pytest.param({"1.0.0": 0}, set(), None, "1.0.0", "1.0.0", id="first-deploy-not-ready"),
    pytest.param({"1.0.0": None}, {"1.0.0"}, None, "1.0.0", "1.0.0", id="nobody-claims"),
    pytest.param(
        {"1.0.0": None, "2.0.0": None},
        {"1.0.0", "2.0.0"},
        None,
        "1.0.0",
        "1.0.0",
        id="nobody-claims-the-first-deployed-is-main",
    ),
    pytest.param(
        {"1.0.0": 0, "2.0.0": 10}, {"1.0.0", "2.0.0"}, "1.0.0", "2.0.0", "2.0.0", id="latest-wins"
    ),
    pytest.param(
        {"1.0.0": 10, "2.0.0": 0}, {"1.0.0", "2.0.0"}, "2.0.0", "1.0.0", "1.0.0", id="switch-back"
    ),
    pytest.param(
        {"1.0.0": 0, "2.0.0": 10},
        {"1.0.0"},
        "1.0.0",
        "1.0.0",
        "2.0.0",
        id="new-main-not-available-old-keeps-serving",
    ),
    pytest.param(
        {"1.0.0": None, "2.0.0": 10},
        {"1.0.0"},
        "1.0.0",
        "1.0.0",
        "2.0.0",
        id="old-main-gave-up-its-claim-but-serves-until-new-is-available",
    ),
    pytest.param(
        {"1.0.0": 0, "2.0.0": 5, "3.0.0": 10},
        {"1.0.0", "2.0.0"},
        None,
        "2.0.0",
        "3.0.0",
        id="falls-back-to-latest-available-claim",
    ),
    pytest.param(
        {"1.0.0": 0, "2.0.0": 10},
        {"1.0.0"},
        "2.0.0",
        "1.0.0",
        "2.0.0",
        id="unavailable-main-falls-back-to-available-claim",
    ),
]


@pytest.mark.parametrize(("claimed", "available", "current", "target", "winner"), CASES)
def test_main_route(
    claimed: dict[str, float | None],
    available: set[str],
    current: str | None,
    target: str | None,
    winner: str | None,
) -> None:
    versions = _versions(*[(v, c is not None, 0) for v, c in claimed.items()])
    route = main_route(
        versions,
        _claims_at(versions, claimed),
        {v.resource_name: v.version in available for v in versions},
        None if current is None else label_value(current),
    )
    assert (route.target, route.winner) == (target, winner)


def test_equal_claims_fall_back_to_creation_then_name() -> None:
    versions = _versions(("1.0.0", True, 0), ("2.0.0", True, 5))
    claims = _claims_at(versions, {"1.0.0": 3, "2.0.0": 3})
    route = main_route(versions, claims, {v.resource_name: True for v in versions}, None)
    assert route.winner == "2.0.0"


def test_claim_times_keep_old_claims_and_stamp_new_ones() -> None:
    kept = service_version(
        "die_roller", "1.0.0", main=True, status={"mainClaimedAt": "2024-01-01T00:00:00.5Z"}
    )
    new = service_version("die_roller", "2.0.0", main=True)
    gave_up = service_version(
        "die_roller", "3.0.0", main=False, status={"mainClaimedAt": "2024-01-01T00:00:00Z"}
    )
    now = T0 + timedelta(microseconds=250)
    claims = claim_times([kept, new, gave_up], now)
    assert claims[kept.resource_name] == "2024-01-01T00:00:00.5Z"
    assert claims[new.resource_name] == "2024-05-01T12:00:00.000250Z"
    assert claims[gave_up.resource_name] is None


def test_fractional_claims_compare_as_times_not_text() -> None:
    early = service_version("die_roller", "1.0.0", main=True)
    late = service_version("die_roller", "2.0.0", main=True)
    # As text "…:05Z" > "…:05.5Z"; as times it is earlier.
    claims = {
        early.resource_name: "2024-01-01T00:00:05Z",
        late.resource_name: "2024-01-01T00:00:05.5Z",
    }
    route = main_route(
        [early, late], claims, {early.resource_name: True, late.resource_name: True}, None
    )
    assert route.winner == "2.0.0"


def test_duplicates_leave_the_oldest_in_charge() -> None:
    first = service_version("die_roller", "1.0.0", created=0, resource_name="a-second-name")
    second = service_version("die_roller", "1.0.0", created=9, resource_name="an-earlier-name")
    other = service_version("die_roller", "2.0.0", created=5)
    holders, duplicates = split_duplicates([second, other, first])
    assert {h.resource_name for h in holders} == {"a-second-name", other.resource_name}
    assert duplicates == {"an-earlier-name": first}


@pytest.mark.parametrize(
    ("own", "others", "holder"),
    [
        (RouteClaim("b", stamp(10)), [RouteClaim("a", stamp(0))], "a"),
        (RouteClaim("a", stamp(0)), [RouteClaim("b", stamp(10))], "a"),
        (RouteClaim("b", stamp(0)), [RouteClaim("a", stamp(0))], "a"),
        (RouteClaim("solo", stamp(0)), [], "solo"),
    ],
)
def test_route_holder_is_the_earliest_namespace(
    own: RouteClaim, others: list[RouteClaim], holder: str
) -> None:
    assert route_holder(own, others) == holder


def test_group_claim_time_is_the_first_deploy() -> None:
    versions = _versions(("1.0.0", True, 30), ("2.0.0", False, 4))
    assert group_claim_time(versions) == stamp(4)
