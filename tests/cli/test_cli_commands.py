"""The commands against a real API server (envtest) and the real reconciler: what they write, and
what they print."""

from __future__ import annotations

import base64
import io
import re
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_envtest import (
    INGRESS_HOST,
    MERGE_PATCH,
    ApiNamespace,
    FakeKubelet,
    OperatorLoop,
    crd_not_served,
)
from cli_support import Daeploy, last_error_line, one_line_error, write_service

from daeploy.cli.kube import Kube
from daeploy.contract import (
    API_GROUP_VERSION,
    CLI_MAIN_FIELD_MANAGER,
    EVENT_REASON,
    KIND,
    MANAGED_BY_CLI,
    MANAGED_BY_LABEL,
    NOT_OWNED_REASON,
    OPERATOR_NAME,
    SERVICE_LABEL,
    SEVERITY_ANNOTATION,
    SOURCE_ARCHIVE_KEY,
    SOURCE_DIGEST_ENV,
    VERSION_LABEL,
)
from daeploy.names import service_path, version_object_name
from daeploy_operator.kinds import resource_path

DIE_1 = version_object_name("die_roller", "1.0.0")
DIE_2 = version_object_name("die_roller", "2.0.0")
DIE_3 = version_object_name("die_roller", "3.0.0")
TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
TABLE_HEADER = [
    "MAIN    NAME        VERSION    STATUS    RUNNING",
    "------  ----------  ---------  --------  -----------------------------------",
]


def spec(apiserver: ApiNamespace, name: str) -> dict[str, Any]:
    return apiserver.must_get(name)["spec"]


def env_of(obj: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in obj["spec"].get("env") or []}


def fixed_times(text: str) -> str:
    return TIME.sub("YYYY-MM-DD hh:mm:ss", text)


def managed(obj: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """metadata.managedFields by (manager, operation, subresource)."""
    return {
        (e["manager"], e["operation"], e.get("subresource", "")): e.get("fieldsV1") or {}
        for e in obj["metadata"].get("managedFields") or []
    }


def mains(daeploy: Daeploy, name: str = "die_roller") -> list[str]:
    rows = daeploy("ls", name).stdout.splitlines()[2:]
    return [row.split()[2] for row in rows if row.startswith("*")]


def deploy(daeploy: Daeploy, folder: Path, version: str = "1.0.0", *extra: str) -> Any:
    return daeploy("deploy", "die_roller", version, str(folder), "--timeout", "30", *extra)


def deploy_image(daeploy: Daeploy, version: str = "1.0.0", *extra: str) -> Any:
    image = f"localhost/die-roller:{version}"
    return daeploy("deploy", "die_roller", version, "--image", image, "--timeout", "30", *extra)


def test_first_folder_deploy_is_main_with_owned_source(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, service_folder: Path
) -> None:
    result = deploy(daeploy, service_folder, "1.0.0", "-e", "LEVEL=debug", "--port", "8080")
    assert result.exit_code == 0, result.output
    assert fixed_times(result.stdout).splitlines() == [
        f"Active host: {apiserver.server}",
        "Deploying service...",
        "Service deployed successfully",
        *TABLE_HEADER,
        "*       die_roller  1.0.0      running   Running (since YYYY-MM-DD hh:mm:ss)",
    ]
    assert "Waiting for die_roller 1.0.0 to become ready" in result.stderr
    docs = f"Documentation: http://{INGRESS_HOST}{service_path('die_roller')}/docs"
    assert docs in result.stderr.splitlines()
    obj = apiserver.must_get(DIE_1)
    assert obj["metadata"]["labels"][SERVICE_LABEL] == "die_roller"
    assert obj["metadata"]["labels"][MANAGED_BY_LABEL] == MANAGED_BY_CLI
    # The CLI claims nothing (the CRD's default): the operator makes the first version main.
    assert obj["spec"]["main"] is False
    assert obj["spec"]["port"] == 8080
    assert obj["spec"]["source"] == {"configMap": f"{DIE_1}-source"}
    assert "image" not in obj["spec"]
    env = env_of(obj)
    assert env["LEVEL"] == "debug"
    assert len(env[SOURCE_DIGEST_ENV]) == 64
    # Waited for Ready at the generation written.
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"] == 1
    config_map = apiserver.config_map(f"{DIE_1}-source")
    assert config_map is not None
    # Owned by the DaeployService, whose uid exists only once it is created: it came first.
    assert config_map["metadata"]["ownerReferences"] == [
        {
            "apiVersion": API_GROUP_VERSION,
            "kind": KIND,
            "name": DIE_1,
            "uid": obj["metadata"]["uid"],
        }
    ]
    archive = base64.b64decode(config_map["binaryData"][SOURCE_ARCHIVE_KEY])
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert tar.getnames() == ["service.py"]


def test_deploy_writes_by_server_side_apply_as_the_cli(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, service_folder: Path
) -> None:
    assert deploy(daeploy, service_folder, "1.0.0", "--replicas", "2").exit_code == 0
    obj = apiserver.must_get(DIE_1)
    fields = managed(obj)
    # Only applies by the CLI (no create, replace or patch), and the operator's status apply.
    assert {key for key in fields if key[0] == MANAGED_BY_CLI} == {(MANAGED_BY_CLI, "Apply", "")}
    assert {key[0] for key in fields} == {MANAGED_BY_CLI, OPERATOR_NAME}
    owned = fields[(MANAGED_BY_CLI, "Apply", "")]
    assert set(owned["f:spec"]) == {"f:name", "f:version", "f:source", "f:replicas", "f:env"}
    assert set(owned["f:metadata"]["f:labels"]) == {
        f"f:{MANAGED_BY_LABEL}",
        f"f:{SERVICE_LABEL}",
        f"f:{VERSION_LABEL}",
    }
    config_map = apiserver.config_map(f"{DIE_1}-source")
    assert config_map is not None
    [(key, owned)] = managed(config_map).items()
    assert key == (MANAGED_BY_CLI, "Apply", "")
    assert set(owned) >= {"f:binaryData", "f:metadata"}
    assert "f:ownerReferences" in owned["f:metadata"]


def test_redeploy_with_changed_env_updates_the_version(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop
) -> None:
    assert deploy_image(daeploy, "1.0.0", "-e", "A=1", "-e", "B=2", "--port", "8080").exit_code == 0
    first = apiserver.must_get(DIE_1)
    # Someone else labels the object and sets a field the CLI never writes: both must survive.
    path = resource_path(API_GROUP_VERSION, KIND, apiserver.namespace, DIE_1)
    limits = {"limits": {"memory": "256Mi"}}
    patch = {"metadata": {"labels": {"team": "dice"}}, "spec": {"resources": limits}}
    patched = apiserver.api.request("PATCH", path, body=patch, content_type=MERGE_PATCH) or {}
    result = deploy_image(daeploy, "1.0.0", "-e", "A=3")
    assert result.exit_code == 0, result.output
    again = apiserver.must_get(DIE_1)
    assert again["metadata"]["uid"] == first["metadata"]["uid"]
    generation = patched["metadata"]["generation"] + 1
    assert again["metadata"]["generation"] == again["status"]["observedGeneration"] == generation
    # B and the port were the CLI's and are left out now: gone. The label and limits are not.
    assert again["spec"]["env"] == [{"name": "A", "value": "3"}]
    assert again["spec"]["port"] == 8000
    assert again["metadata"]["labels"]["team"] == "dice"
    assert again["spec"]["resources"] == limits


def test_active_host_is_the_ingress_once_known(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, service_folder: Path
) -> None:
    assert deploy(daeploy, service_folder).exit_code == 0
    result = deploy(daeploy, service_folder, "2.0.0")
    assert result.stdout.splitlines()[0] == f"Active host: http://{INGRESS_HOST}"


def test_later_versions_are_not_main_until_asked(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, service_folder: Path
) -> None:
    assert deploy(daeploy, service_folder).exit_code == 0
    assert deploy(daeploy, service_folder, "2.0.0").exit_code == 0
    assert spec(apiserver, DIE_2)["main"] is False
    assert mains(daeploy) == ["1.0.0"]
    result = deploy(daeploy, service_folder, "3.0.0", "--main")
    assert result.exit_code == 0, result.output
    assert next(r for r in result.stdout.splitlines() if "3.0.0" in r).startswith("*")
    assert spec(apiserver, DIE_3)["main"] is True
    operator.settle()
    assert mains(daeploy) == ["3.0.0"]
    # The other versions were never written: no main=false, no new generation.
    for other in (DIE_1, DIE_2):
        obj = apiserver.must_get(other)
        assert obj["spec"]["main"] is False
        assert obj["metadata"]["generation"] == 1
        assert CLI_MAIN_FIELD_MANAGER not in {key[0] for key in managed(obj)}
    # The claim has its own field manager, so a deploy without --main keeps it.
    assert managed(apiserver.must_get(DIE_3))[(CLI_MAIN_FIELD_MANAGER, "Apply", "")] == {
        "f:spec": {"f:main": {}}
    }
    (service_folder / "service.py").write_text("# fixed\n")
    assert deploy(daeploy, service_folder, "3.0.0").exit_code == 0
    assert spec(apiserver, DIE_3)["main"] is True
    operator.settle()
    assert mains(daeploy) == ["3.0.0"]


def test_redeploy_updates_source_and_spec(
    daeploy: Daeploy,
    apiserver: ApiNamespace,
    operator: OperatorLoop,
    service_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert deploy(daeploy, service_folder).exit_code == 0
    first = apiserver.must_get(DIE_1)
    uid, digest = first["metadata"]["uid"], env_of(first)[SOURCE_DIGEST_ENV]
    writes = record_writes(monkeypatch)
    (service_folder / "service.py").write_text("# a new version of the code\n")
    result = deploy(daeploy, service_folder)
    assert result.exit_code == 0, result.output
    # On a re-deploy the source is applied before the spec changes.
    assert writes == ["apply_source", "apply_service"]
    again = apiserver.must_get(DIE_1)
    assert again["metadata"]["uid"] == uid
    assert again["metadata"]["generation"] == 2
    assert env_of(again)[SOURCE_DIGEST_ENV] != digest
    assert again["spec"]["main"] is False
    assert again["status"]["mainMark"] == "*"
    config_map = apiserver.config_map(f"{DIE_1}-source")
    assert config_map is not None
    archive = base64.b64decode(config_map["binaryData"][SOURCE_ARCHIVE_KEY])
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        member = tar.extractfile("service.py")
        assert member is not None
        assert member.read() == b"# a new version of the code\n"


def record_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the CLI's writes, in order (each still goes to the server)."""
    writes: list[str] = []
    for method in ("apply_source", "apply_service", "delete_config_map", "delete_service"):
        original: Callable[..., Any] = getattr(Kube, method)

        def spy(self: Kube, *args: Any, _m: str = method, _f: Any = original, **kw: Any) -> Any:
            writes.append(_m)
            return _f(self, *args, **kw)

        monkeypatch.setattr(Kube, method, spy)
    return writes


def test_image_deploy_has_no_source(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop
) -> None:
    result = deploy_image(daeploy)
    assert result.exit_code == 0, result.output
    assert spec(apiserver, DIE_1)["image"] == "localhost/die-roller:1.0.0"
    assert "source" not in spec(apiserver, DIE_1)
    assert apiserver.config_maps() == []


def test_a_permanent_reason_stops_the_wait_at_once(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, service_folder: Path
) -> None:
    """The version's Deployment name is taken by someone else's Deployment: NotOwned."""
    labels = {"app": "theirs"}
    theirs = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DIE_1},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "theirs:1"}]},
            },
        },
    }
    path = resource_path("apps/v1", "Deployment", apiserver.namespace)
    apiserver.api.request("POST", path, body=theirs)
    started = time.monotonic()
    result = deploy(daeploy, service_folder)
    assert result.exit_code == 1
    assert time.monotonic() - started < 15  # the timeout is 30 s
    assert last_error_line(result) == (
        f"Error: die_roller 1.0.0 failed to start: {NOT_OWNED_REASON}: Deployment {DIE_1!r} "
        f"already exists and no {KIND} owns it, so it was left alone: delete or rename that "
        "Deployment, or deploy the service under another name; "
        "see `daeploy logs die_roller 1.0.0`"
    )


def test_timeout_reason_from_the_ready_condition(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, service_folder: Path
) -> None:
    operator.unavailable.add("1.0.0")
    result = deploy(daeploy, service_folder, "1.0.0", "--timeout", "2")
    assert result.exit_code == 1
    assert "Ready=False; Deploying: 0/1 replicas available" in result.stderr
    assert last_error_line(result) == (
        "Error: die_roller 1.0.0 is not ready after 2 s: Deploying: 0/1 replicas available"
    )


def test_silent_operator_is_pointed_at(
    daeploy: Daeploy, apiserver: ApiNamespace, service_folder: Path
) -> None:
    result = daeploy("deploy", "die_roller", "1.0.0", str(service_folder), "--timeout", "0")
    assert result.exit_code == 1
    last = last_error_line(result)
    assert "the daeploy operator never reported on it" in last
    assert f"helm install {OPERATOR_NAME} charts/{OPERATOR_NAME}" in last


def test_missing_crd(daeploy: Daeploy, apiserver: ApiNamespace, service_folder: Path) -> None:
    with crd_not_served(apiserver.api):
        for args in (["ls"], ["deploy", "die_roller", "1.0.0", str(service_folder)]):
            result = daeploy(*args)
            assert result.exit_code == 1
            assert one_line_error(result) == (
                f"Error: the {KIND} CRD is not installed: "
                f"helm install {OPERATOR_NAME} charts/{OPERATOR_NAME}"
            )


def test_missing_namespace(daeploy: Daeploy, apiserver: ApiNamespace, service_folder: Path) -> None:
    result = daeploy("--namespace", "nowhere", "deploy", "die_roller", "1.0.0", str(service_folder))
    assert result.exit_code == 1
    assert (
        "namespace 'nowhere' does not exist: create it with `kubectl create namespace nowhere`"
        in (one_line_error(result))
    )


def two_versions(daeploy: Daeploy, tmp_path: Path) -> None:
    folder = write_service(tmp_path / "svc")
    assert deploy(daeploy, folder).exit_code == 0
    assert deploy(daeploy, folder, "2.0.0").exit_code == 0


def test_ls_filters_and_unknown_names(
    daeploy: Daeploy,
    apiserver: ApiNamespace,
    operator: OperatorLoop,
    tmp_path: Path,
    envtest_namespaces: Callable[[str], str],
) -> None:
    two_versions(daeploy, tmp_path)
    all_rows = daeploy("ls").stdout.splitlines()[2:]
    assert [row.split()[:2] for row in all_rows] == [["*", "die_roller"], ["die_roller", "2.0.0"]]
    one = daeploy("ls", "die_roller", "2.0.0")
    assert one.exit_code == 0
    assert len(one.stdout.splitlines()) == 3
    unknown = daeploy("ls", "yatzee")
    assert unknown.exit_code == 1
    ns = apiserver.namespace
    assert f"no service named 'yatzee' in namespace '{ns}'" in one_line_error(unknown)
    missing = daeploy("ls", "die_roller", "9.9.9")
    assert missing.exit_code == 1
    assert "has no version '9.9.9' (it has: 1.0.0, 2.0.0)" in one_line_error(missing)
    empty = daeploy("--namespace", envtest_namespaces("empty"), "ls")
    assert empty.stdout.splitlines()[0].split() == ["MAIN", "NAME", "VERSION", "STATUS", "RUNNING"]
    assert len(empty.stdout.splitlines()) == 2


def test_assign_claims_main_on_the_chosen_version_only(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, tmp_path: Path
) -> None:
    two_versions(daeploy, tmp_path)
    before = apiserver.must_get(DIE_1)
    result = daeploy("assign", "die_roller", "2.0.0")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "Changed main version of die_roller to 2.0.0"
    rows = result.stdout.splitlines()[3:]
    assert rows[0].startswith("        die_roller  1.0.0")
    assert rows[1].startswith("*       die_roller  2.0.0")
    chosen = apiserver.must_get(DIE_2)
    assert chosen["spec"]["main"] is True
    assert managed(chosen)[(CLI_MAIN_FIELD_MANAGER, "Apply", "")] == {"f:spec": {"f:main": {}}}
    # The deploy's fields are still the deploy's: assigning took nothing from them.
    assert "f:main" not in managed(chosen)[(MANAGED_BY_CLI, "Apply", "")]["f:spec"]
    # The sibling was not written at all: the operator alone moved the route away from it.
    after = apiserver.must_get(DIE_1)
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert managed(after).keys() == managed(before).keys()
    assert after["status"]["mainMark"] == ""


def test_assign_back_and_forth(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, tmp_path: Path
) -> None:
    """A version that claimed main before claims it anew; the others are never written."""
    two_versions(daeploy, tmp_path)
    # (version, its object, the other's object, writes to the version: a claim, or a renewal)
    steps = [("2.0.0", DIE_2, DIE_1, 1), ("1.0.0", DIE_1, DIE_2, 1), ("2.0.0", DIE_2, DIE_1, 2)]
    for version, chosen, other, writes in steps:
        before, generation = (
            apiserver.must_get(other),
            apiserver.must_get(chosen)["metadata"]["generation"],
        )
        result = daeploy("assign", "die_roller", version, "--timeout", "20")
        assert result.exit_code == 0, result.output
        assert mains(daeploy) == [version]
        assert apiserver.must_get(chosen)["metadata"]["generation"] == generation + writes
        after = apiserver.must_get(other)
        assert after["spec"] == before["spec"]
        assert after["metadata"]["generation"] == before["metadata"]["generation"]
    # Both claim now; 2.0.0's claim is the later one.
    assert spec(apiserver, DIE_1)["main"] is True
    assert spec(apiserver, DIE_2)["main"] is True


def test_versions_made_without_the_cli_are_listed_and_assignable(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop
) -> None:
    apiserver.create("yatzee", "1.0.0")
    apiserver.create("yatzee", "2.0.0", port=9000)
    operator.settle()
    listed = daeploy("ls", "yatzee")
    assert listed.exit_code == 0, listed.output
    rows = listed.stdout.splitlines()[2:]
    assert [row.split()[:4] for row in rows] == [
        ["*", "yatzee", "1.0.0", "running"],
        ["yatzee", "2.0.0", "running", "Running"],
    ]
    v2 = version_object_name("yatzee", "2.0.0")
    before = apiserver.must_get(v2)
    result = daeploy("assign", "yatzee", "2.0.0")
    assert result.exit_code == 0, result.output
    assert mains(daeploy, "yatzee") == ["2.0.0"]
    after = apiserver.must_get(v2)
    assert after["spec"] == {**before["spec"], "main": True}
    assert "labels" not in after["metadata"]  # assign adds no labels of the CLI's


def test_kill_protects_the_main_version(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, tmp_path: Path
) -> None:
    two_versions(daeploy, tmp_path)
    refused = daeploy("kill", "die_roller", "1.0.0", "--yes")
    assert refused.exit_code == 1
    line = one_line_error(refused)
    assert "die_roller 1.0.0 is the main version" in line
    assert "`daeploy assign die_roller 2.0.0`" in line
    assert apiserver.get(DIE_1) is not None
    ambiguous = daeploy("kill", "die_roller", "--yes")
    assert ambiguous.exit_code == 2
    assert "has 2 versions (1.0.0, 2.0.0)" in one_line_error(ambiguous)
    kept = daeploy("kill", "die_roller", "2.0.0", input="n\n")
    assert kept.exit_code == 1
    assert "Kill this version? [y/N]" in kept.stdout
    assert apiserver.get(DIE_2) is not None
    killed = daeploy("kill", "die_roller", "2.0.0", input="y\n")
    assert killed.exit_code == 0, killed.output
    assert killed.stdout.splitlines()[-1] == "Killed die_roller 2.0.0"
    assert apiserver.get(DIE_2) is None
    last = daeploy("kill", "die_roller", "--yes")
    assert last.exit_code == 0
    assert apiserver.services() == []


def test_kill_all_and_force_main(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, tmp_path: Path
) -> None:
    two_versions(daeploy, tmp_path)
    forced = daeploy("kill", "die_roller", "1.0.0", "--yes", "--force-main")
    assert forced.exit_code == 0, forced.output
    assert apiserver.get(DIE_1) is None
    assert deploy(daeploy, write_service(tmp_path / "again")).exit_code == 0
    nameless = daeploy("kill", "--yes")
    assert nameless.exit_code == 2
    assert "pass --all" in one_line_error(nameless)
    everything = daeploy("kill", "--all", "--yes")
    assert everything.exit_code == 0
    assert sorted(everything.stdout.splitlines()) == [
        "Killed die_roller 1.0.0",
        "Killed die_roller 2.0.0",
    ]
    assert apiserver.services() == []


def test_logs_of_main_or_named_version(
    daeploy: Daeploy,
    apiserver: ApiNamespace,
    operator: OperatorLoop,
    kubelet: FakeKubelet,
    tmp_path: Path,
) -> None:
    two_versions(daeploy, tmp_path)
    ns = apiserver.namespace
    kubelet.pod(ns, "die-1", "die_roller", "1.0.0", log="started\nrolled 4\nrolled 6\n")
    kubelet.pod(ns, "die-2", "die_roller", "2.0.0", log="version two\n")
    main = daeploy("logs", "die_roller")
    assert main.exit_code == 0, main.output
    assert main.stdout == "started\nrolled 4\nrolled 6\n"
    tail = daeploy("logs", "die_roller", "-n", "1")
    assert tail.stdout == "rolled 6\n"
    assert kubelet.requests[-1] == f"/containerLogs/{ns}/die-1/service?tailLines=1"
    named = daeploy("logs", "die_roller", "2.0.0")
    assert named.stdout == "version two\n"
    kubelet.pod(ns, "die-1b", "die_roller", "1.0.0", log="second pod\n")
    both = daeploy("logs", "die_roller", "1.0.0", "--tail", "1")
    assert sorted(both.stdout.splitlines()) == ["[die-1" + "] rolled 6", "[die-1b] second pod"]


def test_logs_without_pods(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, service_folder: Path
) -> None:
    assert deploy(daeploy, service_folder).exit_code == 0
    result = daeploy("logs", "die_roller")
    assert result.exit_code == 1
    assert "die_roller 1.0.0 has no pods yet" in one_line_error(result)


def test_logs_follow_streams_until_the_server_closes(
    daeploy: Daeploy,
    apiserver: ApiNamespace,
    operator: OperatorLoop,
    kubelet: FakeKubelet,
    service_folder: Path,
) -> None:
    assert deploy(daeploy, service_folder).exit_code == 0
    kubelet.pod(apiserver.namespace, "die-1", "die_roller", "1.0.0", log="one\ntwo\n")
    result = daeploy("logs", "die_roller", "-f", "-n", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout == "two\n"
    ns = apiserver.namespace
    assert kubelet.requests[-1] == f"/containerLogs/{ns}/die-1/service?follow=true&tailLines=1"


def test_crashing_pod_fails_fast_and_shows_its_last_lines(
    daeploy: Daeploy,
    apiserver: ApiNamespace,
    operator: OperatorLoop,
    kubelet: FakeKubelet,
    service_folder: Path,
) -> None:
    operator.unavailable.add("1.0.0")
    crashing = {
        "name": "service",
        "image": "localhost/runtime:1",
        "imageID": "",
        "ready": False,
        "restartCount": 3,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
    }
    kubelet.pod(
        apiserver.namespace,
        "die-crash",
        "die_roller",
        "1.0.0",
        log="Traceback (most recent call last):\nRuntimeError: broken\n",
        status={"phase": "Running", "containerStatuses": [crashing]},
    )
    started = time.monotonic()
    result = deploy(daeploy, service_folder)
    assert result.exit_code == 1
    assert time.monotonic() - started < 15  # the timeout is 30 s
    assert "--- last lines of die-crash ---\nTraceback (most recent call last):\n" in result.stderr
    assert any("previous=true" in request for request in kubelet.requests)
    assert last_error_line(result) == (
        "Error: die_roller 1.0.0 failed to start: CrashLoopBackOff: container service keeps "
        "crashing (exit code 1, 3 restarts): Error (0/1 replicas available); "
        "see `daeploy logs die_roller 1.0.0`"
    )


def notification(
    namespace: str, message: str, service: str, seen: str, severity: str = "INFO"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "generateName": f"{service}.",
            "annotations": {
                SEVERITY_ANNOTATION: severity,
                SERVICE_LABEL: service,
                VERSION_LABEL: "1.0.0",
            },
        },
        "involvedObject": {
            "apiVersion": API_GROUP_VERSION,
            "kind": KIND,
            "name": version_object_name(service, "1.0.0"),
            "namespace": namespace,
        },
        "reason": EVENT_REASON,
        "type": "Normal",
        "message": message,
        "count": 2,
        "firstTimestamp": seen,
        "lastTimestamp": seen,
        "source": {"component": service},
    }


def test_notifications_filtered_and_newest_first(daeploy: Daeploy, apiserver: ApiNamespace) -> None:
    ns = apiserver.namespace
    events = [
        notification(ns, "YATZEE!!!", "yatzee", "2020-11-24T12:20:00Z"),
        notification(ns, "later", "yatzee", "2020-11-24T12:30:00Z", "WARNING"),
        notification(ns, "other", "die_roller", "2020-11-24T12:40:00Z"),
        {**notification(ns, "scaled", "yatzee", "2020-11-24T12:50:00Z"),
         "reason": "ScalingReplicaSet"},
    ]  # fmt: skip
    for event in events:
        apiserver.api.request("POST", resource_path("v1", "Event", ns), body=event)
    result = daeploy("notifications", "yatzee")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "SEVERITY    SERVICE    VERSION    COUNT    LAST SEEN            MESSAGE",
        "----------  ---------  ---------  -------  -------------------  ---------",
        "WARNING     yatzee     1.0.0      2        2020-11-24 12:30:00  later",
        "INFO        yatzee     1.0.0      2        2020-11-24 12:20:00  YATZEE!!!",
    ]
    everything = daeploy("notifications")
    assert [line.split()[-1] for line in everything.stdout.splitlines()[2:]] == [
        "other",
        "later",
        "YATZEE!!!",
    ]
    unknown = daeploy("notifications", "nobody")
    assert unknown.exit_code == 1
    assert "no service named 'nobody'" in one_line_error(unknown)
