"""``hack/cluster``: the local cluster's command line.

``DAEPLOY_LC_SLOT=N`` (0..8, default 0) picks which local cluster a verb works on; slot 0 is the
one at 172.30.255.2, others have their own files, namespace and addresses.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from . import images, node, prerequisites, project_images, purge, registry
from .components import ALL, HELM, KUBERNETES
from .layout import Layout


class UserError(Exception):
    """A failure the user can fix; printed as one line, exit code 1."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hack/cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="build what is missing and start the node (idempotent)")
    sub.add_parser("down", help="stop everything by PID and remove all traces")
    sub.add_parser("status", help="print the state of the node as JSON")
    sub.add_parser("build", help="build the Go components into the cache")
    sub.add_parser("kubeconfig", help="print the admin kubeconfig path")
    sub.add_parser("env", help="print shell exports for KUBECONFIG and PATH")
    sub.add_parser("leftovers", help="list what of the cluster is on the machine (exit 1 if any)")
    sub.add_parser(
        "purge",
        help="every cluster down, installed packages purged, images and caches removed "
        "(keeps the Go build outputs): a new machine's state",
    )
    img = sub.add_parser("image", help="build an image from a Dockerfile and load it")
    img.add_argument("action", choices=["build"])
    img.add_argument("context", type=Path)
    img.add_argument("--tag", "-t", required=True)
    img.add_argument("--file", "-f", type=Path)
    sub.add_parser("images", help="build and load all of the project's images")
    for tool in ("kubectl", "helm"):
        p = sub.add_parser(tool, help=f"run {tool} against the cluster")
        p.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _exec_tool(layout: Layout, argv: list[str]) -> int:
    binary = KUBERNETES.binary("kubectl") if argv[0] == "kubectl" else HELM.binary()
    if not binary.exists():
        raise UserError(f"{binary} is not built yet: run `sudo hack/cluster up` first")
    if not layout.admin_kubeconfig.exists():
        raise UserError("the cluster is not up (no kubeconfig): run `sudo hack/cluster up` first")
    os.environ["KUBECONFIG"] = str(layout.admin_kubeconfig)
    os.execv(str(binary), [str(binary), *argv[1:]])
    return 0  # not reached


def _check_image_args(args: argparse.Namespace) -> None:
    """Before anything is installed or built: the user's own input."""
    context: Path = args.context
    dockerfile: Path = args.file or context / "Dockerfile"
    if not context.is_dir():
        raise UserError(f"build context {context} is not a folder: give the folder to build")
    if not dockerfile.is_file():
        raise UserError(f"no Dockerfile at {dockerfile}: add one or name it with --file")
    try:
        images.check_tag(args.tag)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _require_up(layout: Layout) -> None:
    if not (layout.admin_kubeconfig.exists() and node.healthy(layout)):
        raise UserError("the cluster is not up: run `sudo hack/cluster up` first")


def run(argv: list[str]) -> int:
    try:
        layout = Layout.from_env()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if argv and argv[0] in ("kubectl", "helm"):
        # Pass everything through untouched: argparse would eat the tool's own options.
        return _exec_tool(layout, argv)
    args = _parser().parse_args(argv)
    if args.command == "kubeconfig":
        print(layout.admin_kubeconfig)
        return 0
    if args.command == "env":
        print(f"export KUBECONFIG={layout.admin_kubeconfig}")
        print(f"export PATH={KUBERNETES.bin_dir}:{HELM.bin_dir}:$PATH")
        print(f"export DAEPLOY_INGRESS_URL={layout.net.ingress_url}")
        return 0
    if args.command == "purge":
        problems = [p for p in prerequisites.host_problems(needs_go=False)]
        if problems:
            raise prerequisites.PrerequisiteError("\n".join(problems))
        print(json.dumps(purge.purge(), indent=1))
        return 0
    if args.command == "image":
        _check_image_args(args)
    # Every other verb runs system programs: check and install them before the first one.
    needs_go = args.command in ("up", "build") and not all(c.is_built() for c in ALL)
    prerequisites.ensure(needs_go=needs_go)
    if args.command == "up":
        result = node.up(layout)
        print(json.dumps(result, indent=1), file=sys.stderr)
        print(f"cluster ready; kubeconfig: {layout.admin_kubeconfig}")
        print(f"ingress: {layout.net.ingress_url}")
        print(f"registry: {registry.address(layout)} (plain HTTP)")
    elif args.command == "down":
        result = node.down(layout)
        left = node.leftovers(layout)
        print(json.dumps({**result, "leftovers": left}, indent=1))
        return 1 if left else 0
    elif args.command == "status":
        st = node.status(layout)
        print(json.dumps(st, indent=1))
        return 0 if st["node_ready"] and st["ingress_ok"] and st["registry_ok"] else 1
    elif args.command == "build":
        print(json.dumps(node.build_all(), indent=1))
    elif args.command == "leftovers":
        left = node.leftovers(layout)
        print("\n".join(left) or "nothing left")
        return 1 if left else 0
    elif args.command == "image":
        _require_up(layout)
        images.build_and_load(layout, args.context, args.tag, args.file)
        print(f"loaded {args.tag}")
    elif args.command == "images":
        _require_up(layout)
        pushed = project_images.runtime_in_registry(layout)
        for tag, seconds in project_images.build_all(layout).items():
            print(f"{'pushed' if tag == pushed else 'loaded'} {tag} ({seconds:.1f}s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Failures a user can cause end in one line per problem, each with its fix; exit 1."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except (UserError, prerequisites.PrerequisiteError) as exc:
        for line in str(exc).splitlines():
            print(f"hack/cluster: {line}", file=sys.stderr)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        detail = str(exc).strip().splitlines() or [type(exc).__name__]
        for line in detail[:-1]:
            print(line, file=sys.stderr)
        print(f"hack/cluster: {detail[-1]}", file=sys.stderr)
        print("hack/cluster: see the lines above; `hack/cluster leftovers` shows what is left, "
              "`sudo hack/cluster down` clears it", file=sys.stderr)  # fmt: skip
    except KeyboardInterrupt:
        print("hack/cluster: interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
