"""The baseline: a bare Chalice app with one route that makes the same two AWS calls as `POST /registrations`:
a BatchGetItem of three identity-guard keys, then a SendMessage of the body to the intake queue.

It makes its boto3 clients at import, with boto3's defaults, as a minimal Lambda function usually does.
"""

from __future__ import annotations

import hashlib
import json
import os

import boto3
from chalice import Chalice, Response

app = Chalice(app_name="bare")
sqs = boto3.client("sqs")
dynamodb = boto3.client("dynamodb")
QUEUE_URL = os.environ.get("PRAKERJA_INTAKE_QUEUE_URL", "")
GUARDS_TABLE = os.environ.get("PRAKERJA_IDENTITY_GUARDS_TABLE", "")


@app.route("/registrations", methods=["POST"], content_types=["application/json"])
def post_registration() -> Response:
    body = app.current_request.raw_body
    text = body.decode() if isinstance(body, bytes) else body
    fields = json.loads(text)
    keys = [
        {"guard": {"S": f"{kind}#{hashlib.sha256(str(fields.get(kind)).encode()).hexdigest()}"}}
        for kind in ("nik", "email", "phone")
    ]
    held = dynamodb.batch_get_item(RequestItems={GUARDS_TABLE: {"Keys": keys}})["Responses"].get(GUARDS_TABLE)
    if held:
        return Response(body='{"error": "duplicate"}', status_code=409, headers={"Content-Type": "application/json"})
    sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=text)
    return Response(body='{"status": "PENDING"}', status_code=202, headers={"Content-Type": "application/json"})
