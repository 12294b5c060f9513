"""kube-apiserver, controller-manager, scheduler, kubelet, kube-proxy and kubectl."""

from __future__ import annotations

from .. import versions
from ..gobuild import GoComponent, minor_of


def _version_ldflags(version: str) -> tuple[str, ...]:
    flags: list[str] = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor=1",
            f"-X {pkg}.gitMinor={minor_of(version)}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.gitCommit=0000000000000000000000000000000000000000",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    return tuple(flags)


KUBERNETES = GoComponent(
    name="kubernetes",
    module="k8s.io/kubernetes",
    version=versions.KUBERNETES,
    packages=tuple(
        f"k8s.io/kubernetes/cmd/{c}"
        for c in (
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kubelet",
            "kube-proxy",
            "kubectl",
        )
    ),
    ldflags=_version_ldflags(versions.KUBERNETES),
    staging_version="v0." + versions.KUBERNETES.removeprefix("v1."),
)
