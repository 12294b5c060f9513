"""The operator's access-control manifests, pure: identities, Roles, bindings, the Middleware,
the Deployment's token and gate settings, the Ingress annotations and the settings behind them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dsvc_objects import dsvc_object, service_version

from daeploy.contract import (
    ACCESS_GATE_URL_ENV,
    ACCESS_INGRESS_ANNOTATIONS_ENV,
    ACCESS_INGRESS_GATE_URL_ENV,
    ACCESS_MIDDLEWARE,
    ACCESS_TRAEFIK_MIDDLEWARE_ENV,
    ACCESS_TRAEFIK_PLUGIN_ENV,
    ACCESS_URL_ENV,
    ADMIN_ACCOUNT,
    API_GROUP,
    API_GROUP_VERSION,
    CALL_TOKEN_DIR,
    CALL_TOKEN_FILE_ENV,
    CALLER_ACCOUNT,
    CALLERS_ROLE_SUFFIX,
    EVENTS_ROLE,
    GATE_CACHE_SECONDS_ENV,
    GATE_INGRESS_PATH,
    INVOKE_RESOURCE,
    KIND,
    MANAGED_BY_LABEL,
    MANAGED_BY_OPERATOR,
    PARAMETERS_RESOURCE,
    PEERS_ROLE,
    PUBLIC_ENV,
    ROUTE_CLAIM_ANNOTATION,
    RUNTIME_IMAGE,
    SERVICE_ACCOUNT_PREFIX,
    SERVICE_LABEL,
    SERVICE_NAME_ENV,
    TOKEN_AUDIENCE,
    TRAEFIK_API_VERSION,
)
from daeploy.names import InvalidNameError, label_value, service_account_name
from daeploy_operator.resources import rbac
from daeploy_operator.resources.deployment import CALL_TOKEN_FILE, build_version_deployment
from daeploy_operator.resources.ingress import build_name_ingress
from daeploy_operator.resources.middleware import build_access_middleware
from daeploy_operator.resources.rbac import (
    build_callers_role,
    build_callers_role_binding,
    build_events_role,
    build_events_role_binding,
    build_peers_role,
    build_peers_role_binding,
    build_people_accounts,
    build_service_account,
    caller_subject,
    callers_role_name,
    open_to_peers,
)
from daeploy_operator.settings import OperatorSettings, SettingsError
from daeploy_operator.spec import ServiceVersion

RUNTIME = RUNTIME_IMAGE
GATE = "http://gate.example:8480"
RBAC_GROUP = "rbac.authorization.k8s.io"
INVOKE = {"apiGroups": [API_GROUP], "resources": [INVOKE_RESOURCE], "verbs": ["create"]}
UPDATE_PARAMETERS = {
    "apiGroups": [API_GROUP],
    "resources": [PARAMETERS_RESOURCE],
    "verbs": ["update"],
}


def _account(name: str, namespace: str = "demo") -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def _sa(service: str, namespace: str = "demo") -> dict[str, str]:
    return _account(service_account_name(service), namespace)


def _owner_uids(manifest: dict[str, Any]) -> list[str]:
    return [o["uid"] for o in manifest["metadata"]["ownerReferences"]]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(deployment: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in _container(deployment)["env"]}


# --- per service name ----------------------------------------------------------------------


def test_per_name_service_account_is_owned_by_every_version_none_controlling() -> None:
    owners = [service_version("die_roller", "2.0.0"), service_version("die_roller", "1.0.0")]
    account = build_service_account("die_roller", "demo", owners)
    assert account["apiVersion"] == "v1" and account["kind"] == "ServiceAccount"
    assert account["metadata"]["name"] == service_account_name("die_roller")
    assert account["metadata"]["name"] == SERVICE_ACCOUNT_PREFIX + "die-roller"
    assert account["metadata"]["namespace"] == "demo"
    assert account["metadata"]["labels"] == {
        MANAGED_BY_LABEL: MANAGED_BY_OPERATOR,
        SERVICE_LABEL: label_value("die_roller"),
    }
    references = account["metadata"]["ownerReferences"]
    # Sorted by resource name, so the applied object does not change with the owners' order.
    assert [r["name"] for r in references] == sorted(o.resource_name for o in owners)
    assert {r["uid"] for r in references} == {o.uid for o in owners}
    for reference in references:
        assert reference["apiVersion"] == API_GROUP_VERSION and reference["kind"] == KIND
        assert reference["controller"] is False and reference["blockOwnerDeletion"] is False
    # No rights of its own on the account: only bindings grant.
    assert set(account) == {"apiVersion", "kind", "metadata"}


def test_callers_role_lets_invoke_this_service_and_nothing_else() -> None:
    owners = [service_version("die_roller", "1.0.0", callers=["yatzee"])]
    role = build_callers_role("die_roller", "demo", owners)
    assert role["kind"] == "Role" and role["apiVersion"] == f"{RBAC_GROUP}/v1"
    assert role["metadata"]["name"] == callers_role_name("die_roller")
    assert callers_role_name("die_roller") == service_account_name("die_roller") + (
        CALLERS_ROLE_SUFFIX
    )
    assert role["metadata"]["namespace"] == "demo"
    assert role["rules"] == [INVOKE | {"resourceNames": ["die_roller"]}]
    [rule] = role["rules"]
    assert rule["verbs"] == ["create"] and rule["resources"] == [INVOKE_RESOURCE]
    assert PARAMETERS_RESOURCE not in json.dumps(role)
    # The shared rule constant is not changed by building (the people's Roles use it bare).
    assert "resourceNames" not in rbac.INVOKE_RULE


def test_callers_role_binding_takes_the_callers_of_every_version() -> None:
    owners = [
        service_version("die_roller", "1.0.0", callers=["yatzee"]),
        service_version("die_roller", "2.0.0", callers=["other/yatzee", "scoreboard", "yatzee"]),
        service_version("die_roller", "3.0.0"),  # callers unset: adds nobody here
    ]
    binding = build_callers_role_binding("die_roller", "demo", owners)
    assert binding["kind"] == "RoleBinding"
    assert binding["metadata"]["name"] == callers_role_name("die_roller")
    assert binding["metadata"]["labels"][SERVICE_LABEL] == label_value("die_roller")
    assert binding["roleRef"] == {
        "apiGroup": RBAC_GROUP,
        "kind": "Role",
        "name": callers_role_name("die_roller"),
    }
    assert binding["subjects"] == [
        _sa("scoreboard", "demo"),
        _sa("yatzee", "demo"),
        _sa("yatzee", "other"),
    ]
    assert len(_owner_uids(binding)) == 3


@pytest.mark.parametrize(
    "callers_per_version",
    [[None], [[]], [None, []], [[], []]],
    ids=["unset", "empty", "unset-and-empty", "two-empty"],
)
def test_callers_role_binding_without_callers_has_no_subjects(
    callers_per_version: list[list[str] | None],
) -> None:
    owners = [
        service_version("die_roller", f"{n + 1}.0.0", **({} if c is None else {"callers": c}))
        for n, c in enumerate(callers_per_version)
    ]
    binding = build_callers_role_binding("die_roller", "demo", owners)
    assert binding["subjects"] == []
    assert binding["roleRef"]["name"] == callers_role_name("die_roller")


def test_invalid_callers_are_skipped_the_valid_kept() -> None:
    bad = ["Yatzee", "die-roller", "", "games/", "_yatzee", "yatzee_", "y" * 41, "a b"]
    owners = [service_version("die_roller", "1.0.0", callers=[*bad, "yatzee", "games/dice"])]
    binding = build_callers_role_binding("die_roller", "demo", owners)
    assert binding["subjects"] == [_sa("yatzee", "demo"), _sa("dice", "games")]
    for caller in bad:
        with pytest.raises(InvalidNameError):
            caller_subject(caller, "demo")
    assert caller_subject("yatzee", "demo") == _sa("yatzee", "demo")
    assert caller_subject("games/yatzee", "demo") == _sa("yatzee", "games")


# --- per namespace -------------------------------------------------------------------------


def test_peers_role_names_only_services_no_version_of_which_sets_callers() -> None:
    owners = [
        service_version("die_roller", "1.0.0"),
        service_version("die_roller", "2.0.0"),
        service_version("yatzee", "1.0.0", callers=["die_roller"]),
        service_version("scoreboard", "1.0.0"),
        # One version restricts, the other does not: restricted.
        service_version("vault", "1.0.0"),
        service_version("vault", "2.0.0", callers=[]),
    ]
    assert open_to_peers(owners) == ["die_roller", "scoreboard"]
    role = build_peers_role("demo", owners)
    assert role["metadata"]["name"] == PEERS_ROLE
    assert role["rules"] == [INVOKE | {"resourceNames": ["die_roller", "scoreboard"]}]


@pytest.mark.parametrize(
    "owners",
    [
        [service_version("yatzee", "1.0.0", callers=["die_roller"])],
        [
            service_version("yatzee", "1.0.0", callers=[]),
            service_version("die_roller", "1.0.0", callers=["yatzee"]),
        ],
        [],
    ],
    ids=["one-restricted", "all-restricted", "no-owners"],
)
def test_peers_role_has_no_rule_at_all_when_every_name_sets_callers(
    owners: list[ServiceVersion],
) -> None:
    role = build_peers_role("demo", owners)
    # A rule with empty resourceNames would grant every service name: there must be none.
    assert role["rules"] == []
    assert "resourceNames" not in json.dumps(role)


def test_peers_and_events_bindings_take_every_per_name_account_once() -> None:
    owners = [
        service_version("yatzee", "1.0.0", callers=["die_roller"]),
        service_version("die_roller", "1.0.0"),
        service_version("die_roller", "2.0.0"),
        service_version("scoreboard", "1.0.0", callers=[]),
    ]
    expected = sorted(
        (_sa(n) for n in ("die_roller", "scoreboard", "yatzee")), key=lambda s: s["name"]
    )
    peers = build_peers_role_binding("demo", owners)
    assert peers["metadata"]["name"] == PEERS_ROLE
    assert peers["roleRef"] == {"apiGroup": RBAC_GROUP, "kind": "Role", "name": PEERS_ROLE}
    assert peers["subjects"] == expected
    events = build_events_role_binding("demo", owners)
    assert events["metadata"]["name"] == EVENTS_ROLE
    assert events["roleRef"] == {"apiGroup": RBAC_GROUP, "kind": "Role", "name": EVENTS_ROLE}
    assert events["subjects"] == expected
    events_role = build_events_role("demo", owners)
    # Reading the per-name Services (their traffic tables) is the only read a service gets.
    assert events_role["rules"] == [
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "update", "patch"]},
        {
            "apiGroups": [""],
            "resources": ["services"],
            "verbs": ["get"],
            "resourceNames": ["die-roller", "scoreboard", "yatzee"],
        },
    ]
    for manifest in (peers, events, events_role):
        assert len(_owner_uids(manifest)) == 4
        assert manifest["metadata"]["labels"] == {MANAGED_BY_LABEL: MANAGED_BY_OPERATOR}


def test_people_accounts_caller_may_only_invoke_admin_also_update_parameters() -> None:
    owners = [service_version("die_roller", "1.0.0", namespace="team-a")]
    manifests = build_people_accounts("team-a", owners)
    by_kind: dict[tuple[str, str], dict[str, Any]] = {
        (m["kind"], m["metadata"]["name"]): m for m in manifests
    }
    assert sorted(by_kind) == sorted(
        (kind, account)
        for kind in ("ServiceAccount", "Role", "RoleBinding")
        for account in (CALLER_ACCOUNT, ADMIN_ACCOUNT)
    )
    assert len(manifests) == 6
    # No resourceNames: every service of the namespace, now and later.
    assert by_kind[("Role", CALLER_ACCOUNT)]["rules"] == [INVOKE]
    assert by_kind[("Role", ADMIN_ACCOUNT)]["rules"] == [INVOKE, UPDATE_PARAMETERS]
    for account in (CALLER_ACCOUNT, ADMIN_ACCOUNT):
        binding = by_kind[("RoleBinding", account)]
        assert binding["roleRef"] == {"apiGroup": RBAC_GROUP, "kind": "Role", "name": account}
        assert binding["subjects"] == [_account(account, "team-a")]
    for manifest in manifests:
        assert manifest["metadata"]["namespace"] == "team-a"
        assert _owner_uids(manifest) == [owners[0].uid]


# --- the Traefik Middleware ----------------------------------------------------------------


def test_middleware_asks_the_gate_for_its_namespace_with_only_the_authorization_header() -> None:
    owners = [
        service_version("yatzee", "1.0.0", namespace="team-a"),
        service_version("die_roller", "1.0.0", namespace="team-a"),
    ]
    middleware = build_access_middleware("team-a", owners, GATE)
    assert middleware["apiVersion"] == TRAEFIK_API_VERSION
    assert middleware["kind"] == "Middleware"
    assert middleware["metadata"]["name"] == ACCESS_MIDDLEWARE
    assert middleware["metadata"]["namespace"] == "team-a"
    assert middleware["metadata"]["labels"] == {MANAGED_BY_LABEL: MANAGED_BY_OPERATOR}
    assert sorted(_owner_uids(middleware)) == sorted(o.uid for o in owners)
    assert middleware["spec"] == {
        "forwardAuth": {
            "address": f"{GATE}{GATE_INGRESS_PATH}/team-a",
            "authRequestHeaders": ["Authorization"],
        }
    }


# --- the Deployment ------------------------------------------------------------------------


@pytest.mark.parametrize(("public", "flag"), [(False, "false"), (True, "true")])
def test_deployment_with_a_gate_checks_callers_and_carries_a_daeploy_token(
    public: bool, flag: str
) -> None:
    version = service_version("die_roller", "1.0.0", namespace="demo", public=public)
    deployment = build_version_deployment(version, RUNTIME, gate_url=GATE)
    pod = deployment["spec"]["template"]["spec"]
    env = _env(deployment)
    assert env[ACCESS_URL_ENV] == GATE
    assert env[PUBLIC_ENV] == flag
    assert env[CALL_TOKEN_FILE_ENV] == CALL_TOKEN_FILE == f"{CALL_TOKEN_DIR}/token"
    assert pod["serviceAccountName"] == service_account_name("die_roller")
    assert pod["volumes"] == [
        {
            "name": "daeploy-token",
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": TOKEN_AUDIENCE,
                            "expirationSeconds": 3600,
                            "path": "token",
                        }
                    }
                ]
            },
        }
    ]
    assert _container(deployment)["volumeMounts"] == [
        {"name": "daeploy-token", "mountPath": CALL_TOKEN_DIR, "readOnly": True}
    ]


def test_deployment_with_a_gate_and_a_source_keeps_both_volumes() -> None:
    version = service_version("die_roller", "1.0.0", source={"configMap": "die-roller-src"})
    deployment = build_version_deployment(version, RUNTIME, gate_url=GATE)
    pod = deployment["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["daeploy-token", "source", "tmp"]
    mounts = {m["name"]: m["mountPath"] for m in _container(deployment)["volumeMounts"]}
    assert mounts["daeploy-token"] == CALL_TOKEN_DIR
    assert {"source", "tmp"} <= set(mounts)


def test_deployment_without_a_gate_has_no_access_env_token_or_volume() -> None:
    version = service_version("die_roller", "1.0.0", namespace="demo", public=True)
    deployment = build_version_deployment(version, RUNTIME)
    pod = deployment["spec"]["template"]["spec"]
    env = _env(deployment)
    for variable in (ACCESS_URL_ENV, PUBLIC_ENV, CALL_TOKEN_FILE_ENV):
        assert variable not in env
    assert "volumes" not in pod
    assert "volumeMounts" not in _container(deployment)
    assert TOKEN_AUDIENCE not in json.dumps(pod)
    # Its own identity all the same: notify() posts Events with it.
    assert pod["serviceAccountName"] == service_account_name("die_roller")


@pytest.mark.parametrize("gate_url", ["", GATE])
def test_a_spec_env_cannot_set_the_access_variables(gate_url: str) -> None:
    obj = dsvc_object(
        "die_roller",
        "1.0.0",
        env=[
            {"name": ACCESS_URL_ENV, "value": "http://evil"},
            {"name": PUBLIC_ENV, "value": "true"},
            {"name": CALL_TOKEN_FILE_ENV, "value": "/tmp/stolen"},
            {"name": "SIDES", "value": "6"},
        ],
    )
    deployment = build_version_deployment(ServiceVersion.from_object(obj), RUNTIME, gate_url)
    names = [e["name"] for e in _container(deployment)["env"]]
    assert len(names) == len(set(names)), names
    env = _env(deployment)
    assert env["SIDES"] == "6"
    assert env[SERVICE_NAME_ENV] == "die_roller"
    if gate_url:
        assert (env[ACCESS_URL_ENV], env[PUBLIC_ENV]) == (GATE, "false")
        assert env[CALL_TOKEN_FILE_ENV] == CALL_TOKEN_FILE
    else:
        assert not {ACCESS_URL_ENV, PUBLIC_ENV, CALL_TOKEN_FILE_ENV} & set(env)


# --- the Ingress ---------------------------------------------------------------------------


def test_ingress_carries_the_access_annotations_and_keeps_its_claim() -> None:
    annotations = {
        "nginx.ingress.kubernetes.io/auth-url": f"{GATE}{GATE_INGRESS_PATH}/demo",
        ROUTE_CLAIM_ANNOTATION: "1999-01-01T00:00:00Z",
    }
    ingress = build_name_ingress(
        "die_roller",
        "demo",
        [service_version("die_roller", "1.0.0")],
        ["1.0.0"],
        main_version="1.0.0",
        hosts=[""],
        ingress_class="traefik",
        claimed_at="2024-05-01T12:00:00Z",
        annotations=annotations,
    )
    assert ingress["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/auth-url": f"{GATE}{GATE_INGRESS_PATH}/demo",
        ROUTE_CLAIM_ANNOTATION: "2024-05-01T12:00:00Z",
    }
    # The caller's dict is not changed.
    assert annotations[ROUTE_CLAIM_ANNOTATION] == "1999-01-01T00:00:00Z"


# --- settings ------------------------------------------------------------------------------


def test_access_is_off_by_default() -> None:
    settings = OperatorSettings.from_env({})
    assert settings.access is False
    assert (settings.gate_url, settings.ingress_gate_url, settings.gate_for_ingress) == ("",) * 3
    assert dict(settings.ingress_annotations) == {}
    assert settings.traefik_middleware is False
    assert settings.ingress_annotations_for("demo") == {}


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("http://gate", "http://gate"),
        (
            "  https://gate.daeploy-system.svc.cluster.local/  ",
            "https://gate.daeploy-system.svc.cluster.local",
        ),
        ("http://127.0.0.1:8480//", "http://127.0.0.1:8480"),
    ],
)
def test_gate_urls_are_normalised(raw: str, url: str) -> None:
    settings = OperatorSettings.from_env(
        {ACCESS_GATE_URL_ENV: raw, ACCESS_INGRESS_GATE_URL_ENV: raw}
    )
    assert settings.gate_url == settings.ingress_gate_url == url
    assert settings.access is True


@pytest.mark.parametrize("variable", [ACCESS_GATE_URL_ENV, ACCESS_INGRESS_GATE_URL_ENV])
@pytest.mark.parametrize(
    "raw",
    ["gate", "gate:8480", "ftp://gate", "http://", "http://gate/path", "http://ga te", "//gate"],
)
def test_bad_gate_urls_name_the_variable(variable: str, raw: str) -> None:
    env = {ACCESS_GATE_URL_ENV: GATE, variable: raw}
    with pytest.raises(SettingsError) as refused:
        OperatorSettings.from_env(env)
    message = str(refused.value)
    assert message.startswith(f"{variable}:"), message
    assert "base URL" in message


@pytest.mark.parametrize(
    "raw", ["not json", "{'a': 'b'}", "[]", '["a"]', '{"a": 1}', '{"a": null}', '"text"']
)
def test_bad_ingress_annotations_name_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError) as refused:
        OperatorSettings.from_env({ACCESS_GATE_URL_ENV: GATE, ACCESS_INGRESS_ANNOTATIONS_ENV: raw})
    assert str(refused.value).startswith(ACCESS_INGRESS_ANNOTATIONS_ENV), str(refused.value)


def test_annotations_fill_in_namespace_and_the_ingress_gate() -> None:
    annotations = {
        "nginx.ingress.kubernetes.io/auth-url": f"{{gate}}{GATE_INGRESS_PATH}/{{namespace}}",
        "traefik.ingress.kubernetes.io/router.middlewares": (
            f"{{namespace}}-{ACCESS_MIDDLEWARE}@kubernetescrd"
        ),
        "plain": "no placeholders",
    }
    raw = json.dumps(annotations)
    only_gate = OperatorSettings.from_env(
        {ACCESS_GATE_URL_ENV: GATE, ACCESS_INGRESS_ANNOTATIONS_ENV: raw}
    )
    assert only_gate.gate_for_ingress == GATE
    assert only_gate.ingress_annotations_for("team-a") == {
        "nginx.ingress.kubernetes.io/auth-url": f"{GATE}{GATE_INGRESS_PATH}/team-a",
        "traefik.ingress.kubernetes.io/router.middlewares": f"team-a-{ACCESS_MIDDLEWARE}"
        "@kubernetescrd",
        "plain": "no placeholders",
    }
    node_local = OperatorSettings.from_env(
        {
            ACCESS_GATE_URL_ENV: GATE,
            ACCESS_INGRESS_GATE_URL_ENV: "http://127.0.0.1:8480/",
            ACCESS_INGRESS_ANNOTATIONS_ENV: raw,
        }
    )
    assert node_local.gate_url == GATE
    assert node_local.gate_for_ingress == "http://127.0.0.1:8480"
    assert (
        node_local.ingress_annotations_for("team-b")["nginx.ingress.kubernetes.io/auth-url"]
        == f"http://127.0.0.1:8480{GATE_INGRESS_PATH}/team-b"
    )
    # The stored templates stay templates: every namespace gets its own.
    assert dict(node_local.ingress_annotations) == annotations


@pytest.mark.parametrize(
    ("raw", "on"),
    [("", False), ("true", True), (" TRUE ", True), ("false", False), ("False", False)],
)
def test_traefik_middleware_flag(raw: str, on: bool) -> None:
    settings = OperatorSettings.from_env({ACCESS_TRAEFIK_MIDDLEWARE_ENV: raw})
    assert settings.traefik_middleware is on


@pytest.mark.parametrize("raw", ["yes", "1", "on", "truee", "t"])
def test_bad_traefik_middleware_flag_names_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match=ACCESS_TRAEFIK_MIDDLEWARE_ENV):
        OperatorSettings.from_env({ACCESS_TRAEFIK_MIDDLEWARE_ENV: raw})


def test_with_the_plugin_the_middleware_asks_from_inside_traefik_and_keeps_answers() -> None:
    owners = [service_version("yatzee", "1.0.0", namespace="team-a")]
    middleware = build_access_middleware("team-a", owners, GATE, "access-plugin", 7.9)
    assert middleware["spec"] == {
        "plugin": {"access-plugin": {"gate": f"{GATE}{GATE_INGRESS_PATH}/team-a", "ttlSeconds": 7}}
    }


def test_plugin_and_cache_settings_are_read_and_checked() -> None:
    settings = OperatorSettings.from_env(
        {ACCESS_TRAEFIK_PLUGIN_ENV: " access-plugin ", GATE_CACHE_SECONDS_ENV: "2.5"}
    )
    assert settings.traefik_plugin == "access-plugin" and settings.cache_seconds == 2.5
    defaults = OperatorSettings.from_env({})
    assert defaults.traefik_plugin == "" and defaults.cache_seconds == 5.0
    with pytest.raises(SettingsError, match=ACCESS_TRAEFIK_PLUGIN_ENV):
        OperatorSettings.from_env({ACCESS_TRAEFIK_PLUGIN_ENV: "Not A Name"})
    with pytest.raises(SettingsError, match=GATE_CACHE_SECONDS_ENV):
        OperatorSettings.from_env({GATE_CACHE_SECONDS_ENV: "-1"})


# --- the spec ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "callers"),
    [
        ({}, None),
        ({"callers": None}, None),
        ({"callers": []}, ()),
        ({"callers": ["yatzee", "games/yatzee"]}, ("yatzee", "games/yatzee")),
    ],
)
def test_callers_unset_is_none_and_a_list_is_a_tuple(
    spec: dict[str, Any], callers: tuple[str, ...] | None
) -> None:
    version = ServiceVersion.from_object(dsvc_object("die_roller", "1.0.0", **spec))
    assert version.callers == callers
    assert version.callers is None or isinstance(version.callers, tuple)


@pytest.mark.parametrize(
    ("spec", "public"),
    [
        ({}, False),
        ({"public": False}, False),
        ({"public": True}, True),
        ({"public": "true"}, False),
    ],
)
def test_public_is_false_unless_exactly_true(spec: dict[str, Any], public: bool) -> None:
    assert ServiceVersion.from_object(dsvc_object("die_roller", "1.0.0", **spec)).public is public
