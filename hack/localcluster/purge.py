"""Give the machine back as a new one of its kind: every local cluster down, the packages the
scripts installed purged, images, the registry's storage (which ``down`` keeps) and caches gone.
Only the Go build outputs stay (keyed by version under ``CACHE/bin``, and Go's own module and
build caches), so a later run skips the half-hour of builds but does everything else as a new
machine would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from . import debian, network, node, prerequisites, versions
from .layout import Layout

BUILDAH_STORAGE = (Path("/var/lib/containers"), Path("/run/containers"))
PIP_CACHE = Path.home() / ".cache" / "pip"
LAYER_CACHE = Path.home() / ".cache" / "daeploy"
"""The CLI's built layers and base-image facts (``daeploy deploy`` of a folder)."""


def _has_traces(layout: Layout) -> bool:
    return (
        layout.state.exists()
        or layout.run.exists()
        or layout.net.netns_path.exists()
        or Path("/sys/class/net", layout.net.host_if).exists()
    )


def purge() -> dict[str, object]:
    done: dict[str, object] = {}
    slots = [s for s in range(network.MAX_SLOT + 1) if _has_traces(Layout.for_slot(s))]
    if slots:
        prerequisites.ensure()  # ``down`` runs ip and iptables
        for slot in slots:
            node.down(Layout.for_slot(slot))
        done["clusters_down"] = slots
    if versions.REGISTRY_DATA.exists():
        # ``down`` keeps every slot's registry storage on purpose; a new machine has none.
        shutil.rmtree(versions.REGISTRY_DATA)
        done["registry_storage_removed"] = str(versions.REGISTRY_DATA)
    if shutil.which("buildah"):
        for args in (["rm", "--all"], ["rmi", "--all", "--force"]):
            subprocess.run(["buildah", *args], capture_output=True)
    done["packages_purged"] = debian.purge_installed()
    for path in (*BUILDAH_STORAGE, PIP_CACHE, LAYER_CACHE):
        if path.exists():
            subprocess.run(["umount", "-R", str(path)], capture_output=True)
            shutil.rmtree(path, ignore_errors=True)
    if versions.CACHE.exists():
        for entry in versions.CACHE.iterdir():
            if entry.name != "bin":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    done["kept"] = sorted(p.name for p in (versions.CACHE / "bin").glob("*"))
    print(f"machine purged; kept the Go build outputs {done['kept']}", file=sys.stderr)
    return done
