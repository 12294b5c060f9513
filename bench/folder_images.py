"""Benchmark: a folder with numpy and pandas, from `daeploy deploy` to Ready, against buildah.

Two ways to the same running version, side by side in one namespace of the local cluster:

- ``daeploy``: `daeploy deploy NAME VERSION FOLDER`, which builds the image on this machine
  (runtime image as base, a wheels-only dependency layer, a code layer), pushes it to the
  cluster's registry and pins it by digest. First with an empty layer cache (``DAEPLOY_CACHE``
  in a fresh folder), then again after a one-line change of service.py (goal: <= 5 s to Ready,
  only the code layer uploaded).
- ``buildah``: the reference. An equivalent Dockerfile (FROM the runtime image, pip install
  -r requirements.txt, COPY the folder) built with ``buildah bud --layers``, pushed to the same
  registry, deployed with `daeploy deploy --image ...@digest`; first with no cached layers,
  then after the same one-line change (its layer cache keeps the pip step).

pip's own download cache is warm for both (the wheels come from PyPI once per machine), so
the figures compare building, not downloading. Each step's clock runs from the command's start
to the version's Ready. Prints a table, writes ``bench/results/folder_images.json``. Needs
root. Usage: ``.venv/bin/python bench/folder_images.py``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cluster_bench import (
    REPO,
    bench_namespace,
    finish_machine_state,
    machine_state,
    now_utc,
    prepare,
    print_table,
    write_results,
)

from localcluster import images, project_images, registry

DAEPLOY = Path(sys.executable).parent / "daeploy"
HOST = "images.bench.local"
SERVICE = (REPO / "tests" / "sdk" / "apps" / "stats_service.py").read_text()
DOCKERFILE = """\
FROM {base}
USER root
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt
COPY . /app
WORKDIR /app
USER 10001
CMD ["python", "service.py"]
"""
UPLOADED = re.compile(r"\(uploaded: (?P<what>[^;)]*)")


def _folder(root: Path) -> Path:
    folder = root / "np_service"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "service.py").write_text(SERVICE)
    (folder / "requirements.txt").write_text("numpy\npandas\n")
    return folder


def _edit(folder: Path) -> None:
    path = folder / "service.py"
    path.write_text(path.read_text().replace("EDIT = 0", "EDIT = 1"))


def _run(command: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    took = time.monotonic() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed:\n{done.stdout}\n{done.stderr}")
    return took, done


def daeploy_path(env: dict[str, str], namespace: str, folder: Path) -> dict[str, Any]:
    deploy = [str(DAEPLOY), "--namespace", namespace, "deploy", "npd"]
    first, run = _run([*deploy, "1.0.0", str(folder)], env)
    first_upload = UPLOADED.search(run.stderr)
    _edit(folder)
    second, run = _run([*deploy, "1.0.1", str(folder)], env)
    second_upload = UPLOADED.search(run.stderr)
    return {
        "first_deploy_to_ready_s": round(first, 2),
        "first_uploaded": first_upload["what"] if first_upload else "?",
        "second_deploy_to_ready_s": round(second, 2),
        "second_uploaded": second_upload["what"] if second_upload else "?",
    }


def _buildah(env: dict[str, str], folder: Path, tag: str, target: str) -> str:
    bud = ["buildah", "bud", "--layers", "--pull-never", "--network", "host", "--quiet"]
    if images.HOST_CA_BUNDLE.exists():
        bud += ["--volume", f"{images.HOST_CA_BUNDLE}:{images.HOST_CA_BUNDLE}:ro"]
    _run([*bud, "--tag", tag, str(folder)], env)
    with tempfile.NamedTemporaryFile("r", suffix=".digest") as digest_file:
        _run(
            ["buildah", "push", "--quiet", "--tls-verify=false", "--digestfile", digest_file.name,
             tag, f"docker://{target}"],
            env,
        )  # fmt: skip
        return digest_file.read().strip()


def buildah_path(env: dict[str, str], namespace: str, folder: Path, layout: Any) -> dict[str, Any]:
    base = project_images.RUNTIME_IMAGE
    (folder / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    repository = f"{registry.address(layout)}/{namespace}/npb"
    figures: dict[str, Any] = {}
    for step, version in (("first", "1.0.0"), ("second", "1.0.1")):
        if step == "second":
            _edit(folder)
        tag = f"localhost/bench-npb:{version}"
        start = time.monotonic()
        digest = _buildah(env, folder, tag, f"{repository}:{version}")
        built = time.monotonic() - start
        deploy = [str(DAEPLOY), "--namespace", namespace, "deploy", "npb", version]
        took, _ = _run([*deploy, "--image", f"{repository}@{digest}"], env)
        figures[f"{step}_build_and_push_s"] = round(built, 2)
        figures[f"{step}_deploy_to_ready_s"] = round(built + took, 2)
    subprocess.run(["buildah", "rmi", "--force", "localhost/bench-npb:1.0.0",
                    "localhost/bench-npb:1.0.1"], capture_output=True)  # fmt: skip
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="rebuild every project image")
    args = parser.parse_args()

    cluster, operator_namespace = prepare(args.rebuild)
    machine = machine_state(cluster, operator_namespace)
    with (
        tempfile.TemporaryDirectory(prefix="bench-images-") as tmp,
        bench_namespace(cluster, "bench-images", HOST) as namespace,
    ):
        root = Path(tmp)
        env = {**cluster.env, "DAEPLOY_CACHE": str(root / "cache")}
        ours = daeploy_path(env, namespace, _folder(root / "daeploy"))
        reference = buildah_path(env, namespace, _folder(root / "buildah"), cluster.layout)

    results = {
        "benchmark": "folder_images",
        "when": now_utc(),
        "machine": finish_machine_state(machine),
        "pip_download_cache": "warm for both (wheels from PyPI once per machine)",
        "daeploy": ours,
        "buildah": reference,
        "ratio_first": round(
            ours["first_deploy_to_ready_s"] / reference["first_deploy_to_ready_s"], 3
        ),
        "ratio_second": round(
            ours["second_deploy_to_ready_s"] / reference["second_deploy_to_ready_s"], 3
        ),
    }
    out = write_results("folder_images", results)
    print_table(
        ["path", "first deploy to Ready s", "after a one-line change s", "uploaded 2nd time"],
        [
            ["daeploy deploy FOLDER", ours["first_deploy_to_ready_s"],
             ours["second_deploy_to_ready_s"], ours["second_uploaded"]],
            ["buildah bud + push + deploy --image", reference["first_deploy_to_ready_s"],
             reference["second_deploy_to_ready_s"], "changed layers"],
            ["ratio daeploy / buildah", results["ratio_first"], results["ratio_second"], ""],
        ],
    )  # fmt: skip
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
