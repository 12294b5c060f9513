"""``hack/cluster``: the local cluster's command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import images, network, node, project_images
from .components import HELM, KUBERNETES
from .layout import Layout


def _require_root() -> None:
    if os.geteuid() != 0:
        sys.exit("hack/cluster needs root (network namespaces, mounts, containerd)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hack/cluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="build what is missing and start the node (idempotent)")
    sub.add_parser("down", help="stop everything by PID and remove all traces")
    sub.add_parser("status", help="print the state of the node as JSON")
    sub.add_parser("build", help="build the Go components into the cache")
    sub.add_parser("kubeconfig", help="print the admin kubeconfig path")
    sub.add_parser("env", help="print shell exports for KUBECONFIG and PATH")
    sub.add_parser("leftovers", help="list what of the cluster is on the machine (exit 1 if any)")
    img = sub.add_parser("image", help="build an image from a Dockerfile and load it")
    img.add_argument("action", choices=["build"])
    img.add_argument("context", type=Path)
    img.add_argument("--tag", "-t", required=True)
    img.add_argument("--file", "-f", type=Path)
    sub.add_parser("images", help="build and load all of the project's images")
    for tool in ("kubectl", "helm"):
        p = sub.add_parser(tool, help=f"run {tool} against the cluster")
        p.add_argument("args", nargs=argparse.REMAINDER)
    argv = sys.argv[1:] if argv is None else argv
    layout = Layout()
    if argv and argv[0] in ("kubectl", "helm"):
        # Pass everything through untouched: argparse would eat the tool's own options.
        binary = KUBERNETES.binary("kubectl") if argv[0] == "kubectl" else HELM.binary()
        os.environ["KUBECONFIG"] = str(layout.admin_kubeconfig)
        os.execv(str(binary), [str(binary), *argv[1:]])
    args = parser.parse_args(argv)
    if args.command == "kubeconfig":
        print(layout.admin_kubeconfig)
        return 0
    if args.command == "env":
        print(f"export KUBECONFIG={layout.admin_kubeconfig}")
        print(f"export PATH={KUBERNETES.bin_dir}:{HELM.bin_dir}:$PATH")
        print(f"export DAEPLOY_INGRESS_URL={network.INGRESS_URL}")
        return 0
    _require_root()
    if args.command == "up":
        result = node.up(layout)
        print(json.dumps(result, indent=1), file=sys.stderr)
        print(f"cluster ready; kubeconfig: {layout.admin_kubeconfig}")
        print(f"ingress: {network.INGRESS_URL}")
    elif args.command == "down":
        result = node.down(layout)
        left = node.leftovers(layout)
        print(json.dumps({**result, "leftovers": left}, indent=1))
        return 1 if left else 0
    elif args.command == "status":
        st = node.status(layout)
        print(json.dumps(st, indent=1))
        return 0 if st["node_ready"] and st["ingress_ok"] else 1
    elif args.command == "build":
        print(json.dumps(node.build_all(), indent=1))
    elif args.command == "leftovers":
        left = node.leftovers(layout)
        print("\n".join(left) or "nothing left")
        return 1 if left else 0
    elif args.command == "image":
        images.build_and_load(layout, args.context, args.tag, args.file)
        print(f"loaded {args.tag}")
    elif args.command == "images":
        for tag, seconds in project_images.build_all(layout).items():
            print(f"loaded {tag} ({seconds:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
