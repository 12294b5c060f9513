"""The project's own images, in dependency order: service images build FROM the runtime image."""

from __future__ import annotations

import time
from pathlib import Path

from . import images
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


def build_all(layout: Layout) -> dict[str, float]:
    took: dict[str, float] = {}
    for tag, dockerfile, context in PROJECT_IMAGES:
        start = time.monotonic()
        images.build_and_load(layout, context, tag, dockerfile)
        took[tag] = time.monotonic() - start
    return took
