"""Helpers of the dashboard's tests: people with Kubernetes tokens and Roles on envtest's real
API server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from envtest import EnvTest

from daeploy.contract import API_GROUP, PLURAL
from daeploy_operator.kinds import resource_path

HTML = {"Accept": "text/html"}
READ_RULES: list[dict[str, Any]] = [
    {"apiGroups": [API_GROUP], "resources": [PLURAL], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["events", "pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]
WRITE_RULES: list[dict[str, Any]] = [
    {"apiGroups": [API_GROUP], "resources": [PLURAL], "verbs": ["patch", "delete"]},
]


@dataclass
class People:
    namespace: str
    viewer: str
    editor: str
    nobody: str


def ca_file(envtest: EnvTest) -> str:
    kubeconfig = yaml.safe_load(envtest.kubeconfig.read_text())
    return str(kubeconfig["clusters"][0]["cluster"]["certificate-authority"])


def person(envtest: EnvTest, namespace: str, name: str, rules: list[dict[str, Any]]) -> str:
    api = envtest.api
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
    api.request("POST", resource_path("v1", "ServiceAccount", namespace), body=body)
    if rules:
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": namespace}, "rules": rules,
        }  # fmt: skip
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "namespace": namespace, "name": name}],
        }  # fmt: skip
        api.request("POST", resource_path("rbac.authorization.k8s.io/v1", "Role", namespace),
                    body=role)  # fmt: skip
        api.request("POST", resource_path("rbac.authorization.k8s.io/v1", "RoleBinding",
                    namespace), body=binding)  # fmt: skip
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
               "spec": {"expirationSeconds": 3600}}  # fmt: skip
    path = resource_path("v1", "ServiceAccount", namespace, name, "token")
    return str((api.request("POST", path, body=request) or {})["status"]["token"])
