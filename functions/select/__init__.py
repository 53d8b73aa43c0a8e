"""Select blueprint: waves, joining, the weekly schedules, the draw's publication, results and admin routes."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from chalice.app import AuthRequest, AuthResponse, Blueprint, CloudWatchEvent, Cron, SQSEvent

from functions import web
from functions.domain import rules
from functions.domain.calendar import WaveCalendar, daily_cron_utc
from functions.observability import traced
from functions.resources import (
    ADMIN_AUTHORIZER_TTL_SECONDS,
    INCENTIVE_MAX_CONCURRENCY,
    INCENTIVES_QUEUE,
    PAYMENT_MAX_CONCURRENCY,
    PAYMENTS_QUEUE,
    POOL_PARTS_MAX_CONCURRENCY,
    POOL_PARTS_QUEUE,
    PUBLISH_MAX_CONCURRENCY,
    PUBLISH_QUEUE,
    REVOCATION_MAX_CONCURRENCY,
    REVOCATION_QUEUE,
)
from functions.services import (
    admin,
    claim_release,
    closing,
    incentive_payments,
    membership,
    purchases,
    revocation,
    selection,
    stats,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

select = Blueprint(__name__)

# EventBridge crons are UTC. They are fixed when Chalice packages the app, so they are derived from the calendar's
# one home, `functions.domain.rules` (Thursday 16:00 WIB close, Friday 10:00 WIB publish), not from the settings
# read at run time; a deployed function refuses a configured calendar that differs (functions/settings.py), and
# tests/unit/test_settings.py ties these crons to the calendar the template's functions get. The handlers do
# whatever is due, so the hourly tick catches up anything missed.
PACKAGED_CALENDAR = WaveCalendar.regulation_default()


def _weekly(minute: int, hour: int, weekday: str) -> Cron:
    return Cron(minute, hour, "?", "*", weekday, "*")


def _daily(minute: int, hour: int) -> Cron:
    return Cron(minute, hour, "*", "*", "?", "*")


CLOSE_CRON = _weekly(*PACKAGED_CALENDAR.close.cron_utc())
PUBLISH_CRON = _weekly(*PACKAGED_CALENDAR.publish.cron_utc())
# The daily revocation (00:05 WIB); each run sweeps every wave due, so a missed day is caught up the next.
REVOCATION_CRON = _daily(*daily_cron_utc(rules.REVOCATION_TIME))
# The daily incentive schedule (09:00 WIB) pays whatever is due by then, so a missed day is caught up the next; the
# daily reconciliation (23:30 WIB) compares the day before with the provider's statement, and catches up a week.
INCENTIVE_CRON = _daily(*daily_cron_utc(rules.INCENTIVE_TIME))
RECONCILIATION_CRON = _daily(*daily_cron_utc(rules.RECONCILIATION_TIME))


@select.authorizer(ttl_seconds=ADMIN_AUTHORIZER_TTL_SECONDS)
def admin_authorizer(auth_request: AuthRequest) -> AuthResponse:
    subject = admin.subject_of(auth_request.token or "")
    if subject is None:
        return AuthResponse(routes=[], principal_id="anonymous")
    return AuthResponse(routes=["*"], principal_id=subject)


@select.route("/waves/current", methods=["GET"])
@web.api_view
def get_current_wave() -> Any:
    return selection.current()


@select.route("/waves/{number}/applicants", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_wave_applicant(number: str) -> Any:
    request = select.current_request
    answer = selection.join(web.wave_number(number), web.raw_body(request), web.bearer_token(request))
    return web.json_response(201, answer)


@select.route("/waves/{number}/results", methods=["GET"])
@web.api_view
def get_wave_results(number: str) -> Any:
    return selection.published_results(web.wave_number(number))


@select.route("/admin/stats", methods=["GET"], authorizer=admin_authorizer)
@web.api_view
def get_admin_stats() -> Any:
    return stats.funnel()


@select.route(
    "/admin/claims/release", methods=["POST"], authorizer=admin_authorizer, content_types=["application/json"]
)
@web.api_view
def post_admin_claim_release() -> Any:
    request = select.current_request
    return claim_release.release(web.raw_body(request), web.admin_name(request))


@select.route("/admin/waves/{number}/close", methods=["POST"], authorizer=admin_authorizer)
@web.api_view
def post_admin_close(number: str) -> Any:
    request = select.current_request
    return closing.admin_close(web.wave_number(number), web.raw_body(request), web.admin_name(request))


@select.route("/admin/waves/{number}/publish", methods=["POST"], authorizer=admin_authorizer)
@web.api_view
def post_admin_publish(number: str) -> Any:
    return web.json_response(202, selection.admin_publish(web.wave_number(number)))


# --- After acceptance: partners buy trainings with the member's consent; members review them ------------------------
# Partner routes ask `web.signed_partner` first, with the path as the partner signed it.


@select.route("/partners/courses/{course_id}", methods=["PUT"], content_types=["application/json"])
@web.api_view
def put_partner_course(course_id: str) -> Any:
    request = select.current_request
    partner = web.signed_partner(request, f"/partners/courses/{course_id}")
    return purchases.list_course(course_id, web.raw_body(request), partner)


@select.route("/partners/purchases", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_partner_purchase() -> Any:
    request = select.current_request
    partner = web.signed_partner(request, "/partners/purchases")
    return web.json_response(201, purchases.request_purchase(web.raw_body(request), partner))


@select.route("/partners/purchases/{purchase_id}/confirm", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_partner_purchase_confirm(purchase_id: str) -> Any:
    request = select.current_request
    partner = web.signed_partner(request, f"/partners/purchases/{purchase_id}/confirm")
    return purchases.confirm(purchase_id, web.raw_body(request), partner)


@select.route("/partners/purchases/{purchase_id}/cancel", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_partner_purchase_cancel(purchase_id: str) -> Any:
    request = select.current_request
    partner = web.signed_partner(request, f"/partners/purchases/{purchase_id}/cancel")
    return purchases.cancel(purchase_id, partner)


@select.route("/partners/completions", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_partner_completion() -> Any:
    request = select.current_request
    partner = web.signed_partner(request, "/partners/completions")
    return purchases.complete(web.raw_body(request), partner)


@select.route("/applicants/{applicant_id}/reviews", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_applicant_review(applicant_id: str) -> Any:
    request = select.current_request
    answer = purchases.review(applicant_id, web.raw_body(request), web.bearer_token(request))
    return web.json_response(201, answer)


@select.route("/admin/ledger", methods=["GET"], authorizer=admin_authorizer)
@web.api_view
def get_admin_ledger() -> Any:
    return membership.ledger()


@select.route(
    "/admin/memberships/{card_number}/revoke",
    methods=["POST"],
    authorizer=admin_authorizer,
    content_types=["application/json"],
)
@web.api_view
def post_admin_membership_revoke(card_number: str) -> Any:
    request = select.current_request
    return revocation.admin_revoke(card_number, web.raw_body(request), web.admin_name(request))


def _fired_at(event: CloudWatchEvent) -> dt.datetime:
    return dt.datetime.fromisoformat(event.time.replace("Z", "+00:00"))


def _due(event: CloudWatchEvent) -> list[str]:
    return selection.advance(_fired_at(event))


@select.schedule(CLOSE_CRON)
@traced
def close_due_waves(event: CloudWatchEvent) -> Any:
    # Also an admin close, which the API hands over, and the pool-part worker's word that a closed pool is read
    # (whatever is due: the draw): this function may open the wave's seed, the API and the workers may not.
    if closing.is_close_request(event.source, event.detail_type):
        return closing.run_close_request(event.detail)
    return _due(event)


@select.schedule(PUBLISH_CRON)
@traced
def publish_due_waves(event: CloudWatchEvent) -> list[str]:
    return _due(event)


@select.schedule("rate(1 hour)")
@traced
def catch_up_waves(event: CloudWatchEvent) -> list[str]:
    return _due(event)


@select.on_sqs_message(queue=PUBLISH_QUEUE, batch_size=1, maximum_concurrency=PUBLISH_MAX_CONCURRENCY)
@traced
def publish_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    publisher = selection.ChunkPublisher(web.event_context(event))
    return web.process_batch(event, publisher.apply_chunk, sqs_records.PublishRecord)


@select.schedule(REVOCATION_CRON)
@traced
def revoke_overdue_memberships(event: CloudWatchEvent) -> list[int]:
    return revocation.sweep(_fired_at(event))


@select.on_sqs_message(queue=REVOCATION_QUEUE, batch_size=1, maximum_concurrency=REVOCATION_MAX_CONCURRENCY)
@traced
def revocation_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    revoker = revocation.ShardRevoker(web.event_context(event))
    return web.process_batch(event, revoker.walk, sqs_records.RevocationRecord)


@select.on_sqs_message(queue=POOL_PARTS_QUEUE, batch_size=1, maximum_concurrency=POOL_PARTS_MAX_CONCURRENCY)
@traced
def pool_part_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    return web.process_batch(event, closing.read_pool_part, sqs_records.PoolPartRecord)


@select.schedule(INCENTIVE_CRON)
@traced
def queue_due_incentives(event: CloudWatchEvent) -> list[int]:
    return incentive_payments.sweep(_fired_at(event))


@select.on_sqs_message(queue=INCENTIVES_QUEUE, batch_size=1, maximum_concurrency=INCENTIVE_MAX_CONCURRENCY)
@traced
def incentive_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    payer = incentive_payments.ShardPayer(web.event_context(event))
    return web.process_batch(event, payer.walk, sqs_records.IncentiveRecord)


@select.on_sqs_message(queue=PAYMENTS_QUEUE, batch_size=10, maximum_concurrency=PAYMENT_MAX_CONCURRENCY)
@traced
def payment_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    return web.process_batch(event, incentive_payments.pay_record, sqs_records.PaymentQueueRecord)


@select.schedule(RECONCILIATION_CRON)
@traced
def reconcile_payments(event: CloudWatchEvent) -> list[str]:
    return incentive_payments.reconcile_due(_fired_at(event))
