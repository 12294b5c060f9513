"""The project's own images, in dependency order: service images build FROM the runtime image.

The access gate's cache (operator/gate-cache/, Go, standard library only) is one static binary:
built with the host's Go and packed like the cluster's component images, no Dockerfile build
needed here (operator/gate-cache/Dockerfile does the same where Docker exists).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from . import images, oci, prerequisites
from .gobuild import go_env
from .layout import Layout

REPO = Path(__file__).resolve().parents[2]

# (tag, Dockerfile, context)
PROJECT_IMAGES: tuple[tuple[str, Path, Path], ...] = (
    ("localhost/daeploy-runtime:0.1.0", REPO / "daeploy/runtime/Dockerfile", REPO),
    ("localhost/daeploy-operator:0.1.0", REPO / "operator/Dockerfile", REPO),
    (
        "localhost/die-roller:1.0.0",
        REPO / "services/die_roller/Dockerfile",
        REPO / "services/die_roller",
    ),
    ("localhost/yatzee:1.0.0", REPO / "services/yatzee/Dockerfile", REPO / "services/yatzee"),
)


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


def build_all(layout: Layout) -> dict[str, float]:
    took: dict[str, float] = {}
    start = time.monotonic()
    build_gate_cache(layout)
    took[GATE_CACHE_IMAGE] = time.monotonic() - start
    for tag, dockerfile, context in PROJECT_IMAGES:
        start = time.monotonic()
        images.build_and_load(layout, context, tag, dockerfile)
        took[tag] = time.monotonic() - start
    return took
