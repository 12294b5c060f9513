"""Weights and shadows: the pure decision and the Traefik objects built from it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from dsvc_objects import service_version

from daeploy.contract import ACCESS_MIDDLEWARE, TRAEFIK_API_VERSION, TRAFFIC_ANNOTATION
from daeploy.names import service_object_name, service_path, version_object_name
from daeploy_operator.resources.service import build_name_service
from daeploy_operator.resources.traffic import (
    ANY_BODY_SIZE,
    build_mirror_service,
    build_name_ingress_route,
    build_split_service,
    mirror_name,
    route_match,
    split_name,
)
from daeploy_operator.routing import MainRoute, Traffic, traffic_split
from daeploy_operator.status import AVAILABLE, Condition, build_status, routed

NAME = "die_roller"


def _versions(*specs: tuple[str, dict]) -> list:
    return [service_version(NAME, v, **spec) for v, spec in specs]


def _all_available(versions: list) -> dict[str, bool]:
    return {v.resource_name: True for v in versions}


def test_every_available_non_main_version_is_a_shadow_by_default() -> None:
    versions = _versions(("1.0.0", {}), ("2.0.0", {}), ("3.0.0", {}))
    traffic = traffic_split(versions, "1.0.0", _all_available(versions))
    assert traffic == Traffic("1.0.0", {"1.0.0": 100}, ("2.0.0", "3.0.0"))


def test_shadow_false_opts_out_and_an_unavailable_version_gets_nothing() -> None:
    versions = _versions(("1.0.0", {}), ("2.0.0", {"shadow": False}), ("3.0.0", {"weight": 10}))
    available = _all_available(versions) | {versions[2].resource_name: False}
    traffic = traffic_split(versions, "1.0.0", available)
    assert traffic == Traffic("1.0.0", {"1.0.0": 100}, ())


def test_canaries_take_their_weight_and_the_main_the_rest() -> None:
    versions = _versions(("1.0.0", {}), ("2.0.0", {"weight": 10}), ("3.0.0", {"weight": 5}))
    traffic = traffic_split(versions, "1.0.0", _all_available(versions))
    assert traffic.weights == {"1.0.0": 85, "2.0.0": 10, "3.0.0": 5}
    assert traffic.shadows == ()
    assert traffic.note == ""


def test_a_weight_on_the_main_itself_is_ignored() -> None:
    versions = _versions(("1.0.0", {"weight": 30}), ("2.0.0", {"weight": 10}))
    traffic = traffic_split(versions, "1.0.0", _all_available(versions))
    assert traffic.weights == {"1.0.0": 90, "2.0.0": 10}


def test_weights_over_100_are_scaled_to_fit_and_say_so() -> None:
    versions = _versions(
        ("1.0.0", {}),
        ("2.0.0", {"weight": 100}),
        ("3.0.0", {"weight": 50}),
        ("4.0.0", {"weight": 50}),
    )
    traffic = traffic_split(versions, "1.0.0", _all_available(versions))
    assert traffic.weights == {"2.0.0": 50, "3.0.0": 25, "4.0.0": 25}
    assert sum(traffic.weights.values()) == 100
    assert "200%" in traffic.note and "spec.weight" in traffic.note


def test_scaling_keeps_whole_percents_that_add_up() -> None:
    versions = _versions(*[(f"{i}.0.0", {"weight": 40}) for i in range(1, 5)])
    traffic = traffic_split(versions, "1.0.0", _all_available(versions))
    assert sum(traffic.weights.values()) == 100
    assert sorted(traffic.weights.values()) == [33, 33, 34]


def test_no_target_no_traffic() -> None:
    assert traffic_split(_versions(("1.0.0", {})), None, {}) == Traffic(None, {}, ())


def test_route_match_is_the_name_and_below_never_a_longer_name() -> None:
    path = service_path(NAME)
    assert route_match(NAME, "") == f"Path(`{path}`) || PathPrefix(`{path}/`)"
    assert route_match(NAME, "a.example").startswith("Host(`a.example`) && (Path(")


def test_a_plain_main_routes_straight_to_its_own_service() -> None:
    versions = _versions(("1.0.0", {}))
    traffic = Traffic("1.0.0", {"1.0.0": 100}, ())
    route = build_name_ingress_route(NAME, "demo", versions, traffic, hosts=[""], guarded=False)
    assert route["apiVersion"] == TRAEFIK_API_VERSION
    assert route["kind"] == "IngressRoute"
    assert route["metadata"]["name"] == service_object_name(NAME)
    [rule] = route["spec"]["routes"]
    assert rule["services"] == [{"name": version_object_name(NAME, "1.0.0"), "port": 80}]
    assert "middlewares" not in rule


def test_canaries_route_through_the_split_and_shadows_through_the_mirror() -> None:
    versions = _versions(("1.0.0", {}), ("2.0.0", {"weight": 10}), ("3.0.0", {}))
    traffic = traffic_split(versions, "1.0.0", _all_available(versions))
    split = build_split_service(NAME, "demo", versions, traffic)
    mirror = build_mirror_service(NAME, "demo", versions, traffic)
    route = build_name_ingress_route(
        NAME, "demo", versions, traffic, hosts=["", "demo.daeploy.local"], guarded=True
    )
    assert split["metadata"]["name"] == split_name(NAME)
    assert split["spec"]["weighted"]["services"] == [
        {"name": version_object_name(NAME, "1.0.0"), "port": 80, "weight": 90},
        {"name": version_object_name(NAME, "2.0.0"), "port": 80, "weight": 10},
    ]
    assert mirror["spec"]["mirroring"] == {
        "name": split_name(NAME),
        "kind": "TraefikService",
        "mirrorBody": True,
        "maxBodySize": ANY_BODY_SIZE,
        "mirrors": [{"name": version_object_name(NAME, "3.0.0"), "port": 80, "percent": 100}],
    }
    assert [r["match"] for r in route["spec"]["routes"]] == [
        route_match(NAME, ""),
        route_match(NAME, "demo.daeploy.local"),
    ]
    for rule in route["spec"]["routes"]:
        assert rule["services"] == [{"name": mirror_name(NAME), "kind": "TraefikService"}]
        assert rule["middlewares"] == [{"name": ACCESS_MIDDLEWARE, "namespace": "demo"}]
    owners = {ref["uid"] for ref in route["metadata"]["ownerReferences"]}
    assert owners == {v.uid for v in versions}


def test_shadows_without_canaries_mirror_the_main_service() -> None:
    versions = _versions(("1.0.0", {}), ("2.0.0", {}))
    traffic = traffic_split(versions, "1.0.0", _all_available(versions))
    mirror = build_mirror_service(NAME, "demo", versions, traffic)
    assert mirror["spec"]["mirroring"]["name"] == version_object_name(NAME, "1.0.0")
    assert mirror["spec"]["mirroring"]["port"] == 80


def test_a_body_limit_from_the_chart_reaches_traefik() -> None:
    versions = _versions(("1.0.0", {}), ("2.0.0", {}))
    traffic = traffic_split(versions, "1.0.0", _all_available(versions))
    mirror = build_mirror_service(NAME, "demo", versions, traffic, 65536)
    assert mirror["spec"]["mirroring"]["maxBodySize"] == 65536


def test_the_per_name_service_carries_the_table_call_service_reads() -> None:
    versions = _versions(("1.0.0", {}), ("2.0.0", {"weight": 10}), ("3.0.0", {}))
    traffic = traffic_split(versions, "1.0.0", _all_available(versions))
    service = build_name_service(NAME, "demo", versions, "1.0.0", traffic)
    table = json.loads(service["metadata"]["annotations"][TRAFFIC_ANNOTATION])
    assert table == {"main": "1.0.0", "weights": {"1.0.0": 90, "2.0.0": 10}, "shadows": ["3.0.0"]}
    assert "annotations" not in build_name_service(NAME, "demo", versions, "1.0.0")["metadata"]


@pytest.mark.parametrize(
    ("version", "text", "percent", "shadow", "reason"),
    [
        ("1.0.0", "main 90%", 90, False, "MainVersion"),
        ("2.0.0", "canary 10%", 10, False, "Canary"),
        ("3.0.0", "shadow", 0, True, "Shadow"),
        ("4.0.0", "", 0, False, "VersionRouted"),
    ],
)
def test_status_says_who_gets_what(
    version: str, text: str, percent: int, shadow: bool, reason: str
) -> None:
    versions = _versions(
        ("1.0.0", {}), ("2.0.0", {"weight": 10}), ("3.0.0", {}), ("4.0.0", {"shadow": False})
    )
    traffic = traffic_split(versions, "1.0.0", _all_available(versions))
    [v] = [x for x in versions if x.version == version]
    route = MainRoute("1.0.0", "1.0.0")
    condition = routed(v, route, holder_namespace="demo", host="", traffic=traffic)
    assert condition.reason == reason
    status = build_status(
        v,
        available=Condition(AVAILABLE, True, "MinimumReplicasAvailable", "up"),
        routed_=condition,
        route=route,
        claimed_at=None,
        host="",
        routes_here=True,
        available_replicas=1,
        now=datetime(2024, 5, 1, tzinfo=UTC),
        traffic=traffic,
    )
    assert (status["traffic"], status["trafficPercent"], status["shadow"]) == (
        text,
        percent,
        shadow,
    )
