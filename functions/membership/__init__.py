"""Membership blueprint, after acceptance: partners list courses and sell them with the member's consent, report
completions, members review them; the admin's ledger and revocation; the daily revocation of members who bought no
training in time. Partner routes ask `web.signed_partner` first, with the path as the partner signed it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, CloudWatchEvent, SQSEvent

from functions import web
from functions.observability import traced
from functions.operators import admin_authorizer
from functions.resources import REVOCATION_MAX_CONCURRENCY, REVOCATION_QUEUE
from functions.schedules import REVOCATION_CRON, fired_at
from functions.services import membership as membership_view
from functions.services import purchases, revocation

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

membership = Blueprint(__name__)


@membership.route("/partners/courses/{course_id}", methods=["PUT"], content_types=["application/json"])
@web.api_view
def put_partner_course(course_id: str) -> Any:
    request = membership.current_request
    partner = web.signed_partner(request, f"/partners/courses/{course_id}")
    return purchases.list_course(course_id, web.raw_body(request), partner)


@membership.route("/partners/purchases", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_partner_purchase() -> Any:
    request = membership.current_request
    partner = web.signed_partner(request, "/partners/purchases")
    return web.json_response(201, purchases.request_purchase(web.raw_body(request), partner))


@membership.route("/partners/purchases/{purchase_id}/confirm", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_partner_purchase_confirm(purchase_id: str) -> Any:
    request = membership.current_request
    partner = web.signed_partner(request, f"/partners/purchases/{purchase_id}/confirm")
    return purchases.confirm(purchase_id, web.raw_body(request), partner)


@membership.route("/partners/purchases/{purchase_id}/cancel", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_partner_purchase_cancel(purchase_id: str) -> Any:
    request = membership.current_request
    partner = web.signed_partner(request, f"/partners/purchases/{purchase_id}/cancel")
    return purchases.cancel(purchase_id, partner)


@membership.route("/partners/completions", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_partner_completion() -> Any:
    request = membership.current_request
    partner = web.signed_partner(request, "/partners/completions")
    return purchases.complete(web.raw_body(request), partner)


@membership.route("/applicants/{applicant_id}/reviews", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_applicant_review(applicant_id: str) -> Any:
    request = membership.current_request
    answer = purchases.review(applicant_id, web.raw_body(request), web.bearer_token(request))
    return web.json_response(201, answer)


@membership.route("/admin/ledger", methods=["GET"], authorizer=admin_authorizer)
@web.api_view
def get_admin_ledger() -> Any:
    return membership_view.ledger()


@membership.route(
    "/admin/memberships/{card_number}/revoke",
    methods=["POST"],
    authorizer=admin_authorizer,
    content_types=["application/json"],
)
@web.api_view
def post_admin_membership_revoke(card_number: str) -> Any:
    request = membership.current_request
    return revocation.admin_revoke(card_number, web.raw_body(request), web.admin_name(request))


@membership.schedule(REVOCATION_CRON)
@traced
def revoke_overdue_memberships(event: CloudWatchEvent) -> list[int]:
    return revocation.sweep(fired_at(event))


@membership.on_sqs_message(queue=REVOCATION_QUEUE, batch_size=1, maximum_concurrency=REVOCATION_MAX_CONCURRENCY)
@traced
def revocation_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    revoker = revocation.ShardRevoker(web.event_context(event))
    return web.process_batch(event, revoker.walk, sqs_records.RevocationRecord)
