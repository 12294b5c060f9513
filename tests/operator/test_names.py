"""Child names and labels: valid Kubernetes names and label values, no collisions."""

from __future__ import annotations

import re

import pytest

from daeploy_operator.names import (
    name_child_name,
    service_path,
    url_for,
    version_child_name,
    version_labels,
    version_path,
)

DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

NAMES = ["die_roller", "x", "9lives", "a" * 40, "a_" * 19 + "zz"]
VERSIONS = [
    "1.0.0",
    "1.0.0-rc.1+build.5",
    "1.0.0-rc-1",
    "10.20.30-alpha.beta.gamma.delta+exp.sha.5114f85",
    "1.0.0-" + "x" * 100,
    "1.0.0-" + "x" * 99 + "y",
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("version", VERSIONS)
def test_children_have_valid_service_names_and_label_values(name: str, version: str) -> None:
    # Services need RFC 1035 labels (start with a letter): the strictest kind we create.
    assert DNS_1035_LABEL.fullmatch(version_child_name(name, version))
    assert len(version_child_name(name, version)) <= 63
    assert DNS_1035_LABEL.fullmatch(name_child_name(name))
    for value in version_labels(name, version).values():
        assert len(value) <= 63
        assert LABEL_VALUE.fullmatch(value), value


def test_no_two_versions_share_a_child_name_or_version_label() -> None:
    pairs = [(n, v) for n in NAMES for v in VERSIONS]
    child_names = {version_child_name(n, v) for n, v in pairs}
    labels = {tuple(sorted(version_labels(n, v).items())) for n, v in pairs}
    assert len(child_names) == len(pairs)
    assert len(labels) == len(pairs)


def test_version_child_names_never_equal_a_name_child() -> None:
    name_children = {name_child_name(n) for n in NAMES}
    assert not name_children & {version_child_name(n, v) for n in NAMES for v in VERSIONS}


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("", "/services/a", "/services/a"),
        ("d.example.com", "/services/a_1.0.0", "http://d.example.com/services/a_1.0.0"),
    ],
)
def test_urls(host: str, path: str, expected: str) -> None:
    assert url_for(host, path) == expected


def test_paths_follow_daeploy() -> None:
    assert service_path("die_roller") == "/services/die_roller"
    assert version_path("die_roller", "1.0.0") == "/services/die_roller_1.0.0"
