"""The baseline: a bare Chalice app with one route that makes the same AWS call as `POST /registrations`: a
SendMessage of the body to the intake queue (registration reads no claim: it answers alike for held identities).

It makes its boto3 client at import, with boto3's defaults, as a minimal Lambda function usually does.
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
    text = body.decode() if isinstance(body, bytes) else body
    sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=text)
    return Response(body='{"status": "PENDING"}', status_code=202, headers={"Content-Type": "application/json"})
