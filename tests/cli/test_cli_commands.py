"""The commands against a fake API server: what they send, and what they print."""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path
from typing import Any

from cli_fake_cluster import FakeCluster
from cli_support import Daeploy, last_error_line, one_line_error, write_service

from daeploy.contract import (
    API_GROUP_VERSION,
    EVENT_REASON,
    KIND,
    OPERATOR_NAME,
    PLURAL,
    SERVICE_LABEL,
    SEVERITY_ANNOTATION,
    SOURCE_ARCHIVE_KEY,
    SOURCE_DIGEST_ENV,
    VERSION_LABEL,
)
from daeploy.names import version_object_name

DIE_1 = version_object_name("die_roller", "1.0.0")
DIE_2 = version_object_name("die_roller", "2.0.0")


def spec(fake: FakeCluster, name: str) -> dict[str, Any]:
    obj = fake.get(PLURAL, name)
    assert obj is not None, name
    return obj["spec"]


def deploy(daeploy: Daeploy, folder: Path, version: str = "1.0.0", *extra: str) -> Any:
    return daeploy("deploy", "die_roller", version, str(folder), "--timeout", "5", *extra)


def test_first_folder_deploy_is_main_with_owned_source(
    daeploy: Daeploy, fake: FakeCluster, service_folder: Path
) -> None:
    result = deploy(daeploy, service_folder, "1.0.0", "-e", "LEVEL=debug", "--port", "8080")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Active host: {fake.url}",
        "Deploying service...",
        "Service deployed successfully",
        "MAIN    NAME        VERSION    STATUS    RUNNING",
        "------  ----------  ---------  --------  -----------------------------------",
        "*       die_roller  1.0.0      running   Running (since 2020-11-24 11:56:18)",
    ]
    assert "Waiting for die_roller 1.0.0 to become ready" in result.stderr
    obj = fake.get(PLURAL, DIE_1)
    assert obj is not None
    assert obj["metadata"]["labels"][SERVICE_LABEL] == "die_roller"
    # The CLI writes no claim: the operator makes the first version main (the "*" above).
    assert obj["spec"]["main"] is False
    assert obj["spec"]["port"] == 8080
    assert obj["spec"]["source"] == {"configMap": f"{DIE_1}-source"}
    assert "image" not in obj["spec"]
    env = {e["name"]: e["value"] for e in obj["spec"]["env"]}
    assert env["LEVEL"] == "debug"
    assert len(env[SOURCE_DIGEST_ENV]) == 64
    config_map = fake.get("configmaps", f"{DIE_1}-source")
    assert config_map is not None
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
    # The DaeployService exists before its ConfigMap: the owner's uid is needed.
    posts = [path for method, path, _ in fake.requests if method == "POST"]
    assert posts[0].endswith(f"/{PLURAL}")
    assert posts[1].endswith("/configmaps")


def test_active_host_is_the_ingress_once_known(
    daeploy: Daeploy, fake: FakeCluster, service_folder: Path
) -> None:
    assert deploy(daeploy, service_folder).exit_code == 0
    result = deploy(daeploy, service_folder, "2.0.0")
    assert result.stdout.splitlines()[0] == "Active host: http://ingress.example"


def test_later_versions_are_not_main_until_asked(
    daeploy: Daeploy, fake: FakeCluster, service_folder: Path
) -> None:
    assert deploy(daeploy, service_folder).exit_code == 0
    assert deploy(daeploy, service_folder, "2.0.0").exit_code == 0
    assert spec(fake, DIE_2)["main"] is False
    result = deploy(daeploy, service_folder, "3.0.0", "--main")
    assert result.exit_code == 0, result.output
    die_3 = version_object_name("die_roller", "3.0.0")
    assert spec(fake, die_3)["main"] is True
    assert spec(fake, DIE_1)["main"] is False
    mains = [line for line in result.stdout.splitlines() if line.startswith("*")]
    assert len(mains) == 1
    assert "3.0.0" in mains[0]


def test_redeploy_updates_source_and_spec(
    daeploy: Daeploy, fake: FakeCluster, service_folder: Path
) -> None:
    assert deploy(daeploy, service_folder).exit_code == 0
    first = fake.get(PLURAL, DIE_1)
    assert first is not None
    uid, digest = first["metadata"]["uid"], first["spec"]["env"][-1]["value"]
    (service_folder / "service.py").write_text("# a new version of the code\n")
    result = deploy(daeploy, service_folder)
    assert result.exit_code == 0, result.output
    again = fake.get(PLURAL, DIE_1)
    assert again is not None
    assert again["metadata"]["uid"] == uid
    assert again["metadata"]["generation"] == 2
    assert again["spec"]["env"][-1]["value"] != digest
    assert again["spec"]["main"] is False
    assert again["status"]["mainMark"] == "*"
    config_map = fake.get("configmaps", f"{DIE_1}-source")
    assert config_map is not None
    archive = base64.b64decode(config_map["binaryData"][SOURCE_ARCHIVE_KEY])
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        member = tar.extractfile("service.py")
        assert member is not None
        assert member.read() == b"# a new version of the code\n"
    # On a re-deploy the source is written before the spec changes.
    writes = [(m, p) for m, p, _ in fake.requests if m in ("POST", "PUT")]
    assert writes[-2] == ("PUT", f"/api/v1/namespaces/demo/configmaps/{DIE_1}-source")
    assert writes[-1] == (
        "PUT",
        f"/apis/{API_GROUP_VERSION}/namespaces/demo/{PLURAL}/{DIE_1}",
    )


def test_image_deploy_has_no_source(daeploy: Daeploy, fake: FakeCluster) -> None:
    result = daeploy(
        "deploy", "die_roller", "1.0.0", "--image", "localhost/die-roller:1.0.0", "--timeout", "5"
    )
    assert result.exit_code == 0, result.output
    assert spec(fake, DIE_1)["image"] == "localhost/die-roller:1.0.0"
    assert "source" not in spec(fake, DIE_1)
    assert fake.objects("configmaps") == []


def test_failure_reason_from_the_status(
    daeploy: Daeploy, fake: FakeCluster, service_folder: Path
) -> None:
    def crashing(obj: dict[str, Any], cluster: FakeCluster) -> None:
        obj["status"] = {
            "observedGeneration": obj["metadata"]["generation"],
            "phase": "failed",
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "CrashLoopBackOff",
                 "message": "container service keeps crashing (exit code 1)"},
            ],
        }  # fmt: skip

    fake.operator = crashing
    result = deploy(daeploy, service_folder)
    assert result.exit_code == 1
    assert last_error_line(result) == (
        "Error: die_roller 1.0.0 failed to start: CrashLoopBackOff: container service keeps "
        "crashing (exit code 1); see `daeploy logs die_roller 1.0.0`"
    )


def test_timeout_reason_from_the_ready_condition(
    daeploy: Daeploy, fake: FakeCluster, service_folder: Path
) -> None:
    def slow(obj: dict[str, Any], cluster: FakeCluster) -> None:
        obj["status"] = {
            "phase": "pending",
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "Deploying",
                 "message": "0/1 replicas available"},
            ],
        }  # fmt: skip

    fake.operator = slow
    result = deploy(daeploy, service_folder, "1.0.0", "--timeout", "1")
    assert result.exit_code == 1
    assert "Ready=False; Deploying: 0/1 replicas available" in result.stderr
    assert last_error_line(result) == (
        "Error: die_roller 1.0.0 is not ready after 1 s: Deploying: 0/1 replicas available"
    )


def test_silent_operator_is_pointed_at(
    daeploy: Daeploy, fake: FakeCluster, service_folder: Path
) -> None:
    fake.operator = lambda obj, cluster: None
    result = daeploy("deploy", "die_roller", "1.0.0", str(service_folder), "--timeout", "0")
    assert result.exit_code == 1
    last = last_error_line(result)
    assert "the daeploy operator never reported on it" in last
    assert f"helm install {OPERATOR_NAME} charts/{OPERATOR_NAME}" in last


def test_missing_crd(daeploy: Daeploy, fake: FakeCluster, service_folder: Path) -> None:
    fake.crd_installed = False
    for args in (["ls"], ["deploy", "die_roller", "1.0.0", str(service_folder)]):
        result = daeploy(*args)
        assert result.exit_code == 1
        assert one_line_error(result) == (
            f"Error: the {KIND} CRD is not installed: "
            f"helm install {OPERATOR_NAME} charts/{OPERATOR_NAME}"
        )


def test_missing_namespace(daeploy: Daeploy, fake: FakeCluster, service_folder: Path) -> None:
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


def test_ls_filters_and_unknown_names(daeploy: Daeploy, fake: FakeCluster, tmp_path: Path) -> None:
    two_versions(daeploy, tmp_path)
    all_rows = daeploy("ls").stdout.splitlines()[2:]
    assert [row.split()[:2] for row in all_rows] == [["*", "die_roller"], ["die_roller", "2.0.0"]]
    one = daeploy("ls", "die_roller", "2.0.0")
    assert one.exit_code == 0
    assert len(one.stdout.splitlines()) == 3
    unknown = daeploy("ls", "yatzee")
    assert unknown.exit_code == 1
    assert "no service named 'yatzee' in namespace 'demo'" in one_line_error(unknown)
    missing = daeploy("ls", "die_roller", "9.9.9")
    assert missing.exit_code == 1
    assert "has no version '9.9.9' (it has: 1.0.0, 2.0.0)" in one_line_error(missing)
    empty = daeploy("--namespace", "default", "ls")
    assert empty.stdout.splitlines()[0].split() == ["MAIN", "NAME", "VERSION", "STATUS", "RUNNING"]


def test_assign_moves_main(daeploy: Daeploy, fake: FakeCluster, tmp_path: Path) -> None:
    two_versions(daeploy, tmp_path)
    result = daeploy("assign", "die_roller", "2.0.0")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "Changed main version of die_roller to 2.0.0"
    assert spec(fake, DIE_2)["main"] is True
    assert spec(fake, DIE_1)["main"] is False
    rows = result.stdout.splitlines()[3:]
    assert rows[0].startswith("        die_roller  1.0.0")
    assert rows[1].startswith("*       die_roller  2.0.0")


def test_kill_protects_the_main_version(
    daeploy: Daeploy, fake: FakeCluster, tmp_path: Path
) -> None:
    two_versions(daeploy, tmp_path)
    refused = daeploy("kill", "die_roller", "1.0.0", "--yes")
    assert refused.exit_code == 1
    line = one_line_error(refused)
    assert "die_roller 1.0.0 is the main version" in line
    assert "`daeploy assign die_roller 2.0.0`" in line
    assert fake.get(PLURAL, DIE_1) is not None
    ambiguous = daeploy("kill", "die_roller", "--yes")
    assert ambiguous.exit_code == 2
    assert "has 2 versions (1.0.0, 2.0.0)" in one_line_error(ambiguous)
    kept = daeploy("kill", "die_roller", "2.0.0", input="n\n")
    assert kept.exit_code == 1
    assert "Kill this version? [y/N]" in kept.stdout
    assert fake.get(PLURAL, DIE_2) is not None
    killed = daeploy("kill", "die_roller", "2.0.0", input="y\n")
    assert killed.exit_code == 0, killed.output
    assert killed.stdout.splitlines()[-1] == "Killed die_roller 2.0.0"
    assert fake.get(PLURAL, DIE_2) is None
    last = daeploy("kill", "die_roller", "--yes")
    assert last.exit_code == 0
    assert fake.objects(PLURAL) == []


def test_kill_all_and_force_main(daeploy: Daeploy, fake: FakeCluster, tmp_path: Path) -> None:
    two_versions(daeploy, tmp_path)
    forced = daeploy("kill", "die_roller", "1.0.0", "--yes", "--force-main")
    assert forced.exit_code == 0, forced.output
    assert fake.get(PLURAL, DIE_1) is None
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
    assert fake.objects(PLURAL) == []


def pod(name: str, version: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {SERVICE_LABEL: "die_roller", VERSION_LABEL: version},
        },
        "spec": {"containers": [{"name": "service", "image": "runtime"}]},
    }


def test_logs_of_main_or_named_version(daeploy: Daeploy, fake: FakeCluster, tmp_path: Path) -> None:
    two_versions(daeploy, tmp_path)
    fake.add("pods", pod("die-1", "1.0.0"))
    fake.add("pods", pod("die-2", "2.0.0"))
    fake.logs["die-1"] = "started\nrolled 4\nrolled 6\n"
    fake.logs["die-2"] = "version two\n"
    main = daeploy("logs", "die_roller")
    assert main.exit_code == 0, main.output
    assert main.stdout == "started\nrolled 4\nrolled 6\n"
    tail = daeploy("logs", "die_roller", "-n", "1")
    assert tail.stdout == "rolled 6\n"
    named = daeploy("logs", "die_roller", "2.0.0")
    assert named.stdout == "version two\n"
    fake.add("pods", pod("die-1b", "1.0.0"))
    fake.logs["die-1b"] = "second pod\n"
    both = daeploy("logs", "die_roller", "1.0.0", "--tail", "1")
    assert sorted(both.stdout.splitlines()) == ["[die-1" + "] rolled 6", "[die-1b] second pod"]


def test_logs_without_pods(daeploy: Daeploy, fake: FakeCluster, service_folder: Path) -> None:
    assert deploy(daeploy, service_folder).exit_code == 0
    result = daeploy("logs", "die_roller")
    assert result.exit_code == 1
    assert "die_roller 1.0.0 has no pods yet" in one_line_error(result)


def notification(message: str, service: str, seen: str, severity: str = "INFO") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{service}.{seen}",
            "annotations": {
                SEVERITY_ANNOTATION: severity,
                SERVICE_LABEL: service,
                VERSION_LABEL: "1.0.0",
            },
        },
        "involvedObject": {"kind": KIND, "name": f"{service}-v1-0-0"},
        "reason": EVENT_REASON,
        "type": "Normal",
        "message": message,
        "count": 2,
        "lastTimestamp": seen,
    }


def test_notifications_filtered_and_newest_first(daeploy: Daeploy, fake: FakeCluster) -> None:
    fake.add("events", notification("YATZEE!!!", "yatzee", "2020-11-24T12:20:00Z"))
    fake.add("events", notification("later", "yatzee", "2020-11-24T12:30:00Z", "WARNING"))
    fake.add("events", notification("other", "die_roller", "2020-11-24T12:40:00Z"))
    scaled = notification("scaled", "yatzee", "2020-11-24T12:50:00Z")
    scaled["reason"] = "ScalingReplicaSet"
    fake.add("events", scaled)
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


def test_logs_follow_streams_until_the_server_closes(
    daeploy: Daeploy, fake: FakeCluster, service_folder: Path
) -> None:
    assert deploy(daeploy, service_folder).exit_code == 0
    fake.add("pods", pod("die-1", "1.0.0"))
    fake.logs["die-1"] = "one\ntwo\n"
    result = daeploy("logs", "die_roller", "-f", "-n", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout == "two\n"
    method, path, _ = fake.requests[-1]
    assert (method, path) == ("GET", "/api/v1/namespaces/demo/pods/die-1/log")


def test_crashing_pod_fails_fast_and_shows_its_last_lines(
    daeploy: Daeploy, fake: FakeCluster, service_folder: Path
) -> None:
    def crash_loop(obj: dict[str, Any], cluster: FakeCluster) -> None:
        crash = {
            "status": "False",
            "reason": "CrashLoopBackOff",
            "message": "container service keeps crashing (exit code 1, 3 restarts)",
        }
        obj["status"] = {
            "phase": "failed",
            "observedGeneration": obj["metadata"]["generation"],
            "conditions": [{"type": "Ready", **crash}, {"type": "Available", **crash}],
        }
        crashing = pod("die-crash", "1.0.0")
        crashing["spec"]["containers"][0]["env"] = obj["spec"]["env"]
        crashing["status"] = {
            "containerStatuses": [
                {"name": "service", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]
        }
        cluster.store["pods"][("demo", "die-crash")] = crashing
        cluster.logs["die-crash"] = "Traceback (most recent call last):\nRuntimeError: broken\n"

    fake.operator = crash_loop
    result = deploy(daeploy, service_folder)
    assert result.exit_code == 1
    assert "--- last lines of die-crash ---\nTraceback (most recent call last):\n" in result.stderr
    assert last_error_line(result) == (
        "Error: die_roller 1.0.0 failed to start: CrashLoopBackOff: container service keeps "
        "crashing (exit code 1, 3 restarts); see `daeploy logs die_roller 1.0.0`"
    )
