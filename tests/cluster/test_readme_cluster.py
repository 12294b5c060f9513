"""The README's walk-throughs on the real cluster, run as written: kubectl and helm, then the CLI.

They run in the test cluster's ``default`` namespace, as a user's would, after every other
cluster test (they reinstall the operator with the chart's defaults), and remove what they made.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from kube_helpers import MANAGED, wait_until
from readme_blocks import block, run_bash

from daeploy.contract import OPERATOR_NAME

pytestmark = pytest.mark.readme
CHART = Path(__file__).resolve().parents[2] / "charts" / OPERATOR_NAME


def _shell_env(cluster) -> dict[str, str]:
    """A root shell in the repository: the SDK's virtualenv on PATH, the test cluster's slot."""
    env = {k: v for k, v in cluster.env.items() if k not in ("KUBECONFIG", "DAEPLOY_INGRESS_URL")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    env["DAEPLOY_LC_SLOT"] = str(cluster.layout.net.slot)
    return env


def _clean_default_namespace(cluster) -> None:
    cluster.kubectl("delete", "dsvc", "--all", "-n", "default", "--wait=true", timeout=180)

    def children() -> list:
        out = cluster.kubectl(
            "get", "deploy,svc,ingress", "-n", "default", "-l", MANAGED, "-o", "json"
        ).stdout
        return json.loads(out)["items"]

    wait_until(lambda: not children(), "the walk-through's children to be gone")


@pytest.fixture
def default_namespace(cluster):
    _clean_default_namespace(cluster)
    yield "default"
    _clean_default_namespace(cluster)


def test_kubectl_and_helm_walkthrough(cluster, project_images, default_namespace):
    result = run_bash(block("kubectl-helm"), env=_shell_env(cluster), timeout=600)
    dice = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(dice) == 5 and all(1 <= d <= 6 for d in dice), result.stdout
    assert "die-roller-v1-0-0" in result.stdout and "yatzee-v1-0-0" in result.stdout


def test_cli_walkthrough(cluster, project_images, default_namespace):
    # The operator the walk-through relies on ("installed above"), as the previous block left it.
    cluster.helm("upgrade", "--install", OPERATOR_NAME, str(CHART),
                 "-n", "daeploy-system", "--create-namespace", "--wait")  # fmt: skip
    result = run_bash(block("cli"), env=_shell_env(cluster), timeout=900)
    out = result.stdout
    assert '"Hello Ada"' in out, out
    # curl's answers have no newline of their own: find the play among the other output.
    plays = re.findall(r"\[[1-6](?:, ?[1-6]){4}\]", out)
    assert len(plays) == 1, out
    assert "Changed main version of die_roller to 2.0.0" in out
    versions = json.loads(cluster.kubectl("get", "dsvc", "-n", "default", "-o", "json").stdout)[
        "items"
    ]
    left = sorted((v["spec"]["name"], v["spec"]["version"]) for v in versions)
    assert left == [("die_roller", "2.0.0"), ("hello", "1.0.0"), ("yatzee", "1.0.0")]


def test_traffic_walkthrough(cluster, project_images, default_namespace):
    result = run_bash(block("traffic"), env=_shell_env(cluster), timeout=900)
    out = result.stdout
    assert "Set dice 2.0.0: weight 10%, shadow on; it now gets: canary 10%" in out, out
    assert "main 90%" in out
    assert "Set dice 2.0.0: weight 0%, shadow on; it now gets: shadow" in out, out
    assert "Set dice 2.0.0: weight 0%, shadow off; it now gets: no share" in out, out
