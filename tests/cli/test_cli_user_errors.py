"""Every failure a user can cause, through the installed `daeploy` script: one line, no traceback.

Each case runs the real console script in a subprocess (so the entry point and its error
handling are what is tested) against a kubeconfig, a folder or a namespace of a real API server
(envtest) set up for it. The API server's own refusals are real too: a ServiceAccount without
permissions gets its 403, a CRD that is not served its 404. Only the HTTP 500 comes from a
stand-in (cli_envtest.ErrorServer): a healthy server cannot be made to fail that way.
Exit code 1 for a failure, 2 for a usage error; click's usage header is the only extra output
allowed, and only for exit code 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli_envtest import (
    ApiNamespace,
    ErrorServer,
    crd_not_served,
    service_account_kubeconfig,
    write_kubeconfig,
)
from cli_support import write_service
from envtest import EnvTest

from daeploy.cli import main as cli_main
from daeploy.contract import DEBUG_ENV

SCRIPT = Path(sys.executable).parent / "daeploy"
DEAD_SERVER = "https://127.0.0.1:1"  # nothing listens on port 1: connection refused at once


def kubeconfig_text(
    server: str = DEAD_SERVER, cluster: str = "c", user: str = "user: {token: t}"
) -> str:
    return f"""\
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "{server}"}}
contexts:
- name: ctx
  context: {{cluster: {cluster}, user: u}}
current-context: ctx
users:
- name: u
  {user}
"""


# name -> what KUBECONFIG points at ("envtest": the namespace's on envtest, None: nothing there)
KUBECONFIGS: dict[str, str | bytes | None] = {
    "missing": None,
    "malformed": "apiVersion: v1\nclusters: [\n  - {name: c\n",
    "binary": b"\xff\xfe\x00\x80garbage",
    "list": "- apiVersion: v1\n- kind: Config\n",
    "clusters-not-a-list": "apiVersion: v1\nclusters: 5\n",
    "no-contexts": "apiVersion: v1\nkind: Config\n",
    "missing-cluster": kubeconfig_text(cluster="elsewhere"),
    "no-server-url": kubeconfig_text(server="localhost 6443"),
    "plugin-missing": kubeconfig_text(
        user="user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, "
        "command: /nonexistent/kube-login}}"
    ),
    "dead": kubeconfig_text(),
}


@dataclass
class World:
    """What a case may set up: a scratch folder and a namespace on envtest."""

    tmp: Path
    cluster: ApiNamespace
    stack: ExitStack
    kubeconfig: Path | None = field(default=None)  # instead of the case's, when set

    def add_service(self, name: str = "die", version: str = "1.0.0") -> None:
        self.cluster.create(name, version, main=True)


def nothing(world: World) -> None:
    pass


def kubeconfig_folder(world: World) -> None:
    (world.tmp / "kubeconfig").mkdir()


def service_folder(world: World) -> None:
    write_service(world.tmp / "svc")


def folder_without_service_py(world: World) -> None:
    (world.tmp / "svc").mkdir()
    (world.tmp / "svc" / "main.py").write_text("print('hi')\n")


def a_file(world: World) -> None:
    (world.tmp / "file").write_text("not a folder\n")


def ignore_file_not_utf8(world: World) -> None:
    write_service(world.tmp / "svc")
    (world.tmp / "svc" / ".daeployignore").write_bytes(b"\xff\xfe*.bin\n")


def one_service(world: World) -> None:
    world.add_service()


def forbidding(world: World) -> None:
    """The user is a ServiceAccount no Role grants anything."""
    cluster = world.cluster
    world.kubeconfig = service_account_kubeconfig(
        cluster.envtest, world.tmp / "dev-kubeconfig", cluster.namespace, "dev"
    )


def forbidden_service_folder(world: World) -> None:
    service_folder(world)
    forbidding(world)


def failing(world: World) -> None:
    server = ErrorServer()
    world.stack.callback(server.stop)
    world.kubeconfig = world.tmp / "failing-kubeconfig"
    world.kubeconfig.write_text(kubeconfig_text(server=server.url))


def no_crd(world: World) -> None:
    world.stack.enter_context(crd_not_served(world.cluster.api))


def existing_project(world: World) -> None:
    (world.tmp / "taken").mkdir()
    (world.tmp / "taken" / "service.py").write_text("# mine\n")


def read_only_parent(world: World) -> None:
    folder = world.tmp / "readonly"
    folder.mkdir()
    folder.chmod(0o555)


def read_only_target(world: World) -> str:
    """Root writes through file modes; sysfs refuses new folders even to root."""
    return "/sys" if os.geteuid() == 0 else str(world.tmp / "readonly")


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]  # "{tmp}" is the scratch folder, "{readonly}" a folder nobody can write
    keywords: tuple[str, ...]
    exit_code: int = 1
    kubeconfig: str = "envtest"
    setup: Callable[[World], None] = nothing
    stdin: str = ""


SVC = "{tmp}/svc"
CASES = [
    # The kubeconfig and the cluster ------------------------------------------------------
    Case("kubeconfig-missing", ("ls",), ("does not exist", "KUBECONFIG"), kubeconfig="missing"),
    Case(
        "kubeconfig-malformed-yaml", ("ls",), ("not valid YAML", "line 3"), kubeconfig="malformed"
    ),
    Case("kubeconfig-binary", ("ls",), ("not valid YAML",), kubeconfig="binary"),
    Case("kubeconfig-is-a-list", ("ls",), ("not a kubeconfig", "a list"), kubeconfig="list"),
    Case(
        "kubeconfig-clusters-not-a-list",
        ("ls",),
        ("not a kubeconfig", "'clusters' must be a list"),
        kubeconfig="clusters-not-a-list",
    ),
    Case("kubeconfig-no-contexts", ("ls",), ("has no contexts",), kubeconfig="no-contexts"),
    Case(
        "kubeconfig-missing-cluster",
        ("ls",),
        ("cluster 'elsewhere'", "does not define"),
        kubeconfig="missing-cluster",
    ),
    Case(
        "kubeconfig-is-a-folder",
        ("ls",),
        ("is a folder", "KUBECONFIG"),
        kubeconfig="folder",
        setup=kubeconfig_folder,
    ),
    Case("kubeconfig-bad-server-url", ("ls",), ("server URL",), kubeconfig="no-server-url"),
    Case(
        "kubeconfig-credential-plugin-missing",
        ("ls",),
        ("credential plugin failed", "/nonexistent/kube-login"),
        kubeconfig="plugin-missing",
    ),
    Case(
        "unknown-context",
        ("--context", "prod", "ls"),
        ("--context 'prod'", "available contexts: envtest"),
        exit_code=2,
    ),
    Case("cluster-down", ("ls",), ("connection refused", DEAD_SERVER), kubeconfig="dead"),
    Case(
        "deploy-to-cluster-down",
        ("deploy", "die", "1.0.0", SVC),
        ("connection refused",),
        kubeconfig="dead",
        setup=service_folder,
    ),
    Case(
        "invalid-namespace",
        ("--namespace", "Team_A", "ls"),
        ("invalid --namespace 'Team_A'", "lowercase"),
        exit_code=2,
    ),
    Case(
        "namespace-does-not-exist",
        ("--namespace", "nope", "deploy", "die", "1.0.0", SVC, "--no-wait"),
        ("namespace 'nope' does not exist", "kubectl create namespace"),
        setup=service_folder,
    ),
    Case(
        "permission-denied-403",
        ("ls",),
        ("permission denied", "403", "cannot list resource"),
        setup=forbidding,
    ),
    Case(
        "deploy-permission-denied-403",
        ("deploy", "die", "1.0.0", SVC),
        ("permission denied", "403"),
        setup=forbidden_service_folder,
    ),
    Case("api-server-error-500", ("ls",), ("500", "etcdserver", "try again"), setup=failing),
    Case("crd-not-installed", ("ls",), ("CRD is not installed", "helm install"), setup=no_crd),
    # The command line --------------------------------------------------------------------
    Case("unknown-command", ("frobnicate",), ("No such command 'frobnicate'",), exit_code=2),
    Case("unknown-flag", ("ls", "--bogus"), ("No such option '--bogus'",), exit_code=2),
    Case("missing-arguments", ("deploy",), ("Missing argument 'NAME'",), exit_code=2),
    Case("bad-option-value", ("deploy", "die", "1.0.0", SVC, "--port", "0"), ("--port",), 2),
    # deploy ------------------------------------------------------------------------------
    Case(
        "deploy-missing-folder",
        ("deploy", "die", "1.0.0", "{tmp}/nowhere"),
        ("does not exist",),
        exit_code=2,
    ),
    Case(
        "deploy-folder-without-service-py",
        ("deploy", "die", "1.0.0", SVC),
        ("has no service.py", "daeploy init"),
        exit_code=2,
        setup=folder_without_service_py,
    ),
    Case(
        "deploy-path-is-a-file",
        ("deploy", "die", "1.0.0", "{tmp}/file"),
        ("is not a folder",),
        exit_code=2,
        setup=a_file,
    ),
    Case(
        "deploy-invalid-name",
        ("deploy", "Die-Roller", "1.0.0", SVC),
        ("invalid service name 'Die-Roller'", "lowercase letters, digits and underscores"),
        exit_code=2,
        setup=service_folder,
    ),
    Case(
        "deploy-invalid-version",
        ("deploy", "die", "1.0", SVC),
        ("invalid version '1.0'", "semantic version"),
        exit_code=2,
        setup=service_folder,
    ),
    Case(
        "deploy-path-and-image",
        ("deploy", "die", "1.0.0", SVC, "--image", "repo/die:1.0.0"),
        ("not both",),
        exit_code=2,
        setup=service_folder,
    ),
    Case(
        "deploy-ignore-file-not-utf8",
        ("deploy", "die", "1.0.0", SVC),
        ("not UTF-8",),
        exit_code=2,
        setup=ignore_file_not_utf8,
    ),
    # Names that do not exist -------------------------------------------------------------
    Case("assign-unknown-service", ("assign", "ghost", "1.0.0"), ("no service named 'ghost'",)),
    Case("kill-unknown-service", ("kill", "ghost", "--yes"), ("no service named 'ghost'",)),
    Case("logs-unknown-service", ("logs", "ghost"), ("no service named 'ghost'",)),
    Case(
        "assign-unknown-version",
        ("assign", "die", "9.9.9"),
        ("has no version '9.9.9'", "1.0.0"),
        setup=one_service,
    ),
    Case(
        "kill-without-confirmation",
        ("kill", "die", "1.0.0"),
        ("nothing killed", "--yes"),
        setup=one_service,
    ),
    # init --------------------------------------------------------------------------------
    Case(
        "init-into-existing-folder",
        ("init", "{tmp}", "--name", "taken"),
        ("already exists",),
        exit_code=2,
        setup=existing_project,
    ),
    Case(
        "init-not-writable",
        ("init", "{readonly}", "--name", "proj"),
        ("cannot create the project", "choose a folder you can write to"),
        setup=read_only_parent,
    ),
    Case(
        "init-under-a-file",
        ("init", "{tmp}/file/sub", "--name", "proj"),
        ("cannot create the project", "Not a directory"),
        setup=a_file,
    ),
    Case("init-no-name-no-input", ("init", "{tmp}"), ("--name",), exit_code=2),
]


def error_lines(stderr: str, exit_code: int) -> list[str]:
    """stderr without click's usage header (allowed before a usage error only)."""
    lines = stderr.strip().splitlines()
    if exit_code == 2 and lines and lines[0].startswith("Usage: "):
        lines = [line for line in lines[1:] if line.strip() and not line.startswith("Try '")]
    return lines


@pytest.fixture
def world(envtest: EnvTest, envtest_namespace: str, tmp_path: Path) -> Iterator[World]:
    cluster = ApiNamespace(envtest, envtest_namespace, tmp_path / "envtest-kubeconfig")
    with ExitStack() as stack:
        yield World(tmp_path, cluster, stack)


def kubeconfig_for(case: Case, world: World) -> Path:
    if world.kubeconfig is not None:
        return world.kubeconfig
    path = world.tmp / "kubeconfig"
    if case.kubeconfig == "envtest":
        return write_kubeconfig(world.cluster.envtest, path, world.cluster.namespace)
    if case.kubeconfig == "folder":
        return path
    content = KUBECONFIGS[case.kubeconfig]
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    return path


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_user_error_is_one_line_without_traceback(case: Case, world: World) -> None:
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: install the project (bash hack/venv.sh)"
    case.setup(world)
    kubeconfig = kubeconfig_for(case, world)
    values = {"tmp": str(world.tmp), "readonly": read_only_target(world)}
    args = [arg.format(**values) for arg in case.args]
    unset = (DEBUG_ENV, "KUBERNETES_SERVICE_HOST")
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.update(KUBECONFIG=str(kubeconfig), HOME=str(world.tmp))
    run = subprocess.run(
        [str(SCRIPT), *args],
        input=case.stdin,
        env=env,
        cwd=world.tmp,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = f"exit {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    assert run.returncode == case.exit_code, report
    assert "Traceback" not in run.stderr + run.stdout, report
    lines = error_lines(run.stderr, case.exit_code)
    assert len(lines) == 1, report
    assert lines[0].startswith("Error: "), report
    for keyword in case.keywords:
        assert keyword in lines[0], report


def test_an_unexpected_failure_is_one_line_unless_debugging(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The last resort in the entry point: a bug still ends in one line, and says how to see it."""

    def broken(**_: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli_main.cli, "main", broken)
    monkeypatch.delenv(cli_main.DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as stopped:
        cli_main.main()
    assert stopped.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "RuntimeError: boom second line" in lines[0]
    assert f"{cli_main.DEBUG_ENV}=1" in lines[0]
    monkeypatch.setenv(cli_main.DEBUG_ENV, "1")
    with pytest.raises(RuntimeError):
        cli_main.main()
