"""What a caller asks to do to a service, as the SubjectAccessReview attributes RBAC checks.

A right is an RBAC rule on the service's DaeployServices: ``create`` on the invoke subresource to
call it, the stronger ``update`` on the parameters subresource to change its parameters, both
in the service's namespace and limited by ``resourceNames`` to service names. The API group and
subresource names come from daeploy.contract, since Roles written by cluster admins spell them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from daeploy.contract import API_GROUP, INVOKE_RESOURCE, PARAMETERS_RESOURCE


def _subresource(resource: str) -> tuple[str, str]:
    resource_name, _, subresource = resource.partition("/")
    return resource_name, subresource


class Action(Enum):
    """A kind of access; its value is the RBAC ``resource/subresource`` it needs a verb on."""

    INVOKE = INVOKE_RESOURCE
    PARAMETERS = PARAMETERS_RESOURCE

    @property
    def verb(self) -> str:
        """Kubernetes' own verbs: ``update`` is what ``edit``-like roles grant, not ``view``."""
        return "update" if self is Action.PARAMETERS else "create"

    @property
    def resource(self) -> str:
        return _subresource(self.value)[0]

    @property
    def subresource(self) -> str:
        return _subresource(self.value)[1]


@dataclass(frozen=True)
class Request:
    """One access to decide: ``action`` on the service ``service`` in ``namespace``.

    Hashable, so it is part of the decision cache's key.
    """

    namespace: str
    service: str
    action: Action

    def resource_attributes(self) -> dict[str, str]:
        """The SubjectAccessReview ``spec.resourceAttributes`` for this access."""
        return {
            "namespace": self.namespace,
            "verb": self.action.verb,
            "group": API_GROUP,
            "resource": self.action.resource,
            "subresource": self.action.subresource,
            "name": self.service,
        }

    def describe(self) -> str:
        return (
            f"{self.action.verb} {self.action.value} {self.service!r} "
            f"in namespace {self.namespace!r}"
        )
