"""The one Chalice app: its blueprints (register, verify, select, membership, payouts, operators) and the middleware
that every request and event passes through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, Request, Response

from functions import web
from functions.membership import membership
from functions.observability import logger, metrics
from functions.operators import operators
from functions.payouts import payouts
from functions.register import register
from functions.select import select
from functions.verify import verify

app = Chalice(app_name="prakerja")
app.register_blueprint(register)
app.register_blueprint(verify)
app.register_blueprint(select)
app.register_blueprint(operators)
app.register_blueprint(membership)
app.register_blueprint(payouts)


@app.middleware("http")
def contract_errors_and_correlation(event: Request, get_response: Callable[[Request], Response]) -> Response:
    logger.set_correlation_id(event.context.get("requestId"))
    return web.in_contract_shape(get_response(event))


@app.middleware("all")
def flush_metrics_after_events(event: Any, get_response: Callable[[Any], Any]) -> Any:
    try:
        return get_response(event)
    finally:
        if metrics.metric_set:  # an empty flush only warns
            metrics.flush_metrics()
