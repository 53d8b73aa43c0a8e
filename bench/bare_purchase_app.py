"""The baseline of `POST /partners/purchases/{id}/confirm`: a bare Chalice app with one route that makes the same
seven AWS calls as ours, in the same order, with requests of about the same size (the same tables, keys,
expressions and items), and does only what a confirmation cannot skip: the partner's signature and the code's
keyed hash checked (HMAC-SHA256), the balance compared, a voucher drawn, a JSON answer.

Its own module, not `bare_app.py`: that one is also the cold-import baseline, which a third client would slow.
It makes its boto3 clients at import, with boto3's defaults, as a minimal Lambda function usually does; the
partner's secret is opened by KMS once per process, as ours is.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import secrets
import time
import zlib

import boto3
from chalice.app import Chalice, Response

app = Chalice(app_name="bare-purchases")
dynamodb = boto3.client("dynamodb")
kms = boto3.client("kms")
PARTNERS = os.environ.get("PRAKERJA_PARTNERS_TABLE", "")
PURCHASES = os.environ.get("PRAKERJA_PURCHASES_TABLE", "")
MEMBERS = os.environ.get("PRAKERJA_MEMBERS_TABLE", "")
LEDGER = os.environ.get("PRAKERJA_LEDGER_TABLE", "")
COUNTERS = os.environ.get("PRAKERJA_COUNTERS_TABLE", "")
GUARDS = os.environ.get("PRAKERJA_IDENTITY_GUARDS_TABLE", "")
CODE_PEPPER = os.urandom(32)  # the key of the codes' hashes (ours keeps one in its keyring)
JSON_HEADERS: dict[str, str | list[str]] = {"Content-Type": "application/json"}


def code_hash(purchase_id: str, code: str) -> str:
    return hmac.new(CODE_PEPPER, f"purchase-code:{purchase_id}:{code}".encode(), hashlib.sha256).hexdigest()


@functools.cache
def partner_secret(partner_id: str, sealed: bytes) -> bytes:
    context = {"purpose": "partner-secret", "partner": partner_id}
    plaintext: bytes = kms.decrypt(CiphertextBlob=sealed, EncryptionContext=context)["Plaintext"]
    return plaintext


def _refused(status: int, code: str) -> Response:
    return Response(body=json.dumps({"error": {"code": code}}), status_code=status, headers=JSON_HEADERS)


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+0000", time.gmtime())


@app.route("/partners/purchases/{purchase_id}/confirm", methods=["POST"], content_types=["application/json"])
def confirm_purchase(purchase_id: str) -> Response:
    request = app.current_request
    if request is None:
        raise RuntimeError("no request")
    headers = request.headers
    raw = request.raw_body
    body = raw if isinstance(raw, bytes) else raw.encode()
    partner_id, stamp, signature = headers["x-partner-id"], headers["x-timestamp"], headers["x-signature"]
    path = f"/partners/purchases/{purchase_id}/confirm"

    partner = dynamodb.get_item(
        TableName=PARTNERS, Key={"partner_id": {"S": partner_id}}, ConsistentRead=True, ReturnConsumedCapacity="TOTAL"
    )["Item"]
    signed = "\n".join((stamp, "POST", path, hashlib.sha256(body).hexdigest())).encode()
    secret = partner_secret(partner_id, partner["sealed_secret"]["B"])
    if not hmac.compare_digest(hmac.new(secret, signed, hashlib.sha256).hexdigest(), signature):
        return _refused(401, "UNAUTHORISED")
    seen = hashlib.sha256(f"{partner_id}:{signature}".encode()).hexdigest()
    dynamodb.put_item(
        TableName=PARTNERS,
        Item={"partner_id": {"S": f"seen#{seen}"}, "expires_at": {"N": str(int(stamp) + 600)}},
        ConditionExpression="attribute_not_exists (#0)",
        ExpressionAttributeNames={"#0": "partner_id"},
        ReturnConsumedCapacity="TOTAL",
    )

    code = json.loads(body)["code"]
    key = {"purchase_id": {"S": purchase_id}}
    purchase = dynamodb.get_item(TableName=PURCHASES, Key=key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")[
        "Item"
    ]
    dynamodb.update_item(
        TableName=PURCHASES,
        Key=key,
        ConditionExpression="#0 = :0",
        ReturnValues="ALL_NEW",
        UpdateExpression="ADD #1 :1",
        ExpressionAttributeNames={"#0": "status", "#1": "code_tries"},
        ExpressionAttributeValues={":0": {"S": "AWAITING_CONFIRMATION"}, ":1": {"N": "1"}},
        ReturnConsumedCapacity="TOTAL",
    )
    if not hmac.compare_digest(code_hash(purchase_id, code), purchase["code_hash"]["S"]):
        return _refused(400, "WRONG_CODE")

    applicant_id = purchase["applicant_id"]["S"]
    member_key = {"applicant_id": {"S": applicant_id}}
    member = dynamodb.get_item(TableName=MEMBERS, Key=member_key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")[
        "Item"
    ]
    price, balance = purchase["price"]["N"], int(member["balance"]["N"])
    if member["state"]["S"] != "ACTIVE" or balance < int(price):
        return _refused(409, "INSUFFICIENT_BALANCE")
    voucher = base64.b32encode(secrets.token_bytes(10)).decode()
    now = _stamp()
    shard = zlib.crc32(applicant_id.encode()) % 32
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": LEDGER,
                    "Item": {
                        "applicant_id": {"S": applicant_id},
                        "ref": {"S": f"purchase#{purchase_id}"},
                        "amount": {"N": price},
                        "at": {"S": now},
                        "kind": {"S": "PURCHASE"},
                    },
                    "ConditionExpression": "attribute_not_exists (#0)",
                    "ExpressionAttributeNames": {"#0": "ref"},
                }
            },
            {
                "Put": {
                    "TableName": GUARDS,
                    "Item": {
                        "guard": {"S": f"voucher#{voucher}"},
                        "applicant_id": {"S": applicant_id},
                        "claimed_at": {"S": now},
                    },
                    "ConditionExpression": "attribute_not_exists (#0)",
                    "ExpressionAttributeNames": {"#0": "guard"},
                }
            },
            {
                "Update": {
                    "TableName": PURCHASES,
                    "Key": key,
                    "ConditionExpression": "(#0 = :0 AND #1 > :1)",
                    "UpdateExpression": "SET #0 = :2, #2 = :3, #3 = :4, #4 = :5 REMOVE #5",
                    "ExpressionAttributeNames": {
                        "#0": "status",
                        "#1": "code_expires_at",
                        "#2": "voucher_code",
                        "#3": "balance_after",
                        "#4": "confirmed_at",
                        "#5": "code_sealed",
                    },
                    "ExpressionAttributeValues": {
                        ":0": {"S": "AWAITING_CONFIRMATION"},
                        ":1": {"S": now},
                        ":2": {"S": "CONFIRMED"},
                        ":3": {"S": voucher},
                        ":4": {"N": str(balance - int(price))},
                        ":5": {"S": now},
                    },
                }
            },
            {
                "Update": {
                    "TableName": MEMBERS,
                    "Key": member_key,
                    "ConditionExpression": "((#0 = :0 AND #1 = :1) AND #1 >= :2)",
                    "UpdateExpression": "SET #2 = :3 ADD #1 :4, #3 :5, #4 :6",
                    "ExpressionAttributeNames": {
                        "#0": "state",
                        "#1": "balance",
                        "#2": "updated_at",
                        "#3": "purchased",
                        "#4": "live_purchases",
                    },
                    "ExpressionAttributeValues": {
                        ":0": {"S": "ACTIVE"},
                        ":1": {"N": str(balance)},
                        ":2": {"N": price},
                        ":3": {"S": now},
                        ":4": {"N": f"-{price}"},
                        ":5": {"N": price},
                        ":6": {"N": "1"},
                    },
                }
            },
            {
                "Update": {
                    "TableName": COUNTERS,
                    "Key": {"counter": {"S": f"ledger:PURCHASE#{shard}"}},
                    "UpdateExpression": "ADD #0 :0",
                    "ExpressionAttributeNames": {"#0": "total"},
                    "ExpressionAttributeValues": {":0": {"N": price}},
                }
            },
        ],
        ReturnConsumedCapacity="TOTAL",
    )
    confirmed = dynamodb.get_item(TableName=PURCHASES, Key=key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")[
        "Item"
    ]
    answer = {
        "purchase_id": purchase_id,
        "status": confirmed["status"]["S"],
        "voucher_code": confirmed["voucher_code"]["S"],
        "balance_after": int(confirmed["balance_after"]["N"]),
    }
    return Response(body=json.dumps(answer), status_code=200, headers=JSON_HEADERS)
