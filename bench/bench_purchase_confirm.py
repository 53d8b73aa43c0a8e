"""Per-request cost of `POST /partners/purchases/{id}/confirm` in-process, against a bare Chalice route that makes
the same AWS calls in the same order with payloads of about the same size, so the ratio is our own code's.

Issue 10. A warm confirmation makes seven calls (a cold start adds the KMS Decrypt of the partner's secret and the
keyring's reads, warmed first here): GetItem of the partner, the replay guard's conditional PutItem, GetItem of
the purchase, the code try's conditional UpdateItem, GetItem of the member, the confirmation's TransactWriteItems
(the purchase, the member's debit, the ledger entry and its counter shard, the voucher's guard) and GetItem of the
confirmed purchase for the answer. Both apps are called in-process, as Lambda calls them (an API Gateway proxy
event and a context); every AWS call is answered from memory by a botocore `before-send` handler
(bench/_common.py), so serialisation, signing and parsing still happen. The answerer's own time (finding the
item asked for) is measured and taken out of both sides. Each confirmation is a distinct purchase with its own
code and signature, so the replay guard sees new signatures; the member has bought before (a first purchase adds
a funnel counter to the transaction, on both sides alike).

Run: .venv/bin/python bench/bench_purchase_confirm.py [--rounds 9] [--requests 300] [--profile 2000] [--steps 300]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import functools
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from _common import (
    AWS_CALLS,
    OBSERVABILITY_COMPONENTS,
    WHOLE_ROUTE,
    CannedAWS,
    answer_aws_in_process,
    install_canned_aws,
    median,
    print_route_profile,
    profile_call,
    proxy_event,
    quiet,
    table,
)

TARGET_RATIO = 1.3
PARTNER = "skill-academy"
SECRET = "5e" * 32  # the partner's signing secret, as KMS gives it back opened (a hex text, like new_secret's)
PRICE = 400_000
BALANCE = 3_550_000  # the 2020 card: Rp 3,550,000, of which Rp 1,000,000 for trainings; plenty left here
RESOURCE = "/partners/purchases/{purchase_id}/confirm"


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")  # pynamodb's UTCDateTimeAttribute


class Purchases(CannedAWS):
    """CannedAWS that answers GetItem with the partner, the member and each prepared purchase (awaiting its code
    when first read, confirmed when read again), and the code try's UpdateItem with the purchase counted once."""

    def __init__(self) -> None:
        super().__init__()
        from devstack.hooks import JSON10, JSON11, answer
        from functions.settings import settings

        current = settings()
        self.tables = {
            current.partners_table: "partner_id",
            current.purchases_table: "purchase_id",
            current.members_table: "applicant_id",
        }
        self.answers["TrentService.Decrypt"] = answer({"Plaintext": base64.b64encode(SECRET.encode()).decode()}, JSON11)
        self.answers["DynamoDB_20120810.UpdateItem"] = answer({}, JSON10)
        self.items: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.confirmed: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.tried: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.reads: Counter[str] = Counter()
        self.stub_seconds = 0.0
        now = dt.datetime.now(dt.UTC)
        self.applicant_id = uuid.uuid4().hex
        self.items[PARTNER] = answer(
            {
                "Item": {
                    "partner_id": {"S": PARTNER},
                    "display_name": {"S": "Skill Academy"},
                    "sealed_secret": {"B": base64.b64encode(b"\x01" * 184).decode()},
                    "created_at": {"S": _stamp(now)},
                    "rotated_at": {"S": _stamp(now)},
                }
            },
            JSON10,
        )
        self.items[self.applicant_id] = answer(
            {
                "Item": {
                    "applicant_id": {"S": self.applicant_id},
                    "card_number": {"S": "5" + "0" * 15},
                    "wave": {"N": "1"},
                    "cohort": {"S": "w1#03"},
                    "state": {"S": "ACTIVE"},
                    "granted": {"N": "1000000"},
                    "balance": {"N": str(BALANCE)},
                    "purchased": {"N": str(PRICE)},
                    "refunded": {"N": "0"},
                    "returned": {"N": "0"},
                    "accepted_at": {"S": _stamp(now)},
                    "first_purchase_deadline": {"S": _stamp(now + dt.timedelta(days=30))},
                    "live_purchases": {"N": "1"},
                    "first_purchase_at": {"S": _stamp(now)},
                    "updated_at": {"S": _stamp(now)},
                }
            },
            JSON10,
        )

    def add_purchase(self, purchase_id: str, code_hash: str) -> None:
        """A purchase of the member from the partner, awaiting its code (sent), and the same once confirmed."""
        from devstack.hooks import JSON10, answer

        now = dt.datetime.now(dt.UTC)
        awaiting = {
            "purchase_id": {"S": purchase_id},
            "applicant_id": {"S": self.applicant_id},
            "partner_id": {"S": PARTNER},
            "purchase_ref": {"S": f"order-{purchase_id[:12]}"},
            "course_id": {"S": "excel-101"},
            "course_title": {"S": "Microsoft Excel untuk Pemula"},
            "price": {"N": str(PRICE)},
            "status": {"S": "AWAITING_CONFIRMATION"},
            "created_at": {"S": _stamp(now)},
            "code_hash": {"S": code_hash},
            "code_sent_at": {"S": _stamp(now)},
            "code_expires_at": {"S": _stamp(now + dt.timedelta(hours=1))},
            "code_tries": {"N": "0"},
        }
        tried = {**awaiting, "code_tries": {"N": "1"}}
        confirmed = {
            **tried,
            "status": {"S": "CONFIRMED"},
            "voucher_code": {"S": "A" * 16},
            "balance_after": {"N": str(BALANCE - PRICE)},
            "confirmed_at": {"S": _stamp(now)},
        }
        self.items[purchase_id] = answer({"Item": awaiting}, JSON10)
        self.tried[purchase_id] = answer({"Attributes": tried}, JSON10)
        self.confirmed[purchase_id] = answer({"Item": confirmed}, JSON10)

    def _key(self, request: Any) -> str:
        asked = json.loads(request.body)
        attribute = self.tables.get(asked.get("TableName"), "")
        return str(asked["Key"].get(attribute, {}).get("S", ""))

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        from devstack.hooks import respond, target

        called = target(request)
        if not self.enabled or called not in ("DynamoDB_20120810.GetItem", "DynamoDB_20120810.UpdateItem"):
            return super().__call__(request, **kwargs)
        began = time.process_time()
        self.calls[called] += 1
        if called in self.capture:
            self.captured.setdefault(called, []).append(request.body)
        key = self._key(request)
        if called == "DynamoDB_20120810.UpdateItem":
            given = self.tried.get(key, self.answers[called])
        else:
            self.reads[key] += 1
            again = self.reads[key] > 1 and key in self.confirmed
            given = self.confirmed[key] if again else self.items.get(key, self.answers[called])
        answered = respond(request, given)
        self.stub_seconds += time.process_time() - began
        return answered


def partner_event(purchase_id: str, code: str) -> dict[str, Any]:
    """The API Gateway proxy event of one confirmation, signed by the partner now."""
    from functions.domain.partners import sign

    body = json.dumps({"code": code})
    path = f"/partners/purchases/{purchase_id}/confirm"
    stamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "host": "api.example.test",
        "x-partner-id": PARTNER,
        "x-timestamp": stamp,
        "x-signature": sign(SECRET, stamp, "POST", path, body.encode()),
    }
    event = proxy_event(body)
    event.update(
        resource=RESOURCE,
        path=path,
        headers=headers,
        multiValueHeaders={name: [value] for name, value in headers.items()},
        pathParameters={"purchase_id": purchase_id},
    )
    event["requestContext"].update(resourcePath=RESOURCE, path=f"/api{path}")
    return event


class Side:
    """One app, its purchases prepared in the answerer (keyed by its own code hash) and confirmed by proxy events."""

    def __init__(self, name: str, app: Any, code_hash: Callable[[str, str], str], stub: Purchases) -> None:
        from tests.helpers import FakeLambdaContext

        self.name, self.app, self.code_hash, self.stub = name, app, code_hash, stub
        self.context = FakeLambdaContext()

    def events(self, count: int) -> list[dict[str, Any]]:
        """`count` confirmations of new purchases, each with its own code (and so its own signature)."""
        prepared = []
        for _ in range(count):
            purchase_id = uuid.uuid4().hex
            code = f"{uuid.uuid4().int % 10**6:06d}"
            self.stub.add_purchase(purchase_id, self.code_hash(purchase_id, code))
            prepared.append(partner_event(purchase_id, code))
        return prepared

    def run(self, count: int) -> Callable[[], None]:
        events = self.events(count)
        app, context = self.app, self.context

        def confirming() -> None:
            for event in events:
                answer = app(event, context)
                if answer["statusCode"] != 200 or '"CONFIRMED"' not in answer["body"]:
                    raise RuntimeError(f"{self.name}: {answer['statusCode']} {answer['body']}")

        return confirming


def measure(sides: list[Side], stub: Purchases, rounds: int, requests: int) -> dict[str, list[float]]:
    """CPU µs/request for each side per round, the answerer's own time taken out; the sides take turns going first.
    CPU time of this process, not wall time: the machine is shared, and a busy neighbour stretches wall time."""
    results: dict[str, list[float]] = {side.name: [] for side in sides}
    for round_number in range(rounds):
        shift = round_number % len(sides)
        for side in sides[shift:] + sides[:shift]:
            run = side.run(requests)
            stub.stub_seconds = 0.0
            with quiet():
                began = time.process_time()
                run()
                elapsed = time.process_time() - began - stub.stub_seconds
            results[side.name].append(elapsed / requests * 1e6)
    return results


def calls_table(sides: list[Side], stub: Purchases, count: int) -> str:
    """The AWS calls one confirmation makes on each side: how many, and their mean request size."""
    seen: dict[str, dict[str, tuple[float, float]]] = {}
    for side in sides:
        stub.calls.clear()
        stub.captured.clear()
        stub.capture = set(stub.answers)
        with quiet():
            side.run(count)()
        stub.capture = set()
        seen[side.name] = {
            called: (made / count, sum(map(len, stub.captured.get(called, []))) / made)
            for called, made in stub.calls.items()
        }
    names = [side.name for side in sides]
    rows = []
    for called in sorted({c for per_side in seen.values() for c in per_side}):
        row = [called.split(".", 1)[1]]
        for name in names:
            made, size = seen[name].get(called, (0.0, 0.0))
            row.append(f"{made:g} x {size:.0f} B")
        rows.append(row)
    return table(["call", *(f"{name}: per request x mean request size" for name in names)], rows)


def store_steps(stub: Purchases, count: int) -> list[list[str]]:
    """Each of our store's operations timed on its own, no profiler, against the very request it sends (captured)
    sent again through the bare app's boto3 client: the gap is pynamodb's model and expression layer (CPU µs per
    call, median of 5 interleaved passes, the answerer's own time left in: it is the same on both sides)."""
    import bare_purchase_app
    from botocore import xform_name

    from functions.observability import logger, metrics
    from functions.store import members, partners
    from functions.store import purchases as store

    purchase_id = uuid.uuid4().hex
    stub.add_purchase(purchase_id, "0" * 64)
    purchase = store.find(purchase_id)
    member = members.find(stub.applicant_id)
    if purchase is None or member is None:
        raise RuntimeError("the answerer gave no purchase or member")
    now = dt.datetime.now(dt.UTC)

    def observability() -> None:
        logger.info("purchase confirmed", extra={"purchase_id": purchase_id})
        metrics.add_metric(name="PurchaseConfirmed", unit="Count", value=1)
        metrics.flush_metrics()

    ours: list[tuple[str, Callable[[], Any]]] = [
        ("partners.find", lambda: partners.find(PARTNER)),
        ("partners.first_sighting", lambda: partners.first_sighting(uuid.uuid4().hex, now)),
        ("purchases.find", lambda: store.find(purchase_id)),
        ("purchases.count_code_try", lambda: store.count_code_try(purchase_id)),
        ("members.find", lambda: members.find(stub.applicant_id)),
        ("purchases.confirm", lambda: store.confirm(purchase, member, "A" * 16, now)),
    ]
    steps: list[tuple[str, Callable[[], Any]]] = [("Logger.info + add_metric + flush_metrics", observability)]
    for label, operation in ours:
        stub.capture = set(stub.answers)
        stub.captured.clear()
        operation()
        stub.capture = set()
        ((called, (body,)),) = stub.captured.items()
        request = json.loads(body)
        request.pop("ClientRequestToken", None)  # boto3 makes a new one, as pynamodb does
        method = getattr(bare_purchase_app.dynamodb, xform_name(called.split(".", 1)[1]))
        operation_name = called.split(".", 1)[1]
        steps += [
            (f"{label} ({operation_name})", operation),
            (f"  the same {operation_name}, bare client ({label})", functools.partial(method, **request)),
        ]
    passes: dict[str, list[float]] = {label: [] for label, _ in steps}
    with quiet():
        for _ in range(5):  # the steps take turns, so a slow spell of the machine is shared out
            for label, step in steps:
                began = time.process_time()
                for _ in range(count):
                    step()
                passes[label].append(time.process_time() - began)
    return [[label, f"{median(passes[label]) / count * 1e6:.0f}"] for label, _ in steps]


# Where our route's time goes: functions whose cumulative time is reported per request (file suffix, name).
COMPONENTS = [
    WHOLE_ROUTE,
    ("partner_auth.authenticate", "functions/services/partner_auth.py", "authenticate"),
    ("  of which partners.find (pynamodb GetItem)", "functions/store/partners.py", "find"),
    ("  of which partners.first_sighting (pynamodb PutItem)", "functions/store/partners.py", "first_sighting"),
    ("purchases.confirm (service)", "functions/services/purchases.py", "confirm"),
    ("  of which parse_body (pydantic)", "functions/domain/requests.py", "parse_body"),
    ("  of which lookup_hash (the code's HMAC)", "functions/adapters/personal_data.py", "lookup_hash"),
    ("  of which store.find x2 (pynamodb GetItem)", "functions/store/purchases.py", "find"),
    ("  of which count_code_try (pynamodb UpdateItem)", "functions/store/purchases.py", "count_code_try"),
    ("  of which members.find (pynamodb GetItem)", "functions/store/members.py", "find"),
    ("  of which store.confirm (pynamodb TransactWriteItems)", "functions/store/purchases.py", "confirm"),
    ("settings() (all calls)", "functions/settings.py", "settings"),
    ("bind() (all calls)", "functions/store/models.py", "bind"),
    *OBSERVABILITY_COMPONENTS,
    AWS_CALLS,
]
BARE_COMPONENTS = [WHOLE_ROUTE, AWS_CALLS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=300, help="confirmations per side per round")
    parser.add_argument("--profile", type=int, default=2000, help="confirmations profiled per side (0: no profile)")
    parser.add_argument("--steps", type=int, default=300, help="calls per step in the step-by-step timing")
    args = parser.parse_args()

    answer_aws_in_process()  # template.yaml's environment, before the settings are first read
    stub = Purchases()
    install_canned_aws(stub)

    import bare_purchase_app

    from functions.app import app
    from functions.services import purchases
    from tests.helpers import reset_app_state

    reset_app_state()
    ours = Side("ours", app, purchases._code_hash, stub)
    bare = Side("bare", bare_purchase_app.app, bare_purchase_app.code_hash, stub)
    sides = [ours, bare]

    # Warm-up: the cold start's KMS Decrypt of the partner's secret and the keyring, clients, caches, lazy imports.
    with quiet():
        for side in sides:
            side.run(200)()

    measured = measure(sides, stub, args.rounds, args.requests)
    ratios = [o / b for o, b in zip(measured["ours"], measured["bare"], strict=True)]
    print(
        f"POST /partners/purchases/{{id}}/confirm, in-process (proxy event -> app(event, ctx)), AWS answered from "
        f"memory at botocore's before-send; {args.rounds} rounds x {args.requests} confirmations per side, sides "
        f"taking turns; CPU time of this process, medians, the answerer's own time taken out"
    )
    print(
        table(
            ["ours CPU us/req", "bare CPU us/req", "ratio", "ratio range", "target", "met?"],
            [
                [
                    f"{median(measured['ours']):.0f}",
                    f"{median(measured['bare']):.0f}",
                    f"{median(ratios):.2f}x",
                    f"{min(ratios):.2f}-{max(ratios):.2f}",
                    f"<= {TARGET_RATIO}x",
                    "yes" if median(ratios) <= TARGET_RATIO else "NO",
                ]
            ],
        )
    )
    print("\nAWS calls per warm confirmation (100 each side):")
    print(calls_table(sides, stub, 100))
    print(f"\nOur store's operations timed on their own, no profiler ({args.steps} calls each, median of 5):")
    print(table(["step", "CPU us/call"], store_steps(stub, args.steps)))

    if args.profile:
        n = args.profile
        ours_stats = profile_call(ours.run(n))
        bare_stats = profile_call(bare.run(n))
        print_route_profile(ours_stats, bare_stats, (COMPONENTS, BARE_COMPONENTS), n, "confirmation")


if __name__ == "__main__":
    main()
