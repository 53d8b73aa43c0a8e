"""Select blueprint: waves, joining, the weekly schedules, the close and the draw's publication, results, and
the admin routes that close or publish a wave."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, CloudWatchEvent, SQSEvent

from functions import web
from functions.observability import traced
from functions.operators import admin_authorizer
from functions.resources import (
    POOL_PARTS_MAX_CONCURRENCY,
    POOL_PARTS_QUEUE,
    PUBLISH_MAX_CONCURRENCY,
    PUBLISH_QUEUE,
)
from functions.schedules import CLOSE_CRON, PUBLISH_CRON, fired_at
from functions.services import closing, selection

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

select = Blueprint(__name__)


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


@select.route("/admin/waves/{number}/close", methods=["POST"], authorizer=admin_authorizer)
@web.api_view
def post_admin_close(number: str) -> Any:
    request = select.current_request
    return closing.admin_close(web.wave_number(number), web.raw_body(request), web.admin_name(request))


@select.route("/admin/waves/{number}/publish", methods=["POST"], authorizer=admin_authorizer)
@web.api_view
def post_admin_publish(number: str) -> Any:
    return web.json_response(202, selection.admin_publish(web.wave_number(number)))


def _due(event: CloudWatchEvent) -> list[str]:
    return selection.advance(fired_at(event))


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


@select.on_sqs_message(queue=POOL_PARTS_QUEUE, batch_size=1, maximum_concurrency=POOL_PARTS_MAX_CONCURRENCY)
@traced
def pool_part_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    return web.process_batch(event, closing.read_pool_part, sqs_records.PoolPartRecord)
