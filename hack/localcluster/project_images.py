"""The project's own images, in dependency order: service images build FROM the runtime image.

The access gate's cache (operator/gate-cache/, Go, standard library only) is one static binary:
built with the host's Go and packed like the cluster's component images, no Dockerfile build
needed here (operator/gate-cache/Dockerfile does the same where Docker exists).

The runtime image, the base every service image builds FROM, is also pushed into the node's
registry (``runtime_in_registry``), so builds and pods can pull it from there.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import images, oci, prerequisites, registry
from .gobuild import go_env
from .layout import Layout

REPO = Path(__file__).resolve().parents[2]

RUNTIME_IMAGE = "localhost/daeploy-runtime:0.1.0"

# (tag, Dockerfile, context)
PROJECT_IMAGES: tuple[tuple[str, Path, Path], ...] = (
    (RUNTIME_IMAGE, REPO / "daeploy/runtime/Dockerfile", REPO),
    ("localhost/daeploy-operator:0.1.0", REPO / "operator/Dockerfile", REPO),
    (
        "localhost/die-roller:1.0.0",
        REPO / "services/die_roller/Dockerfile",
        REPO / "services/die_roller",
    ),
    ("localhost/yatzee:1.0.0", REPO / "services/yatzee/Dockerfile", REPO / "services/yatzee"),
    (
        "localhost/daeploy-dashboard:0.1.0",
        REPO / "services/dashboard/Dockerfile",
        REPO / "services/dashboard",
    ),
)

DASHBOARD_FRONTEND = REPO / "services" / "dashboard" / "frontend"


def fetch_dashboard_frontend() -> None:
    """htmx and its SSE extension from the npm registry, as frontend/package-lock.json pins
    them, into frontend/node_modules, which the dashboard's Dockerfile copies from."""
    if shutil.which("npm") is None:
        raise prerequisites.PrerequisiteError(
            "npm is not installed (the dashboard's image takes htmx from the npm registry): "
            "install Node.js with npm, e.g. `apt-get install npm`"
        )
    subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=DASHBOARD_FRONTEND, check=True,
    )  # fmt: skip


GATE_CACHE_IMAGE = "localhost/daeploy-gate-cache:0.1.0"
GATE_SOURCE = REPO / "operator" / "gate-cache"


def build_gate_cache(layout: Layout) -> None:
    """go build, then a one-file image loaded into containerd (always rebuilt: it is ours)."""
    problem = prerequisites.go_problem()
    if problem:
        raise prerequisites.PrerequisiteError(problem)
    with tempfile.TemporaryDirectory(prefix="gate-cache-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        subprocess.run(
            ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(root / "gate-cache"), "."],
            cwd=GATE_SOURCE, env=go_env(), check=True,
        )  # fmt: skip
        archive = Path(tmp) / "image.tar"
        config = oci.ImageConfig(entrypoint=("/gate-cache",), user="10001:10001")
        oci.write_archive(archive, GATE_CACHE_IMAGE, [root], config)
        images.import_archive(layout, archive)


def runtime_in_registry(layout: Layout) -> str:
    """The runtime image in the node's registry: ``<node IP>:5000/daeploy-runtime:0.1.0``."""
    return registry.reference(layout, RUNTIME_IMAGE)


def push_runtime(layout: Layout) -> str:
    """Push the runtime image from buildah's storage into the node's registry."""
    return registry.push(layout, RUNTIME_IMAGE)


def build_all(layout: Layout) -> dict[str, float]:
    """Build and load every project image, then push the runtime image into the registry;
    returns the seconds each took, keyed by local tag (and by registry reference for the push)."""
    took: dict[str, float] = {}
    start = time.monotonic()
    build_gate_cache(layout)
    took[GATE_CACHE_IMAGE] = time.monotonic() - start
    fetch_dashboard_frontend()
    for tag, dockerfile, context in PROJECT_IMAGES:
        start = time.monotonic()
        images.build_and_load(layout, context, tag, dockerfile)
        took[tag] = time.monotonic() - start
    start = time.monotonic()
    pushed = push_runtime(layout)
    took[pushed] = time.monotonic() - start
    return took
