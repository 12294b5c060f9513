"""The kubelet's pod cgroups of one local cluster: made before it starts, found and removed by
``down``. A cluster in slot N keeps ``kubepods`` under its own parent, so two clusters on one
machine never see each other's pods."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .layout import Layout

ROOT = Path("/sys/fs/cgroup")


def _unified() -> bool:
    return (ROOT / "cgroup.controllers").exists()


def hierarchies() -> list[Path]:
    """The mounted hierarchies (cgroup v1), or the one root (v2)."""
    if _unified():
        return [ROOT]
    return sorted(d for d in ROOT.iterdir() if (d / "cgroup.procs").exists())


def ensure_parent(layout: Layout) -> None:
    """The kubelet refuses a ``cgroupRoot`` that does not exist in every hierarchy."""
    if not layout.cgroup_parent:
        return
    for top in hierarchies():
        parent = top / layout.cgroup_parent
        parent.mkdir(exist_ok=True)
        if top.name == "cpuset":  # v1 cpuset starts empty and admits no task until filled
            for knob in ("cpuset.cpus", "cpuset.mems"):
                (parent / knob).write_text((top / knob).read_text())
        if top == ROOT and _unified():
            wanted = (ROOT / "cgroup.subtree_control").read_text().split()
            with contextlib.suppress(OSError):
                (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))


def pod_dirs(layout: Layout) -> list[Path]:
    return [d for d in (top / layout.kubepods_relative for top in hierarchies()) if d.is_dir()]


def _tree(top: Path) -> list[Path]:
    """Every cgroup under ``top``, deepest first. The kubelet removes cgroups while we look, so
    a folder that vanishes mid-walk is skipped (``Path.glob`` would raise)."""
    found = [Path(root) for root, _, _ in os.walk(top, onerror=lambda _: None)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def pod_pids(layout: Layout) -> list[int]:
    """Processes in the kubelet's pod cgroups: containers that outlived their runtime."""
    pids: set[int] = set()
    for top in pod_dirs(layout):
        for cgroup in _tree(top):
            try:
                pids.update(int(p) for p in (cgroup / "cgroup.procs").read_text().split())
            except OSError:
                continue
    return sorted(pids)


def remove(layout: Layout) -> None:
    """Remove the pod cgroups (deepest first), then this cluster's own parent."""
    for top in pod_dirs(layout):
        for d in _tree(top):
            with contextlib.suppress(OSError):
                d.rmdir()
    if layout.cgroup_parent:
        for top in hierarchies():
            with contextlib.suppress(OSError):
                (top / layout.cgroup_parent).rmdir()


def leftovers(layout: Layout) -> list[str]:
    found = [f"cgroup {d}" for d in pod_dirs(layout)]
    if layout.cgroup_parent:
        found += [
            f"cgroup {top / layout.cgroup_parent}"
            for top in hierarchies()
            if (top / layout.cgroup_parent).is_dir()
        ]
    return found
