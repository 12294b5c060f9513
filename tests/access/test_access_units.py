"""The parts of access control that need no API server: header parsing, the TTL cache, actions."""

from __future__ import annotations

import pytest

from daeploy.access import DEFAULT_TTL, Action, NoToken, Request, TtlCache, bearer_token
from daeploy.access.cache import token_key
from daeploy.contract import API_GROUP, INVOKE_RESOURCE, PARAMETERS_RESOURCE, PLURAL

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
REQUEST = Request("demo", "die_roller", Action.INVOKE)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    "header", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER  {TOKEN}", [f"Bearer {TOKEN}"]]
)
def test_one_bearer_value_gives_the_token(header: str | list[str]) -> None:
    assert bearer_token(header) == TOKEN


@pytest.mark.parametrize(
    "header",
    [
        None,
        [],
        "",
        "Bearer",
        "Bearer ",
        f"Basic {TOKEN}",
        f"Token {TOKEN}",
        TOKEN,
        f"Bearer {TOKEN} extra",
        f"Bearer {TOKEN}, Bearer {TOKEN}",
        f"Bearer {TOKEN}\x00",
        [f"Bearer {TOKEN}", f"Bearer {TOKEN}"],
        "Bearer " + "a" * (16 * 1024 + 1),
    ],
)
def test_anything_else_has_no_token_and_the_reason_does_not_echo_it(
    header: str | list[str] | None,
) -> None:
    with pytest.raises(NoToken) as refused:
        bearer_token(header)
    assert TOKEN not in str(refused.value)
    assert "aaaa" not in str(refused.value)


def test_actions_ask_for_the_contract_subresources() -> None:
    invoke = REQUEST.resource_attributes()
    assert invoke == {
        "namespace": "demo",
        "verb": "create",
        "group": API_GROUP,
        "resource": PLURAL,
        "subresource": INVOKE_RESOURCE.split("/")[1],
        "name": "die_roller",
    }
    parameters = Request("demo", "die_roller", Action.PARAMETERS).resource_attributes()
    assert parameters["verb"] == "update"
    assert f"{parameters['resource']}/{parameters['subresource']}" == PARAMETERS_RESOURCE


def test_default_ttl_is_ten_seconds_to_the_clock() -> None:
    clock = Clock()
    cache: TtlCache[str] = TtlCache(clock=clock)
    assert cache.ttl == DEFAULT_TTL == 10.0
    key = token_key(TOKEN, REQUEST)
    cache.put(key, "verdict")
    clock.now += 9.99
    assert cache.get(key) == "verdict"
    clock.now += 0.01
    assert cache.get(key) is None
    assert len(cache) == 0


def test_keys_hold_a_hash_of_the_token_and_the_whole_request() -> None:
    digest, request = token_key(TOKEN, REQUEST)
    assert TOKEN not in digest and len(digest) == 64
    assert request == REQUEST
    assert token_key(TOKEN, REQUEST) != token_key(TOKEN, Request("demo", "yatzee", Action.INVOKE))
    assert token_key(TOKEN, REQUEST) != token_key(
        TOKEN, Request("demo", "die_roller", Action.PARAMETERS)
    )
    assert token_key(TOKEN, REQUEST) != token_key(TOKEN + "x", REQUEST)


def test_the_cache_is_bounded_and_ttl_zero_keeps_nothing() -> None:
    clock = Clock()
    cache: TtlCache[int] = TtlCache(ttl=5, max_entries=2, clock=clock)
    keys = [token_key(str(n), REQUEST) for n in range(3)]
    for n, key in enumerate(keys):
        cache.put(key, n)
    assert [cache.get(key) for key in keys] == [None, 1, 2]
    off: TtlCache[int] = TtlCache(ttl=0, clock=clock)
    off.put(keys[0], 0)
    assert off.get(keys[0]) is None
    with pytest.raises(ValueError):
        TtlCache(ttl=-1)
