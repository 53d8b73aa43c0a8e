"""The baseline: a bare Chalice app with one route that only puts the request body on the intake queue.

It makes its boto3 client at import, as a minimal Lambda function usually does.
"""

from __future__ import annotations

import os

import boto3
from chalice import Chalice, Response

app = Chalice(app_name="bare")
sqs = boto3.client("sqs")
QUEUE_URL = os.environ.get("PRAKERJA_INTAKE_QUEUE_URL", "")


@app.route("/registrations", methods=["POST"], content_types=["application/json"])
def post_registration() -> Response:
    body = app.current_request.raw_body
    sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=body.decode() if isinstance(body, bytes) else body)
    return Response(body='{"status": "PENDING"}', status_code=202, headers={"Content-Type": "application/json"})
