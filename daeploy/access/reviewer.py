"""Who is calling (TokenReview) and may they (SubjectAccessReview): Kubernetes decides both.

No user database and no token format of our own: a caller proves who they are with a token
the API server issued (a ServiceAccount token, ``kubectl create token``, or whatever the
cluster's authenticators accept), and RBAC says what they may do. The reviewer only asks, in
that order, and remembers the verdict for a few seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from daeploy.access.actions import Request
from daeploy.access.bearer import bearer_token, token_audiences
from daeploy.access.cache import DEFAULT_TTL, TtlCache, known_decision
from daeploy.access.decision import (
    ALLOWED,
    FORBIDDEN,
    UNAUTHENTICATED,
    UNAVAILABLE,
    Decision,
)
from daeploy.access.kube import SUBJECT_ACCESS_REVIEWS, TOKEN_REVIEWS, ApiUnavailable, KubeApi
from daeploy.contract import TOKEN_AUDIENCE
from daeploy.names import service_audience

logger = logging.getLogger("daeploy.access")

TOKEN_REFUSED = "the token was not accepted: expired, revoked, forged or for another audience"
API_UNAVAILABLE = "access could not be checked with Kubernetes right now: try again"


class Reviewer:
    """Decides access requests against one API server; safe to share between threads.

    ``audiences``: the token audiences accepted. Empty (the default) sends none, and the API
    server then accepts only its own default audience (``--api-audiences``, else its issuer):
    the tokens ``kubectl create token`` and ServiceAccount token files hold, which also work
    against the API server itself. Give a dedicated audience (e.g. ``["daeploy.io"]``, tokens
    from ``kubectl create token --audience daeploy``) so a token handed to a service cannot be
    replayed against the API server; a token must then carry one of the listed audiences.

    ``service_audiences``: also accept, for a request to one service, a token whose audience is
    that service's alone (daeploy.names.service_audience: ``daeploy token --service``). Needs
    ``audiences`` to list every other audience accepted, the API server's included.

    ``ttl``: seconds a verdict (allowed, 401, 403) is reused for the same token and request,
    hence how long a revoked token or right keeps working at most. 0 asks every time.
    """

    def __init__(
        self,
        api: KubeApi,
        audiences: Sequence[str] = (),
        ttl: float = DEFAULT_TTL,
        *,
        service_audiences: bool = False,
        cache: TtlCache[Decision] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.api = api
        self.audiences = tuple(audiences)
        if service_audiences and not self.audiences:
            raise ValueError("service_audiences needs the other accepted audiences listed")
        self.service_audiences = service_audiences
        if cache is None:
            cache = TtlCache(ttl) if clock is None else TtlCache(ttl, clock=clock)
        self.cache = cache

    @property
    def ttl(self) -> float:
        return self.cache.ttl

    def audiences_for(self, request: Request) -> tuple[str, ...]:
        if self.service_audiences:
            return (*self.audiences, service_audience(request.namespace, request.service))
        return self.audiences

    def known(self, authorization: str | Sequence[str] | None, request: Request) -> Decision | None:
        """The decision if it needs no API server: a malformed header, or a cached verdict.

        Cheap and non-blocking, so an async gate answers most requests without a thread.
        """
        return known_decision(self.cache, authorization, request)[0]

    def review(self, authorization: str | Sequence[str] | None, request: Request) -> Decision:
        """The decision for the caller who sent ``authorization`` (the header's values)."""
        decision, key = known_decision(self.cache, authorization, request)
        if decision is not None:
            return decision
        assert key is not None  # known_decision gives one or the other
        try:
            decision = self._ask(bearer_token(authorization), request)
        except ApiUnavailable as error:
            logger.warning("access to %s not checked: %s", request.describe(), error)
            return Decision(UNAVAILABLE, API_UNAVAILABLE)
        if decision.cacheable:
            self.cache.put(key, decision)
        return decision

    def _token_review(self, token: str, audiences: Sequence[str]) -> dict[str, Any]:
        spec: dict[str, Any] = {"token": token}
        if audiences:
            spec["audiences"] = list(audiences)
        review = self.api.create(
            TOKEN_REVIEWS,
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec},
        )
        status = review.get("status") or {}
        if audiences and not set(status.get("audiences") or ()) & set(audiences):
            return {"authenticated": False, "error": "no accepted audience in the answer"}
        return status

    def _for_another_service(self, token: str, request: Request) -> str | None:
        """The other service a genuine service-scoped token is for, if it is one.

        Only asked after the token failed here; the second TokenReview proves the claim, so a
        forged token never gets this answer.
        """
        if not self.service_audiences:
            return None
        own = service_audience(request.namespace, request.service)
        for audience in token_audiences(token):
            if (
                audience.startswith(TOKEN_AUDIENCE + "/")
                and audience != own
                and self._token_review(token, [audience]).get("authenticated")
            ):
                return audience.removeprefix(TOKEN_AUDIENCE + "/")
        return None

    def _ask(self, token: str, request: Request) -> Decision:
        status = self._token_review(token, self.audiences_for(request))
        if not status.get("authenticated"):
            # The server's error says why (expiry, signature, audience); the caller learns less.
            logger.info("token refused for %s: %s", request.describe(), status.get("error", ""))
            other = self._for_another_service(token, request)
            if other is not None:
                return Decision(FORBIDDEN, f"the token is for the service {other} only")
            return Decision(UNAUTHENTICATED, TOKEN_REFUSED)
        user = status.get("user") or {}
        username = str(user.get("username", ""))
        access = self.api.create(
            SUBJECT_ACCESS_REVIEWS,
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "resourceAttributes": request.resource_attributes(),
                    "user": username,
                    "groups": list(user.get("groups") or ()),
                    "uid": str(user.get("uid", "")),
                    "extra": dict(user.get("extra") or {}),
                },
            },
        )
        verdict = access.get("status") or {}
        if verdict.get("allowed") and not verdict.get("denied"):
            return Decision(ALLOWED, f"{username} may {request.describe()}", username)
        return Decision(FORBIDDEN, f"{username} may not {request.describe()}", username)
