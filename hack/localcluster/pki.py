"""The cluster's certificates, made with Debian's openssl: one CA and a cert per identity."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import network, volumes

NODE_NAME = "node0"


@dataclass(frozen=True)
class CertSpec:
    name: str
    common_name: str
    organization: str | None = None
    sans: tuple[str, ...] = ()
    server: bool = False


def certs(net: network.Net = network.DEFAULT) -> tuple[CertSpec, ...]:
    return (
        CertSpec(
            "apiserver",
            "kube-apiserver",
            sans=(
                f"IP:{net.api_service_ip}",
                f"IP:{net.node_ip}",
                "IP:127.0.0.1",
                "DNS:localhost",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                f"DNS:kubernetes.default.svc.{network.CLUSTER_DOMAIN}",
            ),
            server=True,
        ),
        CertSpec("admin", "kubernetes-admin", "system:masters"),
        CertSpec("controller-manager", "system:kube-controller-manager"),
        CertSpec("scheduler", "system:kube-scheduler"),
        CertSpec("kubelet-client", f"system:node:{NODE_NAME}", "system:nodes"),
        CertSpec(
            "kubelet-server",
            f"system:node:{NODE_NAME}",
            "system:nodes",
            sans=(f"IP:{net.node_ip}", "IP:127.0.0.1", f"DNS:{NODE_NAME}"),
            server=True,
        ),
        CertSpec("kube-proxy", "system:kube-proxy"),
        CertSpec("volume-provisioner", volumes.USER),
        CertSpec("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
    )


def subject(spec: CertSpec) -> str:
    org = f"/O={spec.organization}" if spec.organization else ""
    return f"{org}/CN={spec.common_name}"


def extensions(spec: CertSpec) -> str:
    usage = "serverAuth,clientAuth" if spec.server else "clientAuth"
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if spec.sans:
        lines.append("subjectAltName=" + ",".join(spec.sans))
    return "\n".join(lines) + "\n"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def ensure(pki: Path, net: network.Net = network.DEFAULT) -> None:
    """Create whatever is missing; existing keys are kept so a restart keeps its identity."""
    pki.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = pki / "ca.key", pki / "ca.crt"
    if not ca_crt.exists():
        _openssl("genrsa", "-out", str(ca_key), "2048")
        _openssl(
            "req", "-x509", "-new", "-key", str(ca_key), "-sha256", "-days", "3650",
            "-subj", "/CN=daeploy-local-ca", "-out", str(ca_crt),
        )  # fmt: skip
    if not (pki / "sa.key").exists():
        _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
        _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))
    for spec in certs(net):
        crt = pki / f"{spec.name}.crt"
        if crt.exists():
            continue
        key, csr, ext = (pki / f"{spec.name}.{s}" for s in ("key", "csr", "ext"))
        ext.write_text(extensions(spec))
        _openssl("genrsa", "-out", str(key), "2048")
        _openssl("req", "-new", "-key", str(key), "-subj", subject(spec), "-out", str(csr))
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", "3650", "-sha256", "-extfile", str(ext), "-out", str(crt),
        )  # fmt: skip
        csr.unlink()
    for path in pki.glob("*.key"):
        path.chmod(0o600)
