"""A real kube-apiserver and etcd on 127.0.0.1 for fast tests, without a node (envtest).

Hand-written fakes say what we think the API server does; this says what it does: server-side
apply, field selectors, the CRD's schema and CEL rules, resourceVersions and 409s. Only the
control plane's storage and API run: no controller-manager (so no garbage collector, namespace
cleanup or Deployment status), no scheduler, no kubelet. The binaries are the ones
``hack/cluster build`` makes; everything else (certificates, data, logs) lives in a throwaway
directory that stop() removes.
"""

from __future__ import annotations

import ctypes
import json
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from pathlib import Path
from urllib.parse import urlencode

from kubernetes import client, config

from daeploy_operator.api import ApiServer
from localcluster.components import ETCD, KUBERNETES

LOOPBACK = "127.0.0.1"
SERVICE_CIDR = "10.0.0.0/24"
START_TIMEOUT = 60.0
# The readiness checks that only wait for the server's own bootstrap objects to be written.
SLOW_BOOTSTRAP = (
    "poststarthook/rbac/bootstrap-roles",
    "poststarthook/scheduling/bootstrap-system-priority-classes",
)
JUST_CREATED_CRD = 2.0
CRD_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_PR_SET_PDEATHSIG = 1


class EnvTestError(RuntimeError):
    """The control plane could not start; the message says why in one line, then log lines."""


@dataclass
class ControlPlane:
    """A running etcd and kube-apiserver, and how to reach the apiserver as an admin."""

    root: Path
    server: str = ""
    kubeconfig: Path = field(init=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started_in: float = 0.0
    """Seconds from start() until the CRDs' kinds take creates without a stall."""

    def __post_init__(self) -> None:
        self.kubeconfig = self.root / "admin.kubeconfig"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def kubectl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        argv = [str(KUBERNETES.binary("kubectl")), f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise EnvTestError(f"kubectl {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc


@dataclass(frozen=True)
class EnvTest:
    """What a test gets: the admin kubeconfig, the server URL and the operator's client."""

    kubeconfig: Path
    server: str
    api: ApiServer


def connect(plane: ControlPlane) -> EnvTest:
    """The operator's ApiServer on ``plane``, configured from its kubeconfig as a user's is."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(plane.kubeconfig), client_configuration=configuration)
    configuration.proxy = None  # loopback only, whatever HTTPS_PROXY says
    return EnvTest(plane.kubeconfig, plane.server, ApiServer(client.ApiClient(configuration)))


def missing_binaries() -> list[Path]:
    wanted = [ETCD.binary(), KUBERNETES.binary("kube-apiserver"), KUBERNETES.binary("kubectl")]
    return [path for path in wanted if not path.is_file()]


def start(crds: Sequence[Path] = ()) -> ControlPlane:
    """Start etcd and kube-apiserver on free loopback ports and wait until ``crds`` serve.

    On any failure what was started is stopped again before the error is raised.
    """
    missing = missing_binaries()
    if missing:
        raise EnvTestError(
            f"{', '.join(map(str, missing))} not built: run `sudo hack/cluster build`"
        )
    began = time.monotonic()
    plane = ControlPlane(Path(tempfile.mkdtemp(prefix="daeploy-envtest-")))
    try:
        _make_pki(plane.pki)
        etcd_url = _start_etcd(plane)
        deadline = began + START_TIMEOUT
        # An apiserver that finds no etcd backs off for a second or more before it retries.
        _wait_healthy(plane, "etcd", lambda: HTTPConnection(LOOPBACK, _port(etcd_url), timeout=2),
                      "/health", deadline)  # fmt: skip
        _start_apiserver(plane, etcd_url)
        _write_kubeconfig(plane)
        # CRDs can be applied while the server still creates its RBAC roles (a second or more).
        _wait_apiserver_ready(plane, deadline, exclude=SLOW_BOOTSTRAP)
        established = [_apply_crd(plane, crd) for crd in crds]
        _wait_apiserver_ready(plane, deadline)
        if established:
            # The server holds every create of a kind Established less than 2s ago for 2s (so an
            # HA peer can catch up, customresource_handler.go): wait out that window here, so
            # that no test's first create stalls.
            time.sleep(max(0.0, max(established) + JUST_CREATED_CRD - time.time()))
    except BaseException:
        stop(plane)
        raise
    plane.started_in = time.monotonic() - began
    return plane


def stop(plane: ControlPlane) -> None:
    """SIGTERM the apiserver, then etcd (SIGKILL after a timeout), by PID; remove the files."""
    for name in ("kube-apiserver", "etcd"):
        proc = plane.processes.pop(name, None)
        if proc is None or proc.poll() is not None:
            continue
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)
    shutil.rmtree(plane.root, ignore_errors=True)


def _apply_crd(plane: ControlPlane, crd: Path) -> float:
    """Server-side apply a CRD and wait until it is Established; return when it became so.

    Polled here rather than with ``kubectl wait``, which fails outright ("<nil> is of the type
    <nil>") when it reads the CRD before the server has written any condition.
    """
    plane.kubectl("apply", "--server-side", f"--filename={crd}")
    deadline = time.monotonic() + CRD_TIMEOUT
    while True:
        try:
            found = plane.kubectl(
                "get",
                f"--filename={crd}",
                '--output=jsonpath={.status.conditions[?(@.type=="Established")]}',
            ).stdout.strip()
        except EnvTestError:
            found = ""  # no conditions yet: jsonpath fails on the missing list; ask again
        condition = json.loads(found) if found else {}
        if condition.get("status") == "True":
            stamp = condition["lastTransitionTime"].replace("Z", "+00:00")
            return datetime.fromisoformat(stamp).timestamp()
        if time.monotonic() > deadline:
            raise EnvTestError(f"the CRD {crd.name} was not Established after {CRD_TIMEOUT:.0f}s")
        time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise EnvTestError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def _make_pki(pki: Path) -> None:
    """A throwaway CA, the apiserver's serving cert, an admin client cert and the SA key pair.

    P-256 keys: an RSA key takes openssl a noticeable fraction of a second each.
    """
    pki.mkdir()
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    ca_crt, ca_key = str(pki / "ca.crt"), str(pki / "ca.key")
    _openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca_crt, "-days", "2",
             "-subj", "/CN=daeploy-envtest-ca", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    leaves = {
        "apiserver": ("/CN=kube-apiserver", "serverAuth", f"IP:{LOOPBACK},DNS:localhost"),
        "admin": ("/O=system:masters/CN=envtest-admin", "clientAuth", None),
    }
    for name, (subject, usage, sans) in leaves.items():
        extensions = ["-addext", "basicConstraints=critical,CA:FALSE",
                      "-addext", f"extendedKeyUsage={usage}"]  # fmt: skip
        if sans:
            extensions += ["-addext", f"subjectAltName={sans}"]
        # OpenSSL 3: `req -x509 -CA` signs the new key's certificate with the CA in one call.
        _openssl("req", "-x509", *ec, "-keyout", str(pki / f"{name}.key"),
                 "-out", str(pki / f"{name}.crt"), "-CA", ca_crt, "-CAkey", ca_key,
                 "-days", "2", "-subj", subject, *extensions)  # fmt: skip
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", str(pki / "sa.key"))  # fmt: skip
    _openssl("pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def _die_with_parent() -> None:
    """In the child before exec: if pytest dies without its teardown, the kernel ends us too."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(plane: ControlPlane, name: str, argv: list[str]) -> None:
    with plane.log(name).open("wb") as log:
        plane.processes[name] = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=plane.root,
            start_new_session=True,  # a Ctrl-C reaches pytest, whose teardown stops us in order
            preexec_fn=_die_with_parent,
        )


def _start_etcd(plane: ControlPlane) -> str:
    client_url = f"http://{LOOPBACK}:{_free_port()}"
    peer_url = f"http://{LOOPBACK}:{_free_port()}"
    _spawn(plane, "etcd", [
        str(ETCD.binary()),
        "--name=envtest",
        f"--data-dir={plane.root / 'etcd'}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=envtest={peer_url}",
        "--unsafe-no-fsync",
        # One member elects itself, but only after an election timeout (1s by default).
        "--heartbeat-interval=10",
        "--election-timeout=100",
        "--log-level=warn",
    ])  # fmt: skip
    return client_url


def _start_apiserver(plane: ControlPlane, etcd_url: str) -> None:
    port = _free_port()
    plane.server = f"https://{LOOPBACK}:{port}"
    pki = plane.pki
    _spawn(plane, "kube-apiserver", [
        str(KUBERNETES.binary("kube-apiserver")),
        f"--etcd-servers={etcd_url}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        f"--secure-port={port}",
        f"--cert-dir={plane.root / 'apiserver'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=RBAC",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        # The 'kubernetes' Service would get an Endpoints object pointing at 127.0.0.1.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        "--v=0",
    ])  # fmt: skip


def _write_kubeconfig(plane: ControlPlane) -> None:
    pki = plane.pki
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "envtest",
                "cluster": {
                    "server": plane.server,
                    "certificate-authority": str(pki / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {
                    "client-certificate": str(pki / "admin.crt"),
                    "client-key": str(pki / "admin.key"),
                },
            }
        ],
        "contexts": [{"name": "envtest", "context": {"cluster": "envtest", "user": "admin"}}],
        "current-context": "envtest",
    }
    plane.kubeconfig.write_text(json.dumps(kubeconfig, indent=2))  # JSON is YAML


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _wait_apiserver_ready(
    plane: ControlPlane, deadline: float, exclude: Sequence[str] = ()
) -> None:
    """Poll /readyz as the admin until every check but ``exclude`` passes."""
    context = ssl.create_default_context(cafile=str(plane.pki / "ca.crt"))
    context.load_cert_chain(str(plane.pki / "admin.crt"), str(plane.pki / "admin.key"))
    port = _port(plane.server)
    path = "/readyz" + (
        f"?{urlencode([('exclude', check) for check in exclude])}" if exclude else ""
    )
    _wait_healthy(plane, "kube-apiserver",
                  lambda: HTTPSConnection(LOOPBACK, port, context=context, timeout=2),
                  path, deadline)  # fmt: skip


def _wait_healthy(plane: ControlPlane, name: str, connect: Callable[[], HTTPConnection],
                  path: str, deadline: float) -> None:  # fmt: skip
    """Until GET ``path`` answers 200; fail early when one of our processes died."""
    last = "no answer yet"
    while time.monotonic() < deadline:
        for proc_name, proc in plane.processes.items():
            if proc.poll() is not None:
                raise EnvTestError(
                    f"{proc_name} exited {proc.returncode}\n{_tail(plane.log(proc_name))}"
                )
        connection = connect()
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            if response.status == 200:
                return
            last = f"HTTP {response.status}: {body[-300:].decode(errors='replace')}"
        except (OSError, HTTPException) as error:
            last = str(error)
        finally:
            connection.close()
        time.sleep(0.05)
    raise EnvTestError(
        f"{name} not ready in {START_TIMEOUT:.0f}s ({last})\n{_tail(plane.log(name))}"
    )


def _tail(log: Path, lines: int = 20) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return f"--- last lines of {log.name} ---\n" + "\n".join(text)
