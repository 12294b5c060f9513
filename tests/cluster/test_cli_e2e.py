"""The cross-service tutorial, end to end, with the `daeploy` command alone (issue 5).

Every step runs the installed console script as a subprocess against the real cluster, in a
fresh namespace with its own ingress host (the namespace annotation ``daeploy.io/host``), so
other tests deploying ``die_roller`` elsewhere cannot hold its routes. The steps share one
namespace and run in file order. Deploy durations go to bench/results/cli_deploy_times.json.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kube_helpers import SIX_SERVICE

from daeploy.contract import HOST_ANNOTATION, SERVICE_LABEL
from daeploy.names import service_path

REPO = Path(__file__).resolve().parents[2]
DAEPLOY = Path(sys.executable).parent / "daeploy"
RESULTS = REPO / "bench" / "results" / "cli_deploy_times.json"
DEPLOY_TIMEOUT = 600

pytestmark = pytest.mark.cluster


BROKEN_SERVICE = 'raise RuntimeError("broken on purpose")\n'
ROW = re.compile(
    r"^(?P<main>\*?)\s+(?P<name>\w+)\s+(?P<version>\S+)\s+(?P<status>\w+)\s+(?P<running>.*)$"
)


@dataclass
class Tutorial:
    """The shared namespace, working folder and cluster handle of this module's steps."""

    cluster: Any
    namespace: str
    host: str
    workdir: Path
    timings: dict[str, float] = field(default_factory=dict)

    def daeploy(
        self, *args: str, input: str | None = None, timeout: float = DEPLOY_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DAEPLOY), "--namespace", self.namespace, *args],
            cwd=self.workdir,
            env=self.cluster.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        run = self.daeploy(*args, input=input)
        assert run.returncode == 0, f"daeploy {' '.join(args)}\n{run.stdout}\n{run.stderr}"
        return run

    def deploy(self, label: str, *args: str) -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        run = self.ok("deploy", *args)
        self.timings[label] = round(time.monotonic() - start, 2)
        return run

    def play(self) -> httpx.Response:
        return httpx.post(
            f"{self.cluster.ingress_url}{service_path('yatzee')}/play",
            headers={"Host": self.host, **self.cluster.auth_headers},
            timeout=30,
        )


def rows(stdout: str) -> list[dict[str, str]]:
    """The table rows after the header and dashes, as dicts."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("MAIN")) + 2
    parsed = []
    for line in lines[start:]:
        match = ROW.match(line)
        assert match, f"not a table row: {line!r}"
        parsed.append(match.groupdict())
    return parsed


def eventually(check: Callable[[], Any], timeout: float = 90, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy; routing and events take a moment."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, AssertionError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(1)
    raise AssertionError(f"{what or 'condition'} not met in {timeout} s; last: {last!r}")


def record(timings: dict[str, float]) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results.update(timings)
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


@pytest.fixture(scope="module")
def tutorial(
    cluster: Any,
    project_images: Any,
    daeploy_operator: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Tutorial]:
    namespace = f"cli-e2e-{uuid.uuid4().hex[:6]}"
    host = f"{namespace}.daeploy.test"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("annotate", "namespace", namespace, f"{HOST_ANNOTATION}={host}")
    state = Tutorial(cluster, namespace, host, tmp_path_factory.mktemp("cli-tutorial"))
    yield state
    if state.timings:
        record(state.timings)
        print(f"\ncli deploy-to-Ready seconds: {json.dumps(state.timings)}")
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_init_two_projects_as_in_the_tutorial(tutorial: Tutorial) -> None:
    for project, source in (
        ("die_roller_service", "die_roller"),
        ("yatzee_service", "yatzee"),
    ):
        run = tutorial.ok("init", input=f"{project}\n")
        assert run.stdout.startswith("project_name [my_project]: ")
        folder = tutorial.workdir / project
        assert (folder / "service.py").is_file()
        assert (folder / ".daeployignore").is_file()
        shutil.copy(REPO / "services" / source / "service.py", folder / "service.py")


def test_deploy_die_roller_and_yatzee(tutorial: Tutorial) -> None:
    for name, folder, label in (
        ("die_roller", "./die_roller_service", "folder_deploy_seconds"),
        ("yatzee", "./yatzee_service", "second_folder_deploy_seconds"),
    ):
        run = tutorial.deploy(label, name, "1.0.0", folder)
        lines = run.stdout.splitlines()
        assert lines[0].startswith("Active host: http")
        assert lines[1:3] == ["Deploying service...", "Service deployed successfully"]
        assert lines[3].split() == ["MAIN", "NAME", "VERSION", "STATUS", "RUNNING"]
        (row,) = rows(run.stdout)
        assert row["main"] == "*"
        assert (row["name"], row["version"], row["status"]) == (name, "1.0.0", "running")
        assert re.fullmatch(r"Running \(since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)", row["running"])
        assert "Waiting for" in run.stderr


def test_yatzee_plays_five_sorted_dice(tutorial: Tutorial) -> None:
    def answered() -> list[Any] | None:
        response = tutorial.play()
        return response.json() if response.status_code == 200 else None

    dice = eventually(answered, what=f"POST {service_path('yatzee')}/play answers 200")
    assert len(dice) == 5
    assert all(isinstance(d, int) and 1 <= d <= 6 for d in dice)
    assert dice == sorted(dice)


def test_second_version_runs_beside_until_assigned(tutorial: Tutorial) -> None:
    tutorial.ok("init", "--name", "die_roller_six")
    (tutorial.workdir / "die_roller_six" / "service.py").write_text(SIX_SERVICE)
    run = tutorial.deploy("third_folder_deploy_seconds", "die_roller", "2.0.0", "./die_roller_six")
    marks = {row["version"]: row["main"] for row in rows(run.stdout)}
    assert marks == {"1.0.0": "*", "2.0.0": ""}
    listing = rows(tutorial.ok("ls").stdout)
    assert [(r["name"], r["version"]) for r in listing] == [
        ("die_roller", "1.0.0"),
        ("die_roller", "2.0.0"),
        ("yatzee", "1.0.0"),
    ]
    assigned = tutorial.ok("assign", "die_roller", "2.0.0")
    assert assigned.stdout.splitlines()[0] == "Changed main version of die_roller to 2.0.0"
    marks = {row["version"]: row["main"] for row in rows(tutorial.ok("ls", "die_roller").stdout)}
    assert marks == {"1.0.0": "", "2.0.0": "*"}
    eventually(
        lambda: tutorial.play().json() == [6, 6, 6, 6, 6], what="five sixes from die_roller 2.0.0"
    )


def test_notifications_show_the_yatzee(tutorial: Tutorial) -> None:
    def yatzee_row() -> list[str] | None:
        run = tutorial.ok("notifications", "yatzee")
        for line in run.stdout.splitlines()[2:]:
            if line.endswith("YATZEE!!!"):
                return line.split()
        return None

    row = eventually(yatzee_row, what="a YATZEE!!! notification")
    assert row[:3] == ["INFO", "yatzee", "1.0.0"]
    assert int(row[3]) >= 1


def test_logs_of_the_main_version(tutorial: Tutorial) -> None:
    main_logs = tutorial.ok("logs", "die_roller")
    assert "rolling a six" in main_logs.stdout
    tail = tutorial.ok("logs", "die_roller", "2.0.0", "-n", "1")
    assert len(tail.stdout.splitlines()) <= 1
    assert "rolling a six" not in tutorial.ok("logs", "die_roller", "1.0.0").stdout


def test_image_deploy(tutorial: Tutorial) -> None:
    run = tutorial.deploy(
        "image_deploy_seconds", "die_roller", "3.0.0", "--image", "localhost/die-roller:1.0.0"
    )
    versions = {row["version"]: row for row in rows(run.stdout)}
    assert versions["3.0.0"]["status"] == "running"
    assert versions["3.0.0"]["main"] == ""
    assert versions["2.0.0"]["main"] == "*"


def test_broken_service_fails_with_the_reason(tutorial: Tutorial) -> None:
    folder = tutorial.workdir / "broken"
    folder.mkdir()
    (folder / "service.py").write_text(BROKEN_SERVICE)
    run = tutorial.daeploy("deploy", "broken", "1.0.0", "./broken", "--timeout", "300")
    assert run.returncode == 1, run.stdout + run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: broken 1.0.0 "), run.stderr
    assert "Service deployed successfully" not in run.stdout
    tutorial.ok("kill", "broken", "--yes")


def test_kill(tutorial: Tutorial) -> None:
    refused = tutorial.daeploy("kill", "die_roller", "2.0.0", "--yes")
    assert refused.returncode == 1
    assert "is the main version" in refused.stderr
    assert tutorial.ok("kill", "die_roller", "3.0.0", "--yes").stdout.strip() == (
        "Killed die_roller 3.0.0"
    )
    kept = tutorial.daeploy("kill", "die_roller", "1.0.0", input="n\n")
    assert kept.returncode == 1
    assert {r["version"] for r in rows(tutorial.ok("ls", "die_roller").stdout)} == {
        "1.0.0",
        "2.0.0",
    }
    tutorial.ok("kill", "die_roller", "--all", "--yes")
    gone = tutorial.daeploy("ls", "die_roller")
    assert gone.returncode == 1
    assert "no service named 'die_roller'" in gone.stderr
    eventually(
        lambda: not tutorial.cluster.kubectl(
            "get", "configmaps", "-n", tutorial.namespace, "-l", f"{SERVICE_LABEL}=die_roller",
            "-o", "name",
        ).stdout.strip(),
        what="the source ConfigMaps garbage-collected",
    )  # fmt: skip
    assert [r["name"] for r in rows(tutorial.ok("ls").stdout)] == ["yatzee"]
