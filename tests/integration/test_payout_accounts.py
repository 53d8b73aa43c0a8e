"""Payout accounts on moto, checked by the real local payment provider: a member links an account (202 PENDING),
is told by email and SMS with only its last 4 digits, and the capped consumer's inquiry makes it VERIFIED or
REJECTED with the brief's reason; a rejected account fixed is verified; a change while a payment is in flight is
409; of two quick changes only the last one's verdict counts; the provider down leaves the check to be retried;
no account number reaches a log line or a notice."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from devstack.payment_provider import ProviderServer, write_csv
from devstack.registry import RegistryServer
from functions.adapters import personal_data
from functions.adapters.purposes import Purpose
from functions.domain.incentives import PayoutAccountStatus
from functions.domain.lifecycle import FunnelStage
from functions.domain.membership import MembershipReason
from functions.domain.payments import AccountRejection
from functions.payouts import payout_check_consumer
from functions.settings import settings
from functions.store import applicants, funnel, members, revocations
from functions.store import payout_accounts as payout_store
from functions.store.models import MemberRecord
from tests.helpers import FakeLambdaContext, sqs_event
from tests.integration.conftest import queue_messages, run_consumers
from tests.integration.test_payment_provider import control
from tests.integration.test_waves import JSON, client, drawn, fresh_client, statuses, tick

__all__ = ["client", "fresh_client"]  # the fixtures, shared with test_waves


def accepted(
    client: Any, registry_service: RegistryServer, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Wave 1 drawn and published: the registration answers (ids and tokens) of the accepted, and of the others."""
    answers, wave = drawn(client, registry_service, 6, seed=seed)
    tick(dt.datetime.fromisoformat(wave["publish_at"]))
    run_consumers("publish_consumer", "notification_consumer")
    outcome = statuses(answers)
    chosen = [a for a in answers if outcome[a["applicant_id"]][0] == "ACCEPTED"]
    return chosen, [a for a in answers if a not in chosen]


def holder(applicant_id: str) -> dict[str, Any]:
    applicant = applicants.find(applicant_id)
    assert applicant is not None
    return personal_data.open_json(applicant.personal_data, applicant_id, Purpose.APPLICANT_DATA)


def account(applicant_id: str, provider: str, number: str, **change: Any) -> dict[str, Any]:
    """A row of the provider's CSV: the member's own account, KYC-verified and active, unless `change` says."""
    person = holder(applicant_id)
    row = {"provider": provider, "account_number": number, "holder_name": person["full_name"], "nik": person["nik"]}
    return row | {"kyc": True, "status": "ACTIVE"} | change


def bearer(member: dict[str, Any]) -> dict[str, str]:
    return {**JSON, "Authorization": f"Bearer {member['access_token']}"}


def code_for(client: Any, member: dict[str, Any]) -> str:
    """Asks for the one-time code a change needs and reads it as the member would, from its email."""
    asked = client.http.post(f"/applicants/{member['applicant_id']}/payout-account/code", headers=bearer(member))
    assert asked.status_code == 202, asked.body
    run_consumers("email_code_consumer")
    sent = [m for m in outbox("payout_account_code") if m["applicant_id"] == member["applicant_id"]]
    assert sorted(m["channel"] for m in sent[-2:]) == ["email", "sms"]  # to the verified email and phone
    return str(sent[-1]["code"])


def put(client: Any, member: dict[str, Any], provider: str, number: str, code: str | None = None) -> Any:
    """Changes the account with a fresh code (asked for here unless `code` is given)."""
    body = {"provider": provider, "account_number": number, "code": code or code_for(client, member)}
    return client.http.put(
        f"/applicants/{member['applicant_id']}/payout-account", headers=bearer(member), body=json.dumps(body)
    )


def checked() -> None:
    run_consumers("payout_check_consumer", "notification_consumer")


def verdict(applicant_id: str) -> tuple[PayoutAccountStatus, AccountRejection | None]:
    member = payout_store.find(applicant_id)
    assert member is not None and member.account is not None
    return member.account.status, member.account.reason


def outbox(kind: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in Path(settings().outbox_path).read_text().splitlines()]
    return [line for line in lines if line["kind"] == kind]


@pytest.fixture
def provider(payment_provider_service: ProviderServer) -> ProviderServer:
    return payment_provider_service


def test_accounts_are_verified_or_rejected_with_the_reason_and_the_member_is_told(
    client: Any, registry_service: RegistryServer, provider: ProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    chosen, _ = accepted(client, registry_service, seed=71)
    siti, budi, rina, joko = chosen
    someone_else = holder(budi["applicant_id"])
    rows = [
        account(siti["applicant_id"], "OVO", "081234567890"),
        account(budi["applicant_id"], "BNI", "0123456789", holder_name="Budi Orang Lain"),
        account(budi["applicant_id"], "BRI", "012301230123045"),
        account(rina["applicant_id"], "DANA", "085700001111", kyc=False),
        account(rina["applicant_id"], "GOPAY", "085700002222", status="BLOCKED"),
        account(joko["applicant_id"], "LINKAJA", "081300003333", nik=someone_else["nik"]),
    ]
    write_csv(provider.stand_in.csv_path, rows)

    # Given each member links an account
    cases = [
        (siti, "ovo", "081234567890", (PayoutAccountStatus.VERIFIED, None)),  # the provider's code in any case
        (budi, "BNI", "0123456789", (PayoutAccountStatus.REJECTED, AccountRejection.NAME_MISMATCH)),
        (rina, "DANA", "085700001111", (PayoutAccountStatus.REJECTED, AccountRejection.NOT_KYC)),
        (joko, "LINKAJA", "081300003333", (PayoutAccountStatus.REJECTED, AccountRejection.NIK_MISMATCH)),
    ]
    for member, name, number, _ in cases:
        answer = put(client, member, name, number)
        assert answer.status_code == 202, answer.json_body
        assert answer.json_body == {
            "provider": name.upper(),
            "last4": number[-4:],
            "status": "PENDING",
            "reason": None,
        }
        assert verdict(member["applicant_id"]) == (PayoutAccountStatus.PENDING, None)

    # When the capped consumer checks them: each verdict is the provider's
    checked()
    for member, _, _, expected in cases:
        assert verdict(member["applicant_id"]) == expected

    # Then a rejected account fixed is verified; a blocked one and one the provider does not know are rejected
    assert put(client, budi, "BRI", "012301230123045").status_code == 202
    assert put(client, rina, "GOPAY", "085700002222").status_code == 202
    assert put(client, joko, "OVO", "089999999999").status_code == 202
    checked()
    assert verdict(budi["applicant_id"]) == (PayoutAccountStatus.VERIFIED, None)
    assert verdict(rina["applicant_id"]) == (PayoutAccountStatus.REJECTED, AccountRejection.BLOCKED)
    assert verdict(joko["applicant_id"]) == (PayoutAccountStatus.REJECTED, AccountRejection.NOT_FOUND)
    # The member sees it in its own view, with the last 4 digits only
    shown = client.http.get(
        f"/applicants/{budi['applicant_id']}", headers={"Authorization": f"Bearer {budi['access_token']}"}
    ).json_body
    assert shown["membership"]["payout_account"] == {
        "provider": "BRI",
        "last4": "3045",
        "status": "VERIFIED",
        "reason": None,
    }
    verified = payout_store.find(budi["applicant_id"])
    assert verified is not None and verified.account is not None and verified.account.verified_at is not None

    # Each change told by email and SMS, each verdict by email, with the last 4 digits and never the number
    changes = outbox("payout_account_changed")
    assert sorted((m["applicant_id"], m["channel"]) for m in changes) == sorted(
        (m["applicant_id"], channel) for m in [*chosen, budi, rina, joko] for channel in ("email", "sms")
    )
    told = {(m["applicant_id"], m["last4"], m["status"], m["reason"]) for m in outbox("payout_account_checked")}
    assert (siti["applicant_id"], "7890", "VERIFIED", None) in told
    assert (budi["applicant_id"], "6789", "REJECTED", "NAME_MISMATCH") in told
    assert (budi["applicant_id"], "3045", "VERIFIED", None) in told
    numbers = [row["account_number"] for row in rows] + ["089999999999"]
    sent = json.dumps(changes + outbox("payout_account_checked"))
    assert not any(number in sent for number in numbers)
    # The funnel counts each member's first verified account once, whatever changes after it
    assert put(client, siti, "OVO", "081234567890").status_code == 202
    checked()
    assert verdict(siti["applicant_id"]) == (PayoutAccountStatus.VERIFIED, None)
    assert funnel.funnel_totals([FunnelStage.ACCOUNT_VERIFIED]) == {FunnelStage.ACCOUNT_VERIFIED: 2}
    # ... nor in any log line, nor in the member's record but sealed
    logged = capsys.readouterr()
    assert not any(number in logged.out + logged.err for number in numbers)
    record = MemberRecord.get(siti["applicant_id"])
    assert record.payout_account_last4 == "7890" and "081234567890" not in json.dumps(record.to_simple_dict())


def test_a_change_while_a_payment_is_in_flight_is_refused_and_so_are_non_members(
    client: Any, registry_service: RegistryServer, provider: ProviderServer
) -> None:
    chosen, others = accepted(client, registry_service, seed=72)
    paid, revoked = chosen[0], chosen[1]
    write_csv(provider.stand_in.csv_path, [account(paid["applicant_id"], "OVO", "081234567890")])
    assert put(client, paid, "OVO", "081234567890").status_code == 202
    checked()

    # Given a code asked for, then a payment in flight to the verified account
    code = code_for(client, paid)
    MemberRecord(applicant_id=paid["applicant_id"]).update(
        actions=[MemberRecord.payment_in_flight.set(f"{paid['applicant_id']}-incentive-1")]
    )
    # When the member (or whoever holds its token) changes the account: refused, nothing queued, nobody told; nor
    # is a new code sent meanwhile
    refused = put(client, paid, "DANA", "085700001111", code)
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "PAYMENT_IN_FLIGHT"
    asked = client.http.post(f"/applicants/{paid['applicant_id']}/payout-account/code", headers=bearer(paid))
    assert asked.status_code == 409 and asked.json_body["error"]["code"] == "PAYMENT_IN_FLIGHT"
    assert verdict(paid["applicant_id"]) == (PayoutAccountStatus.VERIFIED, None)
    assert queue_messages(settings().payout_checks_queue_url) == []
    assert len(outbox("payout_account_changed")) == 2  # the first link's email and SMS only
    # Once the payment is done, the change goes through
    MemberRecord(applicant_id=paid["applicant_id"]).update(actions=[MemberRecord.payment_in_flight.remove()])
    assert put(client, paid, "DANA", "085700001111").status_code == 202

    # A revoked membership has no account to change; an applicant that is no member has none at all
    member = members.find(revoked["applicant_id"])
    assert member is not None
    assert revocations.revoke(member, MembershipReason.FRAUD, member.accepted_at, overdue_only=False)
    answer = put(client, revoked, "OVO", "081234567890", "000000")
    assert answer.status_code == 409 and answer.json_body["error"]["code"] == "MEMBERSHIP_NOT_ACTIVE"
    asked = client.http.post(f"/applicants/{revoked['applicant_id']}/payout-account/code", headers=bearer(revoked))
    assert asked.status_code == 409 and asked.json_body["error"]["code"] == "MEMBERSHIP_NOT_ACTIVE"
    answer = put(client, others[0], "OVO", "081234567890", "000000")
    assert answer.status_code == 404 and answer.json_body["error"]["code"] == "NOT_A_MEMBER"


def test_of_two_quick_changes_only_the_last_verdict_counts_and_an_outage_defers_the_check(
    client: Any, registry_service: RegistryServer, provider: ProviderServer
) -> None:
    (member, *_), _ = accepted(client, registry_service, seed=73)
    applicant_id = member["applicant_id"]
    write_csv(
        provider.stand_in.csv_path,
        [account(applicant_id, "OVO", "081234567890"), account(applicant_id, "DANA", "085700001111", kyc=False)],
    )

    # Given two changes before either is checked: a good account, then one that is not KYC-verified
    assert put(client, member, "OVO", "081234567890").status_code == 202
    assert put(client, member, "DANA", "085700001111").status_code == 202
    # When both checks run: the first finds its account changed and records nothing
    checked()
    assert verdict(applicant_id) == (PayoutAccountStatus.REJECTED, AccountRejection.NOT_KYC)
    told = outbox("payout_account_checked")
    assert [(m["last4"], m["status"]) for m in told if m["channel"] == "email"] == [("1111", "REJECTED")]

    # Given the provider down when the fixed account is checked
    assert put(client, member, "OVO", "081234567890").status_code == 202
    (check,) = queue_messages(settings().payout_checks_queue_url)
    control(provider, mode="down")
    # Then the check fails (SQS brings it back) and records no verdict
    with pytest.raises(BatchProcessingError):
        payout_check_consumer(sqs_event(check["Body"]), FakeLambdaContext())
    assert verdict(applicant_id) == (PayoutAccountStatus.PENDING, None)
    # And once the provider is back, the redelivered check decides
    control(provider, mode="up")
    assert payout_check_consumer(sqs_event(check["Body"]), FakeLambdaContext()) == {"batchItemFailures": []}
    assert verdict(applicant_id) == (PayoutAccountStatus.VERIFIED, None)


def test_a_change_needs_a_fresh_code_sent_to_the_members_email_and_phone(
    client: Any, registry_service: RegistryServer, provider: ProviderServer
) -> None:
    (member, *_), _ = accepted(client, registry_service, seed=74)
    applicant_id = member["applicant_id"]
    write_csv(provider.stand_in.csv_path, [account(applicant_id, "OVO", "081234567890")])

    def error(answer: Any) -> tuple[int, str, str | None]:
        found = answer.json_body["error"]
        return answer.status_code, found["code"], found.get("field")

    # The access token alone changes nothing: no code, or a code never asked for
    body = {"provider": "OVO", "account_number": "081234567890"}
    answer = client.http.put(
        f"/applicants/{applicant_id}/payout-account", headers=bearer(member), body=json.dumps(body)
    )
    assert error(answer) == (400, "MISSING_FIELD", "code")
    assert error(put(client, member, "OVO", "081234567890", "123456")) == (409, "CODE_NOT_REQUESTED", "code")
    assert error(put(client, member, "OVO", "081234567890", "12345")) == (400, "INVALID_CODE", "code")

    # A wrong code is counted before it is compared: five wrong tries, then even the right code is refused
    code = code_for(client, member)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(settings().payout_account_code_max_wrong_tries):
        assert error(put(client, member, "OVO", "081234567890", wrong)) == (400, "WRONG_CODE", "code")
    locked = put(client, member, "OVO", "081234567890", code)
    assert error(locked) == (429, "CODE_LOCKED", "code") and int(locked.headers["Retry-After"]) > 0
    assert verdict_or_none(applicant_id) is None  # nothing changed

    # A fresh code changes the account once; used again, it changes nothing
    code = code_for(client, member)
    assert put(client, member, "OVO", "081234567890", code).status_code == 202
    assert error(put(client, member, "DANA", "085700001111", code)) == (409, "CODE_NOT_REQUESTED", "code")
    assert verdict(applicant_id) == (PayoutAccountStatus.PENDING, None)

    # And the member's phone cannot be flooded: a few codes an hour (two asked above, one more allowed)
    for _ in range(settings().payout_account_codes_per_hour - 2):
        code_for(client, member)
    asked = client.http.post(f"/applicants/{applicant_id}/payout-account/code", headers=bearer(member))
    assert asked.status_code == 429 and asked.json_body["error"]["code"] == "TOO_MANY_CODES"
    assert int(asked.headers["Retry-After"]) > 0
    # The codes never reach a log line or the stored record in the clear
    record = MemberRecord.get(applicant_id)
    assert record.payout_code_sealed is None or code not in record.payout_code_sealed


def verdict_or_none(applicant_id: str) -> PayoutAccountStatus | None:
    member = payout_store.find(applicant_id)
    assert member is not None
    return None if member.account is None else member.account.status
