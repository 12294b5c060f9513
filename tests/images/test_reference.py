"""Image references and registry settings, read as Docker reads them."""

from __future__ import annotations

import pytest

from daeploy.images.reference import Reference, ReferenceError, parse, parse_registry

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("python", Reference("docker.io", "library/python", None, None)),
        ("python:3.11-slim", Reference("docker.io", "library/python", "3.11-slim", None)),
        ("team/app:1.0", Reference("docker.io", "team/app", "1.0", None)),
        (
            "172.30.255.2:5000/default/np:1.0.0",
            Reference("172.30.255.2:5000", "default/np", "1.0.0"),
        ),
        (f"ghcr.io/a/b@{DIGEST}", Reference("ghcr.io", "a/b", None, DIGEST)),
        (f"localhost/x:1@{DIGEST}", Reference("localhost", "x", "1", DIGEST)),
    ],
)
def test_parse(text: str, expected: Reference) -> None:
    assert parse(text) == expected


def test_round_trip_and_pinning() -> None:
    ref = parse("registry.local:5000/team/app:1.0")
    assert str(ref) == "registry.local:5000/team/app:1.0"
    assert ref.reference == "1.0"
    pinned = ref.pinned(DIGEST)
    assert str(pinned) == f"registry.local:5000/team/app@{DIGEST}"
    assert pinned.reference == DIGEST


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", "give a reference"),
        ("a b", "give a reference"),
        ("host.io/App:1", "'App' is not a valid path component"),
        ("host.io/app@sha256:12", "is not sha256:<64 hex>"),
        ("host.io/app:-bad", "tag '-bad'"),
    ],
)
def test_bad_references_name_the_part(text: str, names: str) -> None:
    with pytest.raises(ReferenceError, match=names.replace("(", r"\(")):
        parse(text)


def test_registry_setting() -> None:
    assert parse_registry("ghcr.io/my-team") == ("ghcr.io", "my-team", None)
    assert parse_registry("http://10.0.0.5:5000/") == ("10.0.0.5:5000", "", True)
    assert parse_registry("https://r.example:443/a/b") == ("r.example:443", "a/b", False)
    with pytest.raises(ReferenceError, match="HOST"):
        parse_registry("user@host")
    with pytest.raises(ReferenceError, match="'Team' is not a valid"):
        parse_registry("ghcr.io/Team")
