"""The VM-wide sysctls the kubelet changes: saved before it starts, restored by ``down``."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

KUBELET_CHANGES = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")


def _path(name: str) -> Path:
    return Path("/proc/sys") / name


def save(file: Path) -> None:
    if file.exists():  # keep the values from before the first ``up``
        return
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({n: _path(n).read_text().strip() for n in KUBELET_CHANGES}))


def restore(file: Path) -> None:
    if not file.exists():
        return
    for name, value in json.loads(file.read_text()).items():
        with contextlib.suppress(OSError):
            _path(name).write_text(value)
    file.unlink()
