"""Images without Docker: component images from static binaries, project images from their
Dockerfiles with buildah, all loaded straight into the node's containerd.

The project's Dockerfiles are the ones a Docker user builds; here buildah builds them against a
locally made ``python:3.11-slim`` (Debian bookworm's Python 3.11 from ``mmdebstrap``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import gobuild, oci, versions
from .components import COREDNS, PROMETHEUS, TRAEFIK
from .layout import Layout

IMAGES_CACHE = versions.CACHE / "images"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
COREDNS_IMAGE = f"localhost/coredns:{versions.COREDNS}"
TRAEFIK_IMAGE = f"localhost/traefik:{versions.TRAEFIK}"
PROMETHEUS_IMAGE = f"localhost/prometheus:{versions.PROMETHEUS_RELEASE}"


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:4])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return proc


def ctr(layout: Layout, *args: str) -> list[str]:
    return ["ctr", "--address", str(layout.containerd_socket), "--namespace", "k8s.io", *args]


def loaded_images(layout: Layout) -> set[str]:
    out = _run(ctr(layout, "images", "list", "--quiet")).stdout
    return set(out.split())


def import_archive(layout: Layout, archive: Path, base_name: str | None = None) -> None:
    cmd = ctr(layout, "images", "import", "--no-unpack=false")
    cmd = [c for c in cmd if c != "--no-unpack=false"]
    if base_name:
        cmd += ["--base-name", base_name]
    _run([*cmd, str(archive)])


def _static_image(ref: str, binary: Path, name: str, config: oci.ImageConfig) -> Path:
    archive = IMAGES_CACHE / (re.sub(r"[^A-Za-z0-9.-]+", "_", ref) + ".tar")
    if archive.exists():
        return archive
    with tempfile.TemporaryDirectory(prefix="rootfs-") as tmp:
        root = Path(tmp)
        shutil.copy2(binary, root / name)
        oci.write_archive(archive, ref, [root], config)
    return archive


def pause_archive() -> Path:
    binary = IMAGES_CACHE / "pause"
    if not binary.exists():
        IMAGES_CACHE.mkdir(parents=True, exist_ok=True)
        src = Path(__file__).with_name("pause.c")
        _run(["gcc", "-static", "-Os", "-s", "-o", str(binary), str(src)])
    return _static_image(
        versions.PAUSE_TAG,
        binary,
        "pause",
        oci.ImageConfig(entrypoint=("/pause",), user="65535:65535"),
    )


def coredns_archive() -> Path:
    return _static_image(
        COREDNS_IMAGE, COREDNS.binary(), "coredns", oci.ImageConfig(entrypoint=("/coredns",))
    )


def traefik_archive() -> Path:
    return _static_image(
        TRAEFIK_IMAGE, TRAEFIK.binary(), "traefik", oci.ImageConfig(entrypoint=("/traefik",))
    )


def prometheus_archive() -> Path:
    return _static_image(
        PROMETHEUS_IMAGE,
        PROMETHEUS.binary(),
        "prometheus",
        oci.ImageConfig(entrypoint=("/prometheus",), user="65534:65534"),
    )


def ensure_prometheus_image(layout: Layout) -> str:
    """Build Prometheus if needed and load its image; only the monitoring tests run it, so a
    node does not carry it (or wait for it) at every ``up``."""
    gobuild.build(PROMETHEUS)
    if PROMETHEUS_IMAGE not in loaded_images(layout):
        import_archive(layout, prometheus_archive())
    return PROMETHEUS_IMAGE


def load_component_images(layout: Layout) -> None:
    have = loaded_images(layout)
    for ref, make in (
        (versions.PAUSE_TAG, pause_archive),
        (COREDNS_IMAGE, coredns_archive),
        (TRAEFIK_IMAGE, traefik_archive),
    ):
        if ref not in have:
            import_archive(layout, make())


def debian_mirror() -> str:
    """The machine's own Debian mirror, read from its apt sources."""
    texts = [Path("/etc/apt/sources.list")]
    texts += sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for path in texts:
        try:
            text = path.read_text()
        except OSError:
            continue
        for match in re.finditer(r"(?m)^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text):
            uri = match.group(1)
            if "security" not in uri:
                return uri
    return "http://deb.debian.org/debian"


_BASE_DOCKERFILE = """FROM scratch
ADD rootfs.tar /
RUN rm -f /usr/lib/python3*/EXTERNALLY-MANAGED \\
 && ln -sf /usr/bin/python3 /usr/local/bin/python \\
 && ln -sf /usr/bin/pip3 /usr/local/bin/pip
ENV LANG=C.UTF-8 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
CMD ["python3"]
"""


def buildah_has(tag: str) -> bool:
    proc = subprocess.run(["buildah", "images", "--quiet", tag], capture_output=True, text=True)
    return proc.returncode == 0 and bool(proc.stdout.strip())


def ensure_python_base() -> None:
    """Make the stand-in for ``python:3.11-slim`` in buildah's storage, once per machine."""
    if buildah_has(versions.PYTHON_BASE_TAG):
        return
    rootfs = IMAGES_CACHE / f"pybase-{versions.DEBIAN_SUITE}.tar"
    if not rootfs.exists():
        IMAGES_CACHE.mkdir(parents=True, exist_ok=True)
        print(f"making the {versions.PYTHON_BASE_TAG} base with mmdebstrap", file=sys.stderr)
        partial = rootfs.with_suffix(".partial.tar")
        _run(
            [
                "mmdebstrap", "--variant=minbase", "--quiet",
                "--include=python3,python3-pip,python3-venv,ca-certificates",
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/locale/*",
                versions.DEBIAN_SUITE, str(partial), debian_mirror(),
            ]
        )  # fmt: skip
        partial.rename(rootfs)
    with tempfile.TemporaryDirectory(prefix="pybase-") as tmp:
        ctx = Path(tmp)
        (ctx / "Dockerfile").write_text(_BASE_DOCKERFILE)
        (ctx / "rootfs.tar").hardlink_to(rootfs)
        _run(["buildah", "bud", "--pull-never", "-t", versions.PYTHON_BASE_TAG, str(ctx)])


def build_commands(
    context: Path, tag: str, dockerfile: Path | None, archive: Path
) -> list[list[str]]:
    bud = ["buildah", "bud", "--layers", "--pull-never", "--network", "host"]
    if HOST_CA_BUNDLE.exists():
        # pip in RUN steps reaches PyPI through a CA only the host trusts; the mount exists only
        # while RUN runs, so it never lands in the image.
        bud += ["--volume", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"]
    if dockerfile:
        bud += ["--file", str(dockerfile)]
    bud += ["--tag", tag, str(context)]
    push = ["buildah", "push", "--quiet", tag, f"oci-archive:{archive}:{tag}"]
    return [bud, push]


def check_tag(tag: str) -> None:
    if ":" not in tag.rsplit("/", 1)[-1] or tag.endswith(":latest"):
        raise ValueError(f"image tag {tag!r}: give an explicit version tag (never latest)")


def build_and_load(layout: Layout, context: Path, tag: str, dockerfile: Path | None = None) -> None:
    """Build a Dockerfile with buildah and load the result into the node's containerd."""
    check_tag(tag)
    ensure_python_base()
    with tempfile.TemporaryDirectory(prefix="image-") as tmp:
        archive = Path(tmp) / "image.tar"
        for cmd in build_commands(context, tag, dockerfile, archive):
            _run(cmd)
        import_archive(layout, archive, base_name=tag.rsplit(":", 1)[0])
    if tag not in loaded_images(layout) and f"docker.io/{tag}" not in loaded_images(layout):
        raise RuntimeError(f"{tag} was built but containerd does not list it")
