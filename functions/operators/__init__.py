"""Operators blueprint: the admin authorizer every operator's route is behind, the funnel and the release of an
identity claim. The admin routes on a capability (a wave's close, a revocation, the ledger) sit with that
capability's blueprint, behind the same authorizer."""

from __future__ import annotations

from typing import Any

from chalice.app import AuthRequest, AuthResponse, Blueprint

from functions import web
from functions.resources import ADMIN_AUTHORIZER_TTL_SECONDS
from functions.services import admin, claim_release, stats

operators = Blueprint(__name__)


@operators.authorizer(ttl_seconds=ADMIN_AUTHORIZER_TTL_SECONDS)
def admin_authorizer(auth_request: AuthRequest) -> AuthResponse:
    subject = admin.subject_of(auth_request.token or "")
    if subject is None:
        return AuthResponse(routes=[], principal_id="anonymous")
    return AuthResponse(routes=["*"], principal_id=subject)


@operators.route("/admin/stats", methods=["GET"], authorizer=admin_authorizer)
@web.api_view
def get_admin_stats() -> Any:
    return stats.funnel()


@operators.route(
    "/admin/claims/release", methods=["POST"], authorizer=admin_authorizer, content_types=["application/json"]
)
@web.api_view
def post_admin_claim_release() -> Any:
    request = operators.current_request
    return claim_release.release(web.raw_body(request), web.admin_name(request))
