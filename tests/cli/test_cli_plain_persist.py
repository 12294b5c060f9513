"""`daeploy deploy --probe/--run-as-user` (images not built on the SDK) and `--persist`.

Input is checked before any cluster is contacted; what is written fits the CRD; against a real
API server (envtest) with the real reconciler, a refused root image stops the wait at once with
the fix, and a persistent version gets its claim.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from cli_envtest import ApiNamespace, FakeKubelet, OperatorLoop
from cli_support import Daeploy, last_error_line, one_line_error, write_service

from daeploy.cli.errors import InputError
from daeploy.cli.spec import Request, check_persistence, check_probe
from daeploy.contract import API_VERSION, PLURAL, RUN_AS_USER_NEEDED_REASON
from daeploy.names import version_object_name
from daeploy_operator.names import data_claim_name

CRD = Path(__file__).resolve().parents[2] / "crds" / f"{PLURAL}.yaml"
IMAGE = "localhost/files:1.0.0"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == API_VERSION]
    return version["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize(
    ("value", "probe"),
    [
        (None, None),
        ("sdk", {"type": "sdk"}),
        ("tcp", {"type": "tcp"}),
        ("http", {"type": "http", "path": "/"}),
        ("http:/healthz", {"type": "http", "path": "/healthz"}),
        ("http:/a:b?c=1", {"type": "http", "path": "/a:b?c=1"}),
    ],
)
def test_probe_values(value: str | None, probe: dict[str, str] | None) -> None:
    assert check_probe(value) == probe


@pytest.mark.parametrize("bad", ["grpc", "tcp:8080", "http:healthz", "http:", "HTTP", "sdk:/x"])
def test_a_bad_probe_names_the_option_and_the_choices(bad: str) -> None:
    with pytest.raises(InputError) as error:
        check_probe(bad)
    assert str(error.value).startswith(f"invalid --probe {bad!r}: use sdk")
    assert "http:/PATH" in str(error.value)


def test_persistence_values() -> None:
    assert check_persistence(False, None, None) is None
    assert check_persistence(True, None, None) == {}
    assert check_persistence(False, "2Gi", None) == {"size": "2Gi"}
    assert check_persistence(False, None, "standard") == {"storageClassName": "standard"}
    with pytest.raises(InputError, match=r"invalid --persist-size '2GB': give a storage"):
        check_persistence(True, "2GB", None)
    with pytest.raises(InputError, match=r"invalid --storage-class 'Fast_SSD'"):
        check_persistence(True, None, "Fast_SSD")


def test_the_new_fields_fit_the_crd(schema: dict[str, Any]) -> None:
    body = Request(
        "files", "1.0.0", env=[], image=IMAGE, port=8080, probe={"type": "http", "path": "/"},
        run_as_user=1000, persistence={"size": "2Gi", "storageClassName": "standard"},
    ).body()  # fmt: skip
    jsonschema.validate(body, schema)
    spec = body["spec"]
    assert spec["probe"] == {"type": "http", "path": "/"}
    assert spec["runAsUser"] == 1000
    assert spec["persistence"] == {"size": "2Gi", "storageClassName": "standard"}
    plain = Request("files", "1.0.0", env=[], image=IMAGE).body()["spec"]
    assert not {"probe", "runAsUser", "persistence"} & set(plain)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--image", IMAGE, "--probe", "exec"], "invalid --probe 'exec'"),
        (["SVC", "--probe", "tcp"], "--probe tcp is for --image IMAGE"),
        (["--image", IMAGE, "--persist-size", "lots"], "invalid --persist-size 'lots'"),
    ],
)
def test_bad_options_are_one_line_before_the_cluster(
    daeploy: Daeploy, no_cluster: Path, tmp_path: Path, args: list[str], expected: str
) -> None:
    folder = write_service(tmp_path / "svc")
    argv = ["deploy", "files", "1.0.0", *[str(folder) if a == "SVC" else a for a in args]]
    result = daeploy(*argv)
    assert result.exit_code == 2, result.output
    assert expected in one_line_error(result)


def test_user_zero_is_refused_by_the_option(daeploy: Daeploy, no_cluster: Path) -> None:
    result = daeploy("deploy", "files", "1.0.0", "--image", IMAGE, "--run-as-user", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--run-as-user': 0 is not in the range 1<=x" in result.stderr


def test_a_root_image_stops_the_wait_at_once_naming_the_flag(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, kubelet: FakeKubelet
) -> None:
    operator.unavailable.add("1.0.0")
    refused = {
        "name": "service",
        "image": IMAGE,
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "state": {
            "waiting": {
                "reason": "CreateContainerConfigError",
                "message": "container has runAsNonRoot and image will run as root "
                '(pod: "files_x(uid)", container: service)',
            }
        },
    }
    kubelet.pod(
        apiserver.namespace, "files-1", "files", "1.0.0",
        status={"phase": "Pending", "containerStatuses": [refused]},
    )  # fmt: skip
    started = time.monotonic()
    result = daeploy(
        "deploy", "files", "1.0.0", "--image", IMAGE, "--probe", "tcp", "--port", "8080",
        "--timeout", "30",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert time.monotonic() - started < 15  # the timeout is 30 s
    error = last_error_line(result)
    assert error.startswith(f"Error: files 1.0.0 failed to start: {RUN_AS_USER_NEEDED_REASON}: ")
    assert "the image runs as root" in error
    assert "spec.runAsUser" in error and "--run-as-user 1000" in error
    written = apiserver.must_get(version_object_name("files", "1.0.0"))
    assert written["spec"]["probe"] == {"type": "tcp"}
    assert written["spec"]["port"] == 8080
    assert "runAsUser" not in written["spec"]
    listing = daeploy("ls", "files")
    assert f"Not running ({RUN_AS_USER_NEEDED_REASON})" in listing.stdout


def test_persist_gives_the_version_its_claim_and_a_redeploy_without_it_keeps_the_data(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop
) -> None:
    result = daeploy(
        "deploy", "files", "1.0.0", "--image", IMAGE, "--probe", "tcp", "--run-as-user", "1000",
        "--persist", "--persist-size", "2Gi", "--timeout", "30",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    obj = apiserver.must_get(version_object_name("files", "1.0.0"))
    assert obj["spec"]["persistence"] == {"size": "2Gi"}
    assert obj["spec"]["runAsUser"] == 1000
    claim_name = data_claim_name("files", "1.0.0")
    claim = apiserver.api.get("v1", "PersistentVolumeClaim", apiserver.namespace, claim_name)
    assert claim is not None
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert claim["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    # Without --persist the CLI's apply drops spec.persistence: the pods no longer mount the
    # claim, and the claim stays with its data until the version is killed.
    again = daeploy("deploy", "files", "1.0.0", "--image", IMAGE, "--probe", "tcp",
                    "--run-as-user", "1000", "--timeout", "30")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "persistence" not in apiserver.must_get(version_object_name("files", "1.0.0"))["spec"]
    operator.settle()
    assert apiserver.api.get("v1", "PersistentVolumeClaim", apiserver.namespace, claim_name)
    deployment = apiserver.api.get(
        "apps/v1", "Deployment", apiserver.namespace, version_object_name("files", "1.0.0")
    )
    assert deployment is not None
    assert "volumes" not in deployment["spec"]["template"]["spec"]
