"""Access control for services: only callers with a token and the RBAC right get through.

Kubernetes is the source of truth: TokenReview says who the bearer of a token is, a
SubjectAccessReview whether RBAC lets them invoke a service or change its parameters. This
package is the decision core; a gate (Traefik forwardAuth, the SDK's app) turns a Decision into
its HTTP answer.
"""

from daeploy.access.actions import Action, Request
from daeploy.access.bearer import NoToken, bearer_token
from daeploy.access.cache import DEFAULT_TTL, TtlCache
from daeploy.access.decision import Decision
from daeploy.access.kube import ApiUnavailable, KubeApi
from daeploy.access.reviewer import Reviewer

__all__ = [
    "DEFAULT_TTL",
    "Action",
    "ApiUnavailable",
    "Decision",
    "KubeApi",
    "NoToken",
    "Request",
    "Reviewer",
    "TtlCache",
    "bearer_token",
]
